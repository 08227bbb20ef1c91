"""Guards funnel/ranks.py: the ranks file and paired comparisons by user id."""

import numpy as np
import pytest

from funnel import ranks


def test_save_and_load_keep_users_and_store_misses_as_a_large_rank(tmp_path):
    path = tmp_path / "r.npz"
    ranks.save(path, np.array([7, 3]), retrieval=np.array([4, -1]), funnel=np.array([0, -1]))
    users, values = ranks.load(path, "retrieval")
    np.testing.assert_array_equal(users, [7, 3])
    np.testing.assert_array_equal(values, [4, ranks.MISSED])
    with pytest.raises(ValueError, match="name one"):
        ranks.load(path)
    with pytest.raises(ValueError, match="unknown ranker 'sasrec'"):
        ranks.load(path, "sasrec")


def test_compare_by_hand():
    users = np.array([1, 2, 3, 4])
    first = np.array([0, 20, 20, 20])        # HR@10 1/4
    second = np.array([0, 1, 20, 20])        # HR@10 2/4, NDCG adds 1/log2(3)
    result = ranks.compare(users, first, users, second)
    assert result["examples"] == 4
    assert result["hr@10"]["first"] == 0.25 and result["hr@10"]["second"] == 0.5
    assert result["hr@10"]["gain_percent"] == pytest.approx(100.0)
    assert result["ndcg@10"]["difference"]["mean"] == pytest.approx(1 / np.log2(3) / 4)


def test_compare_pairs_by_user_id_whatever_the_order():
    rng = np.random.default_rng(0)
    users = np.arange(200) + 2
    first, second = rng.integers(0, 30, 200), rng.integers(0, 30, 200)
    expected = ranks.compare(users, first, users, second)
    order = rng.permutation(200)
    shuffled = ranks.compare(users, first, users[order], second[order])
    assert shuffled == expected
    extra = ranks.compare(np.r_[users, 999], np.r_[first, 0], users[order], second[order])
    assert extra["unpaired"] == 1 and extra["hr@10"] == expected["hr@10"]


def test_compare_runs_averages_seeds_per_user():
    users = np.array([1, 2])
    result = ranks.compare_runs([(users, np.array([0, 50])), (users, np.array([50, 50]))],
                                [(users, np.array([0, 0])), (users[::-1], np.array([0, 0]))])
    assert result["runs"] == 2
    assert result["hr@10"]["first"] == 0.25 and result["hr@10"]["second"] == 1.0
    with pytest.raises(ValueError, match="same number"):
        ranks.compare_runs([(users, users)], [])
    with pytest.raises(ValueError, match="share no example"):
        ranks.compare(users, users, users + 10, users)
