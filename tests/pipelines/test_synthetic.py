"""Tests of the Appendix A synthetic generator (pipelines/synthetic.py)."""

import numpy as np
import pandas as pd
import pytest

from funnel import cli
from funnel import config as config_lib
from funnel import schema
from pipelines import synthetic

TINY = dict(users=60, items=40, clusters=4, length=12, seed=3)


def _transition_counts(paths: np.ndarray, num_clusters: int) -> np.ndarray:
    counts = np.zeros((num_clusters, num_clusters))
    np.add.at(counts, (paths[:, :-1].ravel(), paths[:, 1:].ravel()), 1)
    return counts


# ------------------------------------------------------------------ eq. 12
@pytest.mark.parametrize("interests,num_clusters", [
    ([0, 2], 4), ([1], 3), ([0, 1, 2], 3), ([0], 1), ([3, 5, 7], 10)])
def test_transition_matrix_rows_sum_to_one(interests, num_clusters):
    matrix = synthetic.transition_matrix(interests, num_clusters, 0.6, 0.3, 0.1)
    assert matrix.shape == (num_clusters, num_clusters)
    assert (matrix >= 0).all()
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)


def test_transition_matrix_matches_eq12_by_hand():
    # C = 4, Y_u = {0, 2}: from an interest, stay 0.6, switch 0.3 / 1, explore 0.1 / 2;
    # from a non-interest, stay 0.1, return 0.9 / 2, never to the other non-interest.
    expected = np.array([
        [0.60, 0.05, 0.30, 0.05],
        [0.45, 0.10, 0.45, 0.00],
        [0.30, 0.05, 0.60, 0.05],
        [0.45, 0.00, 0.45, 0.10],
    ])
    np.testing.assert_allclose(synthetic.transition_matrix([0, 2], 4, 0.6, 0.3, 0.1), expected)


def test_transition_matrix_edge_cases_fold_undefined_terms():
    # |Y_u| = 1: gamma / (|Y_u| - 1) is undefined, the volatility is added to staying.
    single = synthetic.transition_matrix([1], 3, 0.6, 0.3, 0.1)
    np.testing.assert_allclose(single[1], [0.05, 0.9, 0.05])
    np.testing.assert_allclose(single[0], [0.1, 0.9, 0.0])
    # |Y_u| = C: no cluster to explore, the exploration mass goes to switching.
    full = synthetic.transition_matrix([0, 1, 2], 3, 0.6, 0.3, 0.1)
    np.testing.assert_allclose(full[0], [0.6, 0.2, 0.2])
    np.testing.assert_allclose(synthetic.transition_matrix([0], 1, 0.6, 0.3, 0.1), [[1.0]])


@pytest.mark.parametrize("interests,num_clusters", [([0, 2], 4), ([1], 3), ([0, 1, 2], 3)])
def test_vectorised_chains_follow_eq12(interests, num_clusters):
    users, length = 4000, 30
    rng = np.random.default_rng(0)
    rows = np.tile(np.array(interests), (users, 1))
    paths = synthetic.sample_cluster_paths(rng, rows, num_clusters, length, 0.6, 0.3, 0.1)
    assert set(paths[:, 0]) <= set(interests)  # chains start inside Y_u
    counts = _transition_counts(paths, num_clusters)
    visited = counts.sum(axis=1) > 2000
    empirical = counts[visited] / counts[visited].sum(axis=1, keepdims=True)
    expected = synthetic.transition_matrix(interests, num_clusters, 0.6, 0.3, 0.1)[visited]
    np.testing.assert_allclose(empirical, expected, atol=0.02)


def test_exploring_leaves_for_non_interest_clusters_only():
    # alpha = gamma = 0: every step from an interest explores outside Y_u.
    rng = np.random.default_rng(1)
    rows = np.tile(np.array([1, 4]), (500, 1))
    paths = synthetic.sample_cluster_paths(rng, rows, 6, 2, 0.0, 0.0, 0.1)
    assert set(paths[:, 1]) == {0, 2, 3, 5}


# ------------------------------------------------------------- power laws
def test_interest_sets_follow_power_law_and_skew():
    # One interest per user: its distribution is pi_c ∝ c^-2, C = 4.
    pi = np.array([1, 1 / 4, 1 / 9, 1 / 16])
    pi /= pi.sum()
    rng = np.random.default_rng(2)
    interests, first = synthetic.sample_interests(rng, 20000, synthetic.power_law(4, 2.0), 1)
    np.testing.assert_array_equal(interests[:, 0], first)
    np.testing.assert_allclose(np.bincount(first, minlength=4) / 20000, pi, atol=0.015)


def test_interest_skew_two_concentrates_cluster_usage():
    def top_cluster_share(skew):
        data = synthetic.simulate(synthetic.GeneratorConfig(
            users=2000, items=100, clusters=10, length=10, interest_skew=skew, seed=5))
        return np.bincount(data.paths.ravel(), minlength=10).max() / data.paths.size

    flat, skewed = top_cluster_share(0.0), top_cluster_share(2.0)
    assert abs(flat - 0.1) < 0.02  # uniform pi: every cluster about 1/C of the clicks
    assert skewed > 0.2 and skewed > 2 * flat


def test_interest_sets_are_distinct_and_sorted_then_filled():
    data = synthetic.simulate(synthetic.GeneratorConfig(**TINY))
    assert data.interests.shape == (60, 3)
    for row in data.interests:
        distinct = row[row != synthetic.NO_INTEREST]
        assert (np.diff(distinct) > 0).all() and (row[len(distinct):] == synthetic.NO_INTEREST).all()


def test_interests_are_drawn_with_replacement():
    # C = 4, pi ∝ c^-2, three draws: P(|Y_u| = 1) = sum_c pi_c^3; P(cluster 0 in Y_u) = 1 - (1 - pi_0)^3
    pi = synthetic.power_law(4, 2.0)
    interests, first = synthetic.sample_interests(np.random.default_rng(8), 40000, pi, 3)
    sizes = np.sum(interests != synthetic.NO_INTEREST, axis=1)
    assert np.mean(sizes == 1) == pytest.approx(np.sum(pi ** 3), abs=0.01)          # 0.44
    assert np.mean((interests == 0).any(axis=1)) == pytest.approx(1 - (1 - pi[0]) ** 3, abs=0.01)
    np.testing.assert_allclose(np.bincount(first, minlength=4) / 40000, pi, atol=0.01)


def test_chains_of_users_with_fewer_interests_follow_their_own_eq12():
    rng = np.random.default_rng(9)
    rows = np.tile(np.array([1, synthetic.NO_INTEREST, synthetic.NO_INTEREST]), (4000, 1))
    paths = synthetic.sample_cluster_paths(rng, rows, 3, 30, 0.6, 0.3, 0.1)
    assert set(paths[:, 0]) == {1}
    counts = _transition_counts(paths, 3)
    empirical = counts / counts.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(empirical, synthetic.transition_matrix([1], 3, 0.6, 0.3, 0.1), atol=0.02)


def test_items_within_cluster_follow_power_law():
    catalog = synthetic.ItemCatalog.build(num_items=40, num_clusters=4, item_skew=0.5)
    rng = np.random.default_rng(4)
    items = catalog.sample(rng, np.full(200_000, 2))
    assert ((items >= 20) & (items < 30)).all()  # cluster 2 holds items 20..29
    frequency = np.bincount(items - 20, minlength=10) / items.size
    np.testing.assert_allclose(frequency, synthetic.power_law(10, 0.5), atol=0.005)
    # rank 1 vs rank 4: (4 / 1) ** 0.5 = 2 times as likely
    assert frequency[0] / frequency[3] == pytest.approx(2.0, rel=0.05)


def test_items_not_divisible_by_clusters_give_remainder_to_first_clusters():
    catalog = synthetic.ItemCatalog.build(num_items=23, num_clusters=5, item_skew=0.5)
    np.testing.assert_array_equal(catalog.sizes, [5, 5, 5, 4, 4])
    np.testing.assert_array_equal(np.bincount(catalog.cluster_of), [5, 5, 5, 4, 4])
    items = catalog.sample(np.random.default_rng(0), np.repeat(np.arange(5), 2000))
    np.testing.assert_array_equal(catalog.cluster_of[items], np.repeat(np.arange(5), 2000))


# ------------------------------------------------------------ impressions
def test_request_slates_hold_the_click_and_distinct_negatives():
    rng = np.random.default_rng(6)
    clicked = rng.integers(0, 8, 30000)
    popularity = np.array([100, 50, 20, 10, 5, 2, 1, 1])  # head-heavy: many redraws
    shown, position = synthetic.sample_requests(rng, clicked, popularity, 5)
    np.testing.assert_array_equal(shown[np.arange(clicked.size), position], clicked)
    assert all(len(set(row)) == 5 for row in shown[:2000])
    # position bias P(p) ∝ 1 / (p + 1)
    expected = 1 / np.arange(1, 6)
    np.testing.assert_allclose(np.bincount(position, minlength=5) / clicked.size,
                               expected / expected.sum(), atol=0.01)


def _read(out, name):
    return pd.read_csv(out / name, dtype={schema.USER_ID: str, schema.ITEM_ID: str})


def test_impression_clicks_are_exactly_the_events(tmp_path):
    synthetic.generate(synthetic.GeneratorConfig(**TINY), tmp_path)
    events = _read(tmp_path, synthetic.EVENTS_FILE)
    impressions = _read(tmp_path, synthetic.IMPRESSIONS_FILE)
    key = [schema.USER_ID, schema.ITEM_ID, schema.TIMESTAMP]
    clicks = impressions[impressions[schema.CLICK] == 1][key]
    assert len(events) == 60 * 12
    pd.testing.assert_frame_equal(clicks.reset_index(drop=True), events[key])
    per_request = impressions.groupby(schema.REQUEST_ID)
    assert (per_request[schema.CLICK].sum() == 1).all()
    assert (per_request.size() == 5).all()
    assert (per_request[schema.ITEM_ID].nunique() == 5).all()
    assert (per_request[schema.USER_ID].nunique() == 1).all()
    assert (per_request[schema.TIMESTAMP].nunique() == 1).all()
    assert impressions[schema.CLICK].mean() == pytest.approx(0.2)


def test_timestamps_strictly_increase_per_user(tmp_path):
    synthetic.generate(synthetic.GeneratorConfig(**TINY), tmp_path)
    events = _read(tmp_path, synthetic.EVENTS_FILE)
    assert events[schema.TIMESTAMP].is_monotonic_increasing  # file is time-ordered
    gaps = events.groupby(schema.USER_ID)[schema.TIMESTAMP].diff().dropna()
    assert (gaps > 0).all()
    assert events[schema.TIMESTAMP].min() >= synthetic.GeneratorConfig().start_time


# ------------------------------------------------------ files and the CLI
def _run_cli(argv):
    return cli.main(["generate", *argv])


def test_cli_writes_every_file_with_schema_columns(tmp_path, capsys):
    out = tmp_path / "data"
    assert _run_cli(["--out", str(out), "--users", "30", "--items", "20", "--clusters", "4",
                     "--length", "5", "--interest-skew", "1.5", "--seed", "7"]) == 0
    assert "150 events" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == sorted(synthetic.FILES)
    columns = {
        synthetic.EVENTS_FILE: [schema.USER_ID, schema.ITEM_ID, schema.TIMESTAMP],
        synthetic.IMPRESSIONS_FILE: [schema.REQUEST_ID, schema.USER_ID, schema.ITEM_ID,
                                     schema.TIMESTAMP, schema.CLICK],
        synthetic.USERS_FILE: [schema.USER_ID, *schema.USER_ATTRIBUTES],
        synthetic.ITEMS_FILE: [schema.ITEM_ID, schema.ITEM_CATEGORY, schema.ITEM_AGE],
        synthetic.CLUSTERS_FILE: [schema.ITEM_ID, schema.CLUSTER],
    }
    for name, expected in columns.items():
        assert list(_read(out, name).columns) == expected, name
    items, clusters = _read(out, synthetic.ITEMS_FILE), _read(out, synthetic.CLUSTERS_FILE)
    assert len(items) == 20 and items[schema.ITEM_ID].is_unique
    assert (items[schema.ITEM_CATEGORY] == "c" + clusters[schema.CLUSTER].astype(str)).all()
    assert (clusters[schema.CLUSTER].value_counts() == 5).all()
    users = _read(out, synthetic.USERS_FILE)
    assert len(users) == 30 and users[schema.USER_AGE].between(16, 80).all()
    assert set(users[schema.USER_GENDER]) <= set(synthetic.GENDERS)
    saved = config_lib.load(synthetic.GeneratorConfig, out / synthetic.GENERATOR_FILE)
    assert saved.interest_skew == 1.5 and saved.users == 30 and saved.seed == 7


def test_same_seed_gives_identical_bytes(tmp_path):
    config = synthetic.GeneratorConfig(**TINY)
    synthetic.generate(config, tmp_path / "a")
    synthetic.generate(config, tmp_path / "b")
    synthetic.generate(config_lib.from_dict(synthetic.GeneratorConfig, {**TINY, "seed": 4}),
                       tmp_path / "c")
    for name in synthetic.FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    events = synthetic.EVENTS_FILE
    assert (tmp_path / "a" / events).read_bytes() != (tmp_path / "c" / events).read_bytes()


@pytest.mark.parametrize("override,flag", [
    ({"interest_skew": 2.5}, "--interest-skew"),
    ({"items": 3, "clusters": 4}, "--items"),
    ({"alpha": 0.8, "gamma": 0.3}, "--gamma"),
    ({"epsilon": -0.1}, "--epsilon"),
    ({"interests_per_user": 5, "clusters": 4}, "--interests-per-user"),
    ({"impressions_per_request": 41, "items": 40}, "--impressions-per-request"),
    ({"users": 0}, "--users"),
])
def test_bad_arguments_name_the_flag(override, flag):
    with pytest.raises(ValueError, match=flag):
        synthetic.GeneratorConfig(**{**TINY, **override})


def test_cli_rejects_bad_flag_before_writing(tmp_path, capsys):
    out = tmp_path / "data"
    assert _run_cli(["--out", str(out), "--interest-skew", "3"]) == 2
    err = capsys.readouterr().err
    assert "(--interest-skew): got 3.0, expected in [0, 2]" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_unknown_config_key_is_an_error():
    with pytest.raises(ValueError, match="interest_skw"):
        config_lib.from_dict(synthetic.GeneratorConfig, {"interest_skw": 1.0})
