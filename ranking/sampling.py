"""Class imbalance by design: ``--negative-ratio R`` keeps clicks at 1:R (LAFAM Table 5).

All non-clicks of a split are kept and clicks are down-sampled to
``floor(#non-clicks / R)`` (all of them if there are fewer), drawn without
replacement by a generator seeded with the run's seed and the split, so the
same run always keeps the same rows and ``funnel evaluate ranking`` rebuilds
the exact evaluation set. What was kept is written to ``RUN/kept.json``.
"""

from __future__ import annotations

import zlib

import numpy as np


def split_seed(seed: int, split: str) -> int:
    """A per-split seed, stable across Python runs."""
    return (seed * 1_000_003 + zlib.crc32(split.encode())) % (2**32)


def downsample_positives(labels: np.ndarray, ratio: float, seed: int) -> tuple[np.ndarray, dict]:
    """Rows to keep (sorted indices) and a summary of what was kept.

    Args:
        labels: ``[N]`` 0/1 labels of one split.
        ratio: ``R`` of 1:R (non-clicks per kept click).
        seed: generator seed (use :func:`split_seed`).
    """
    if ratio <= 0:
        raise ValueError(f"negative_ratio: must be > 0, got {ratio}")
    labels = np.asarray(labels).reshape(-1)
    positives = np.flatnonzero(labels >= 0.5)
    negatives = np.flatnonzero(labels < 0.5)
    wanted = min(len(positives), int(np.floor(len(negatives) / ratio)))
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(positives, size=wanted, replace=False)) if wanted else np.array([], int)
    kept = np.sort(np.concatenate([negatives, chosen]))
    summary = {
        "ratio": ratio, "seed": int(seed), "rows": int(len(labels)),
        "clicks": int(len(positives)), "clicks_kept": int(wanted), "non_clicks": int(len(negatives)),
        "achieved_ratio": float(len(negatives) / wanted) if wanted else None,
        "kept_click_rows": chosen.tolist(),
    }
    return kept, summary


def subset(arrays: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[rows] for name, values in arrays.items()}
