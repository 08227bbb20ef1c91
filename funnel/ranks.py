"""Per-example full-catalog ranks on disk, and paired comparisons of two rankers.

A ranks file (``.npz``) holds ``user_ids`` ``[E]`` (vocabulary ids of the
``funnel preprocess`` output that was evaluated) and one or more arrays of
0-based full-catalog ranks ``[E]`` of each example's target, one per ranker
(``ranks`` for a retrieval run; ``retrieval`` and ``funnel`` for
``funnel evaluate funnel``). A target the ranker never returned (outside a
candidate list) gets :data:`MISSED`, a rank beyond any catalog, so every
top-k metric counts it as a miss.

Two files are compared example by example: examples are paired by user id
(and, for a user with several examples, by their order in each file), so two
evaluations of the same split pair up whatever order they were written in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from funnel import metrics

USER_IDS = "user_ids"
RANKS = "ranks"
MISSED = np.iinfo(np.int64).max // 2
"""Rank stored for a target outside the ranker's returned list."""
BOOTSTRAP_AT = 10
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0


def save(path: str | Path, user_ids: np.ndarray, **ranks: np.ndarray) -> None:
    """Write ``user_ids`` ``[E]`` and each named rank array ``[E]`` (negative ranks become MISSED)."""
    user_ids = np.asarray(user_ids, dtype=np.int64)
    arrays = {USER_IDS: user_ids}
    for name, values in ranks.items():
        values = np.asarray(values, dtype=np.int64)
        if values.shape != user_ids.shape:
            raise ValueError(f"ranks: {name!r} has shape {values.shape}, expected {user_ids.shape} "
                             "(one rank per user id)")
        arrays[name] = np.where(values < 0, MISSED, values)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def load(path: str | Path, key: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(user_ids, ranks)`` of one ranker in a ranks file; ``key`` may be omitted when it holds one."""
    with np.load(path) as stored:
        if USER_IDS not in stored.files:
            raise ValueError(f"{path}: no {USER_IDS!r} array; not a ranks file")
        keys = [name for name in stored.files if name != USER_IDS]
        if key is None:
            if len(keys) != 1:
                raise ValueError(f"{path}: holds rankers {keys}; name one as {path}:<key>")
            key = keys[0]
        if key not in keys:
            raise ValueError(f"{path}: unknown ranker {key!r}; choose one of {keys}")
        return stored[USER_IDS], stored[key]


def pair_keys(user_ids: np.ndarray) -> np.ndarray:
    """``[E, 2]`` keys (user id, occurrence of that user so far): unique even when users repeat."""
    user_ids = np.asarray(user_ids, dtype=np.int64)
    order = np.argsort(user_ids, kind="stable")
    sorted_ids = user_ids[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_ids)) + 1]
    occurrence = np.empty_like(user_ids)
    occurrence[order] = np.arange(len(user_ids)) - np.repeat(starts, np.diff(np.r_[starts, len(user_ids)]))
    return np.stack([user_ids, occurrence], axis=1)


def align(first_users: np.ndarray, first: np.ndarray, second_users: np.ndarray, second: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both rankers' values on the examples they share, in one order: ``(keys [P, 2], first [P], second [P])``."""
    first_keys, second_keys = pair_keys(first_users), pair_keys(second_users)
    first_view = first_keys.view([("user", np.int64), ("occurrence", np.int64)]).ravel()
    second_view = second_keys.view([("user", np.int64), ("occurrence", np.int64)]).ravel()
    _, first_index, second_index = np.intersect1d(first_view, second_view, return_indices=True)
    return first_keys[first_index], np.asarray(first)[first_index], np.asarray(second)[second_index]


def compare(first_users: np.ndarray, first_ranks: np.ndarray, second_users: np.ndarray,
            second_ranks: np.ndarray, k: int = BOOTSTRAP_AT, samples: int = BOOTSTRAP_SAMPLES,
            seed: int = BOOTSTRAP_SEED) -> dict:
    """HR@k and NDCG@k of two rankers on their shared examples, the relative gain of the second
    in %, and the paired bootstrap interval of ``second - first`` (:func:`funnel.metrics.paired_bootstrap`)."""
    return compare_runs([(first_users, first_ranks)], [(second_users, second_ranks)], k, samples, seed)


def compare_runs(first: Sequence[tuple[np.ndarray, np.ndarray]], second: Sequence[tuple[np.ndarray, np.ndarray]],
                 k: int = BOOTSTRAP_AT, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED) -> dict:
    """:func:`compare` over several runs of each ranker (seeds), paired by index.

    ``first`` and ``second`` are lists of ``(user_ids, ranks)``; run i of one is
    paired with run i of the other, each example's HR@k / NDCG@k is averaged
    over the run pairs, and the bootstrap resamples examples (users), so the
    interval covers the test users' variation with the seeds averaged out.

    Raises:
        ValueError: different numbers of runs, no shared example, or run pairs
            sharing different examples (evaluated on different splits).
    """
    if len(first) != len(second) or not first:
        raise ValueError(f"runs: {len(first)} runs of the first ranker and {len(second)} of the second; "
                         "expected the same number, at least one")
    keys, sums = None, None
    for (first_users, first_ranks), (second_users, second_ranks) in zip(first, second):
        pair_keys_, first_shared, second_shared = align(first_users, first_ranks, second_users, second_ranks)
        if keys is None:
            keys, unpaired = pair_keys_, len(first_users) + len(second_users) - 2 * len(pair_keys_)
        elif not np.array_equal(keys, pair_keys_):
            raise ValueError("user_ids: the run pairs share different examples; evaluate every run "
                             "on the same split of the same data")
        values = (metrics.per_example(first_shared, k), metrics.per_example(second_shared, k))
        sums = values if sums is None else tuple({name: total[name] + part[name] for name in total}
                                                 for total, part in zip(sums, values))
    if not len(keys):
        raise ValueError("user_ids: the two rankers share no example (evaluated on different data?)")
    result = {"examples": int(len(keys)), "unpaired": int(unpaired), "runs": len(first)}
    for name in sums[0]:
        result[name] = compare_values(sums[0][name] / len(first), sums[1][name] / len(first), samples, seed)
    return result


def compare_values(first: np.ndarray, second: np.ndarray, samples: int = BOOTSTRAP_SAMPLES,
                   seed: int = BOOTSTRAP_SEED) -> dict:
    """Means of paired per-example values ``[P]``, relative gain in % and the bootstrap interval."""
    first_mean, second_mean = float(np.mean(first)), float(np.mean(second))
    gain = 100.0 * (second_mean - first_mean) / first_mean if first_mean else None
    return {"first": first_mean, "second": second_mean, "gain_percent": gain,
            "difference": metrics.paired_bootstrap(first, second, samples, seed)}
