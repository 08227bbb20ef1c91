"""Baselines without training: most-popular and a first-order Markov chain.

Each baseline is built from a ``funnel preprocess`` output's training split
and is a :data:`Scorer` (``HISTORY [B, L]`` -> scores of every item id
``[B, N]``), evaluated by ``retrieval.evaluate.evaluate`` like a model.
``BASELINES`` maps the names ``funnel experiment retrieval --methods``
accepts (``retrieval.names.BASELINES``) to their builders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from scipy import sparse

from funnel import dataset, schema

Scorer = Callable[[np.ndarray], np.ndarray]
"""HISTORY ``[B, L]`` (left-padded, most recent last) -> scores of every item id ``[B, N]``."""


def popularity_scorer(frequencies: np.ndarray) -> Scorer:
    """The most-popular baseline: every user gets the training frequencies as scores."""
    frequencies = np.asarray(frequencies, dtype=np.float64)
    return lambda history: np.broadcast_to(frequencies, (len(history), len(frequencies)))


def last_items(histories: np.ndarray) -> np.ndarray:
    """The most recent real item of each left-padded history ``[B, L]`` -> ``[B]`` (padding if empty)."""
    histories = np.asarray(histories)
    return histories[:, -1] if histories.shape[1] else np.full(len(histories), schema.PADDING_ID)


def transition_counts(histories: np.ndarray, targets: np.ndarray, num_items: int) -> sparse.csr_matrix:
    """Sparse ``[N, N]`` counts of ``last history item -> target`` over training examples.

    ``histories`` ``[E, L]`` are left-padded, so the last column is the most
    recent item; an example with an empty history is no transition (its
    user's row stays empty, so scoring it falls back to popularity).
    """
    sources = last_items(histories).astype(np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    real = sources != schema.PADDING_ID
    counts = sparse.csr_matrix((np.ones(int(real.sum()), dtype=np.float64), (sources[real], targets[real])),
                               shape=(num_items, num_items))
    counts.sum_duplicates()
    return counts


def markov_scorer(counts: sparse.csr_matrix, frequencies: np.ndarray) -> Scorer:
    """First-order Markov scores with popularity backoff.

    A user's score of item j is ``counts[last, j] + popularity[j] / (sum(popularity) + 1)``:
    the backoff term is below 1, so any observed transition outranks every
    unobserved one, while ties among equal counts, and the whole row of a
    last item without outgoing transitions (or an empty history), follow
    training popularity.
    """
    counts = sparse.csr_matrix(counts, dtype=np.float64)
    frequencies = np.asarray(frequencies, dtype=np.float64)
    backoff = frequencies / (frequencies.sum() + 1.0)

    def score(histories: np.ndarray) -> np.ndarray:
        rows = counts[last_items(histories)]
        return rows.toarray() + backoff
    return score


def most_popular(data_dir: str | Path) -> Scorer:
    """Most-popular scorer of ``data_dir``'s training frequencies."""
    return popularity_scorer(dataset.item_frequencies(data_dir))


def markov(data_dir: str | Path) -> Scorer:
    """Markov scorer of ``data_dir``'s training transitions, backed off to its training frequencies."""
    num_items = schema.FeatureMap.load(data_dir).num_items
    sources, targets = [], []
    for batch in dataset.retrieval_dataset(data_dir, schema.TRAIN, 8192).as_numpy_iterator():
        sources.append(last_items(batch[schema.HISTORY]))
        targets.append(batch[schema.TARGET_ITEM])
    sources = np.concatenate(sources)[:, None] if sources else np.zeros((0, 1), np.int64)
    targets = np.concatenate(targets) if targets else np.zeros(0, np.int64)
    return markov_scorer(transition_counts(sources, targets, num_items),
                         dataset.item_frequencies(data_dir, num_items))


BASELINES: dict[str, Callable[[str | Path], Scorer]] = {"most-popular": most_popular, "markov": markov}
"""Baseline name -> builder ``(data_dir) -> Scorer``."""
