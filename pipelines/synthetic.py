"""Synthetic multi-interest click data (Mehta et al. 2023, IDW paper, Appendix A).

``funnel generate --out DIR`` writes the synthetic dataset folder of the
contract (``events.csv``, ``impressions.csv``, ``users.csv``, ``items.csv``,
``clusters.csv``, ``generator.json``) that ``funnel preprocess --format
synthetic`` reads. The process follows Appendix A:

1. **Interests.** Each user draws ``interests_per_user`` clusters *with*
   replacement from ``pi_c ∝ c^-a`` over the ``C`` clusters (``a =
   interest_skew`` in [0, 2]; cluster ``c`` is 0-based, rank ``c + 1``), as
   the authors' generator does (``np.random.choice(..., replace=True, p=...)``);
   ``Y_u`` is the set of distinct draws, so a skewed ``pi`` gives many users
   fewer, head-heavy interests.
2. **Cluster sequence.** A per-user Markov chain over clusters with the
   transition matrix of eq. 12 (``alpha``, ``gamma``, ``epsilon``), started
   uniformly inside ``Y_u`` and run for ``length`` steps.
3. **Item sequence.** In cluster ``c`` the item of popularity rank ``k`` is
   drawn with ``p_k ∝ k^-b`` (``b = item_skew``); each cluster holds
   ``K = |I| / C`` items (when ``|I|`` is not a multiple of ``C`` the first
   ``|I| mod C`` clusters hold one item more).

Beyond the paper, every click becomes one impression request that shows
``impressions_per_request`` distinct items in display order: the clicked item at
a position drawn with position bias ``P(p) ∝ 1 / (p + 1)`` and negatives drawn
from the item popularity (event counts + 1), so EAIN's Skive-Above filter (drop
negatives below the last click of a request) has something to remove. Users get
gender, occupation, region and age that lean on their first-drawn interest, so
the ranking features carry some signal. Everything is vectorised over users
(the chains advance one time step for all users at once) and a single seeded
``numpy`` generator makes the files byte-identical for a given config.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from funnel import config as config_lib
from funnel import schema
from pipelines.generator_config import GeneratorConfig

logger = logging.getLogger(__name__)

EVENTS_FILE = "events.csv"
IMPRESSIONS_FILE = "impressions.csv"
USERS_FILE = "users.csv"
ITEMS_FILE = "items.csv"
CLUSTERS_FILE = "clusters.csv"
GENERATOR_FILE = "generator.json"
FILES = (EVENTS_FILE, IMPRESSIONS_FILE, USERS_FILE, ITEMS_FILE, CLUSTERS_FILE, GENERATOR_FILE)

GENDERS = ("F", "M")
OCCUPATIONS = (
    "administrator", "artist", "doctor", "educator", "engineer", "entertainment",
    "executive", "healthcare", "homemaker", "lawyer", "librarian", "marketing",
    "none", "other", "programmer", "retired", "salesman", "scientist", "student",
    "technician", "writer",
)
REGIONS = ("north", "south", "east", "west", "central")
REGION_LOYALTY = 0.5
"""Probability that a user lives in the region favoured by their first interest."""
USER_AGE_RANGE = (16, 80)
USER_AGE_SPREAD = 8.0
MEAN_ITEM_AGE_YEARS = 6.0
MAX_ITEM_AGE_YEARS = 60
NO_INTEREST = -1
"""Filler of an ``interests`` row after the user's distinct clusters."""


# ------------------------------------------------------------------ eq. 12
def effective_rates(num_interests: int, num_clusters: int, alpha: float, gamma: float):
    """Stay and switch probabilities of an interesting cluster, with eq. 12's
    undefined cases resolved.

    Eq. 12 divides by ``|Y_u| - 1`` and by ``C - |Y_u|``. With one interest
    there is no other interesting cluster to switch to, so the volatility
    ``gamma`` is added to staying (``alpha + gamma``). With every cluster
    interesting there is nowhere else to explore, so the exploration mass
    ``1 - alpha - gamma`` is added to switching (``gamma' = 1 - alpha``).
    With ``C = 1`` the chain always stays.

    Returns:
      ``(stay, switch, explore)``: total probabilities of staying, moving to
      one of the other clusters of ``Y_u`` and leaving ``Y_u``; they sum to 1.
    """
    stay, switch = alpha, gamma
    if num_interests == num_clusters:
        switch = 1.0 - alpha
    if num_interests == 1:
        stay, switch = stay + switch, 0.0
    return stay, switch, max(0.0, 1.0 - stay - switch)


def transition_matrix(interests: Sequence[int], num_clusters: int, alpha: float,
                      gamma: float, epsilon: float) -> np.ndarray:
    """Per-user cluster transition matrix ``P^(u)`` of eq. 12, shape ``[C, C]``.

    Row ``i`` is the distribution of the next cluster given cluster ``i``:
    from ``i ∈ Y_u``: ``alpha`` to stay, ``gamma / (|Y_u| - 1)`` to each other
    ``j ∈ Y_u``, ``(1 - alpha - gamma) / (C - |Y_u|)`` to each ``j ∉ Y_u``;
    from ``i ∉ Y_u``: ``epsilon`` to stay, ``(1 - epsilon) / |Y_u|`` to each
    ``j ∈ Y_u`` and 0 elsewhere. Edge cases as in :func:`effective_rates`.
    This explicit form documents and tests the sampler, which draws the same
    transitions without building matrices.
    """
    members = np.zeros(num_clusters, dtype=bool)
    interests = np.asarray(interests, dtype=np.int64)
    members[interests[interests != NO_INTEREST]] = True
    k = int(members.sum())
    stay, switch, explore = effective_rates(k, num_clusters, alpha, gamma)
    matrix = np.zeros((num_clusters, num_clusters))
    inside, outside = np.flatnonzero(members), np.flatnonzero(~members)
    if k > 1:
        matrix[np.ix_(inside, inside)] = switch / (k - 1)
    if outside.size:
        matrix[np.ix_(inside, outside)] = explore / outside.size
        matrix[np.ix_(outside, inside)] = (1.0 - epsilon) / k
        matrix[outside, outside] = epsilon
    matrix[inside, inside] = stay
    return matrix


# --------------------------------------------------------------- sampling
def power_law(n: int, exponent: float) -> np.ndarray:
    """Normalised weights ``w_r ∝ r^-exponent`` for ranks ``r = 1..n``, shape ``[n]``."""
    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return weights / weights.sum()


def sample_interests(rng: np.random.Generator, num_users: int, weights: np.ndarray,
                     k: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``k`` clusters per user *with* replacement from ``weights``; ``Y_u`` = the distinct ones.

    Returns:
      ``(interests [U, k], first [U])``: each row holds the user's distinct
      clusters sorted ascending, then ``NO_INTEREST`` (-1) in the slots left
      by repeated draws; ``first`` is the cluster drawn first (the user's
      main interest).
    """
    cdf = np.cumsum(weights)
    cdf[-1] = 1.0
    draws = sample_from(rng, cdf, (num_users, k))
    first = draws[:, 0].copy()
    ordered = np.sort(draws, axis=1)
    repeated = np.zeros_like(ordered, dtype=bool)
    repeated[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    # distinct values first (ascending), repeats pushed to the end as NO_INTEREST
    keys = np.where(repeated, np.iinfo(np.int64).max, ordered)
    interests = np.sort(keys, axis=1)
    interests[interests == np.iinfo(np.int64).max] = NO_INTEREST
    return interests, first


def sample_cluster_paths(rng: np.random.Generator, interests: np.ndarray, num_clusters: int,
                         length: int, alpha: float, gamma: float,
                         epsilon: float) -> np.ndarray:
    """Run every user's eq. 12 Markov chain for ``length`` steps, shape ``[U, T]``.

    The chains advance together, one time step for all users. The state is the
    slot of the current cluster in the user's sorted ``interests`` row
    (``-1`` outside ``Y_u``). Leaving ``Y_u`` picks the ``v``-th cluster of the
    complement uniformly: starting from ``x = v``, each sorted interest
    ``y <= x`` shifts ``x`` up by one. Users may have different ``|Y_u|``
    (:func:`effective_rates` per user).

    Args:
      interests: ``[U, k]`` sorted distinct cluster ids of each ``Y_u``, then
        ``NO_INTEREST`` fillers.
    """
    num_users, k = interests.shape
    sizes = np.sum(interests != NO_INTEREST, axis=1)
    padded = np.where(interests == NO_INTEREST, num_clusters, interests)  # never <= a cluster id
    stay, switch = np.full(num_users, alpha), np.full(num_users, gamma)
    switch = np.where(sizes == num_clusters, 1.0 - alpha, switch)
    stay, switch = np.where(sizes == 1, stay + switch, stay), np.where(sizes == 1, 0.0, switch)
    rows = np.arange(num_users)
    slot = np.floor(rng.random(num_users) * sizes).astype(np.int64)
    cluster = padded[rows, slot]
    paths = np.empty((num_users, length), dtype=np.int64)
    paths[:, 0] = cluster
    for t in range(1, length):
        u, pick = rng.random(num_users), rng.random(num_users)
        inside = slot >= 0
        # From i ∈ Y_u: stay, switch to another j ∈ Y_u, or explore j ∉ Y_u.
        switching = inside & (u >= stay) & (u < stay + switch)
        exploring = inside & (u >= stay + switch) & (sizes < num_clusters)
        other = np.floor(pick * np.maximum(sizes - 1, 1)).astype(np.int64)
        other += other >= slot
        away = np.floor(pick * np.maximum(num_clusters - sizes, 1)).astype(np.int64)
        for j in range(k):
            away += padded[:, j] <= away
        # From i ∉ Y_u: stay with epsilon, else a uniform j ∈ Y_u.
        returning = ~inside & (u >= epsilon)
        back = np.floor(pick * sizes).astype(np.int64)

        slot = np.where(switching, other, slot)
        slot = np.where(returning, back, slot)
        slot = np.where(exploring, -1, slot)
        cluster = np.where(exploring, away, cluster)
        cluster = np.where(switching | returning, padded[rows, np.maximum(slot, 0)], cluster)
        paths[:, t] = cluster
    return paths


@dataclasses.dataclass(frozen=True)
class ItemCatalog:
    """Items grouped by cluster: cluster ``c`` holds the contiguous item ids
    ``offsets[c] .. offsets[c] + sizes[c] - 1``, in popularity-rank order."""

    sizes: np.ndarray  # [C]
    offsets: np.ndarray  # [C]
    cluster_of: np.ndarray  # [I]
    within_cdf: np.ndarray  # [I] cumulative p_k inside each item's cluster

    @classmethod
    def build(cls, num_items: int, num_clusters: int, item_skew: float) -> "ItemCatalog":
        sizes = np.full(num_clusters, num_items // num_clusters, dtype=np.int64)
        sizes[: num_items % num_clusters] += 1
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        cdfs = []
        for size in sizes:  # C iterations, not a hot path
            cdf = np.cumsum(power_law(int(size), item_skew))
            cdf[-1] = 1.0
            cdfs.append(cdf)
        return cls(sizes, offsets, np.repeat(np.arange(num_clusters), sizes), np.concatenate(cdfs))

    def sample(self, rng: np.random.Generator, clusters: np.ndarray) -> np.ndarray:
        """Item ids drawn from ``p_k ∝ k^-b`` inside each given cluster (same shape).

        One ``searchsorted`` over all clusters: item ``i`` of cluster ``c``
        sits at key ``c + cdf_c(i)``, and a draw for cluster ``c`` searches ``c + u``.
        """
        keys = self.cluster_of + self.within_cdf
        draws = clusters + rng.random(clusters.shape)
        items = np.searchsorted(keys, draws, side="right")
        return np.minimum(items, self.offsets[clusters] + self.sizes[clusters] - 1)


def sample_from(rng: np.random.Generator, cdf: np.ndarray, shape) -> np.ndarray:
    idx = np.searchsorted(cdf, rng.random(shape) * cdf[-1], side="right")
    return np.minimum(idx, cdf.size - 1)


def sample_requests(rng: np.random.Generator, clicked: np.ndarray, popularity: np.ndarray,
                    size: int) -> tuple[np.ndarray, np.ndarray]:
    """Impression slates around each click.

    Args:
      clicked: ``[N]`` clicked item ids.
      popularity: ``[I]`` unnormalised weights of negative items.
      size: items per request.

    Returns:
      ``(shown [N, size], position [N])``: distinct items in display order with
      ``shown[n, position[n]] == clicked[n]``; position ``p`` has probability
      ``∝ 1 / (p + 1)``; the other slots hold negatives drawn from ``popularity``,
      redrawn until they differ from the click and from each other.
    """
    n = clicked.size
    cdf = np.cumsum(popularity.astype(np.float64))
    negatives = sample_from(rng, cdf, (n, size - 1))
    while True:
        duplicate = negatives == clicked[:, None]
        for j in range(1, size - 1):
            duplicate[:, j] |= (negatives[:, :j] == negatives[:, j:j + 1]).any(axis=1)
        if not duplicate.any():
            break
        negatives[duplicate] = sample_from(rng, cdf, int(duplicate.sum()))
    position = sample_from(rng, np.cumsum(1.0 / np.arange(1, size + 1)), n)
    slots = np.arange(size)[None, :]
    source = np.minimum(slots - (slots > position[:, None]), max(size - 2, 0))
    shown = np.where(slots == position[:, None], clicked[:, None],
                     np.take_along_axis(negatives, source, axis=1) if size > 1 else 0)
    return shown, position


@dataclasses.dataclass(frozen=True)
class SyntheticData:
    """Everything :func:`simulate` draws, as integer arrays (ids are 0-based)."""

    interests: np.ndarray  # [U, k] sorted
    paths: np.ndarray  # [U, T] cluster of each click
    clicks: np.ndarray  # [U, T] item of each click
    timestamps: np.ndarray  # [U, T] strictly increasing per user
    shown: np.ndarray  # [U * T, S] request slates, row n = click n (user-major)
    catalog: ItemCatalog
    gender: np.ndarray  # [U] index into GENDERS
    occupation: np.ndarray  # [U] index into OCCUPATIONS
    region: np.ndarray  # [U] index into REGIONS
    age: np.ndarray  # [U] years
    item_age: np.ndarray  # [I] years since release


def simulate(config: GeneratorConfig) -> SyntheticData:
    """Draw a whole synthetic dataset in memory (Appendix A steps 1-3 + impressions)."""
    rng = np.random.default_rng(config.seed)
    c, u, t = config.clusters, config.users, config.length
    interests, first = sample_interests(
        rng, u, power_law(c, config.interest_skew), config.interests_per_user)
    paths = sample_cluster_paths(rng, interests, c, t, config.alpha, config.gamma, config.epsilon)
    catalog = ItemCatalog.build(config.items, c, config.item_skew)
    clicks = catalog.sample(rng, paths)

    starts = config.start_time + np.floor(rng.random(u) * (config.start_spread_seconds + 1))
    gaps = 1 + np.floor(rng.exponential(config.mean_gap_seconds, (u, t)))
    gaps[:, 0] = 0
    timestamps = (starts[:, None] + np.cumsum(gaps, axis=1)).astype(np.int64)

    popularity = np.bincount(clicks.ravel(), minlength=config.items) + 1
    shown, _ = sample_requests(rng, clicks.ravel(), popularity, config.impressions_per_request)

    # Users lean on their main interest: per-cluster gender mix, age and region.
    female_share = rng.uniform(0.2, 0.8, c)
    age_mean = rng.uniform(22.0, 55.0, c)
    home_region = rng.integers(0, len(REGIONS), c)
    gender = (rng.random(u) >= female_share[first]).astype(np.int64)
    age = np.clip(np.rint(rng.normal(age_mean[first], USER_AGE_SPREAD)), *USER_AGE_RANGE)
    loyal = rng.random(u) < REGION_LOYALTY
    region = np.where(loyal, home_region[first], rng.integers(0, len(REGIONS), u))
    occupation = rng.integers(0, len(OCCUPATIONS), u)
    item_age = np.minimum(np.floor(rng.exponential(MEAN_ITEM_AGE_YEARS, config.items)),
                          MAX_ITEM_AGE_YEARS)
    return SyntheticData(interests, paths, clicks, timestamps, shown, catalog, gender,
                         occupation, region, age.astype(np.int64), item_age.astype(np.int64))


# ------------------------------------------------------------------ writing
def _ids(prefix: str, values: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(values), pa.string()), "")


def _pick(names: Sequence[str], index: np.ndarray) -> pa.Array:
    return pc.take(pa.array(list(names)), pa.array(index))


def _write_csv(path: Path, columns: dict[str, pa.Array]) -> None:
    """Write ``columns`` as CSV (plain header, no quoting) via a temp file, so a
    crash never leaves a half-written file under the final name."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as sink:
        sink.write((",".join(columns) + "\n").encode())
        pa_csv.write_csv(pa.table(columns), sink,
                         pa_csv.WriteOptions(include_header=False, quoting_style="none"))
    os.replace(tmp, path)


@dataclasses.dataclass(frozen=True)
class Summary:
    out_dir: str
    users: int
    items: int
    events: int
    impressions: int
    requests: int
    positive_rate: float
    seconds: float


def generate(config: GeneratorConfig, out_dir: str | Path) -> Summary:
    """Simulate with ``config`` and write the synthetic dataset folder to ``out_dir``.

    Files follow the contract (column names from :mod:`funnel.schema`). Events
    are ordered by time (ties by user); each event is one request whose rows,
    in display order, follow it in ``impressions.csv`` with the same timestamp.
    """
    began = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = simulate(config)
    u, t, s = config.users, config.length, config.impressions_per_request

    users_flat = np.repeat(np.arange(u), t)
    ts_flat = data.timestamps.ravel()
    order = np.lexsort((users_flat, ts_flat))  # by time, then user
    users_sorted, ts_sorted = users_flat[order], ts_flat[order]
    items_sorted = data.clicks.ravel()[order]
    _write_csv(out / EVENTS_FILE, {
        schema.USER_ID: _ids("u", users_sorted),
        schema.ITEM_ID: _ids("i", items_sorted),
        schema.TIMESTAMP: pa.array(ts_sorted),
    })

    shown = data.shown[order]
    _write_csv(out / IMPRESSIONS_FILE, {
        schema.REQUEST_ID: _ids("r", np.repeat(np.arange(order.size), s)),
        schema.USER_ID: _ids("u", np.repeat(users_sorted, s)),
        schema.ITEM_ID: _ids("i", shown.ravel()),
        schema.TIMESTAMP: pa.array(np.repeat(ts_sorted, s)),
        schema.CLICK: pa.array((shown == items_sorted[:, None]).ravel().astype(np.int8)),
    })

    user_ids = np.arange(u)
    _write_csv(out / USERS_FILE, {
        schema.USER_ID: _ids("u", user_ids),
        schema.USER_GENDER: _pick(GENDERS, data.gender),
        schema.USER_OCCUPATION: _pick(OCCUPATIONS, data.occupation),
        schema.USER_REGION: _pick(REGIONS, data.region),
        schema.USER_AGE: pa.array(data.age),
    })
    item_ids = _ids("i", np.arange(config.items))
    _write_csv(out / ITEMS_FILE, {
        schema.ITEM_ID: item_ids,
        schema.ITEM_CATEGORY: _ids("c", data.catalog.cluster_of),
        schema.ITEM_AGE: pa.array(data.item_age),
    })
    _write_csv(out / CLUSTERS_FILE, {
        schema.ITEM_ID: item_ids,
        schema.CLUSTER: pa.array(data.catalog.cluster_of),
    })
    config_lib.save(config, out / GENERATOR_FILE)

    if ts_sorted.size and ts_sorted[-1] > time.time() + 86_400:
        logger.warning("latest timestamp %d is more than a day in the future: the "
                       "pipeline will dead-letter those rows; lower --start-time", ts_sorted[-1])
    summary = Summary(str(out), u, config.items, int(order.size), int(order.size) * s,
                      int(order.size), 1.0 / s, time.perf_counter() - began)
    logger.info("generated %s", summary)
    return summary
