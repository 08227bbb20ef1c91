"""Iterative Density Weighting with user-tower calibration (Mehta et al. 2023, §3.3, Algorithms 1-2).

Algorithm 1:
    w^(0) = n_k / |U|                                  (normalised item frequency)
    theta^(0), phi^(0) <- fit with the unweighted loss (eq. 3)
    for t = 0 .. MAX_T - 1:
        sleep: w^(t+1) <- UpdateWeights(m, w^(t), phi^(t))     (Algorithm 2)
        if ||w^(t+1) - w^(t)|| < eta: break
        wake:  theta, phi <- fit with item weights w^(t+1)      (eqs. 10-11)
    calibration: freeze the item tower, fit the user tower with the unweighted loss.

**What an item weight means in the loss.** w_y is the share of the loss that
item y's examples carry *together*: each of its n_y training examples gets the
sample weight ``w_y / n_y`` (:func:`example_weights`), exactly what the
authors' code does (``sample_weight = weight / count`` in
``multiple_user_representations/models/util.py``). From w^(0) = n / |U| every
example then weighs the same, so the first wake phase starts from the
unweighted loss of eq. 3, and with m = 1 the weights never move and IDW is
MUR with calibration (§4.6.2). (Weighting each example by w_y itself would
give item y the share n_y w_y, proportional to n_y^2 at w^(0): head items
then carried 84-88% of the ML-100K loss instead of 65%.)

Algorithm 2 (sleep phase), by name (``config.idw_update``, :data:`DENSITY_UPDATES`):

- ``"paper"``: item-tower forward pass v_k = g_phi(i_k); kernel density p~ of
  eq. 7 weighted by w^(t) (:mod:`retrieval.weighting.density`), exact over
  every item with w_k > 0 or over ``config.kde_centres`` centres drawn by
  weight; relative density p' (eq. 8); h_k = 1 - p'_k; momentum update (eq. 9)
  ``w^(t+1) = m w^(t) + (1 - m) h / sum h``; stop on the L2 norm of the change.
- ``"official"``: the authors' public code (``density_smoothed_retrieval.py``,
  read, not copied): a Gaussian KDE (Scott's rule) fitted on 10,000 items drawn
  by w^(t) with N(0, 0.1^2) noise added to their embeddings; target
  ``(1 / (p + 1e-4))`` normalised to sum 1; the same momentum update; stop on
  the max-norm of the change. Their settings (m = 0.8, delta = 2e-4, at most 5
  rounds) are ``funnel train retrieval --preset idw-official``.

Defaults follow the paper (m = 0.9, eta = 4e-4, eq. 8's update), which is
what :mod:`retrieval.config` documents; ``docs/quality.md`` compares both.
The calibration is always run (the authors' code makes it optional).

Beyond the paper: ``config.idw_initial_weights = "uniform"`` starts from
w^(0) = 1/K, i.e. every *item* (not every example) gets the same share of the
loss from the first wake phase on, a strong tilt toward the tail.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Callable

import numpy as np

from funnel import config as config_lib
from funnel import schema
from funnel.metrics import mean_silhouette
from retrieval.weighting.base import Session, Weighting, example_normalised
from retrieval.weighting.density import gaussian_kde, kernel_density, relative_density

logger = logging.getLogger(__name__)

OFFICIAL_SAMPLES = 10_000
"""Items drawn by weight to fit the authors' KDE."""
OFFICIAL_NOISE = 0.1
"""Standard deviation of the Gaussian noise added to the drawn embeddings."""
OFFICIAL_FLOOR = 1e-4
"""Added to the density before inverting it (authors' code)."""
KERNEL_TERMS_BUDGET = 10**9
"""Kernel terms (items x centres) one default sleep phase aims at: seconds on two cores
(docs/benchmarks.md, "IDW sleep phase")."""
MIN_DEFAULT_CENTRES = 2_000
"""Fewest centres the default draws, however large the catalog."""


def default_centres(items: int) -> int:
    """Kernel centres of the ``"paper"`` sleep phase when none are asked for; 0 = exact.

    Exact (every item a centre, O(items^2)) up to ``OFFICIAL_SAMPLES`` items;
    above, the authors' own sample size, ``OFFICIAL_SAMPLES`` centres drawn
    by weight, lowered so a phase stays near ``KERNEL_TERMS_BUDGET`` terms but
    never below ``MIN_DEFAULT_CENTRES``: 10,000 at 100k items, 2,000 at 1M,
    so the phase grows linearly with the catalog instead of quadratically.
    """
    if items <= OFFICIAL_SAMPLES:
        return 0
    return max(MIN_DEFAULT_CENTRES, min(OFFICIAL_SAMPLES, KERNEL_TERMS_BUDGET // items))


def frequency_start(frequencies: np.ndarray) -> np.ndarray:
    """Algorithm 1, line 2: ``w^(0)_k = n_k / |U|`` (sums to 1 over the items)."""
    frequencies = np.asarray(frequencies, dtype=np.float64)
    total = frequencies.sum()
    if total <= 0:
        raise ValueError("frequencies: all zero; IDW needs training counts")
    return frequencies / total


def uniform_start(frequencies: np.ndarray) -> np.ndarray:
    """``w^(0)_k = 1 / K`` over the K items with a training count: every item gets the
    same share of the loss from the first wake phase (an option beyond the paper)."""
    seen = np.asarray(frequencies, dtype=np.float64) > 0
    if not seen.any():
        raise ValueError("frequencies: all zero; IDW needs training counts")
    return seen / seen.sum()


INITIAL_WEIGHTS = {"frequency": frequency_start, "uniform": uniform_start}


def initial_weights(frequencies: np.ndarray, start: str = "frequency") -> np.ndarray:
    """w^(0) by name (``config.idw_initial_weights``); the paper's is ``"frequency"``."""
    return config_lib.choice("idw_initial_weights", start, INITIAL_WEIGHTS)(frequencies)


def example_weights(item_weights: np.ndarray, frequencies: np.ndarray) -> np.ndarray:
    """Sample weight of a training example by its target, ``w_y / n_y``, ``[N]`` (eq. 10).

    Item y's n_y examples together carry the share w_y / sum w of the loss (the
    authors' ``sample_weight = weight / count``). Items without a training
    count get 0. Rescaled to mean 1 over training examples
    (:func:`~retrieval.weighting.base.example_normalised`), so at
    w^(0) = n / |U| every example weighs exactly 1.
    """
    weights = np.asarray(item_weights, dtype=np.float64)
    frequencies = np.asarray(frequencies, dtype=np.float64)
    per_example = np.divide(weights, frequencies, out=np.zeros_like(weights), where=frequencies > 0)
    return example_normalised(per_example, frequencies)


def head_mask(frequencies: np.ndarray) -> np.ndarray:
    """Bool ``[N]``: the 20% most frequent items with a training count (``schema.head_item_count``)."""
    frequencies = np.asarray(frequencies, dtype=np.float64)
    order = np.argsort(-frequencies, kind="stable")
    mask = np.zeros(len(frequencies), dtype=bool)
    mask[order[:schema.head_item_count(int((frequencies > 0).sum()))]] = True
    return mask & (frequencies > 0)


def head_share(per_example: np.ndarray, frequencies: np.ndarray, head: np.ndarray) -> float:
    """Share of the total sample weight ``sum_y n_y e_y`` that head targets carry.

    Equals the head items' share of the loss when per-example losses are alike;
    ``n_head / n`` for unweighted training.
    """
    mass = np.asarray(frequencies, dtype=np.float64) * per_example
    return float(mass[head].sum() / mass.sum())


def paper_target(embeddings: np.ndarray, weights: np.ndarray, *, max_elements: int = 8_000_000,
                 centres: int = 0, seed: int = 0) -> np.ndarray:
    """Algorithm 2, lines 3-5: ``h / sum h`` with ``h = 1 - p'`` (eqs. 7-8), ``[K]``.

    Args:
        embeddings: item-tower outputs of the K active items, ``[K, D]``.
        weights: their w^(t) ``[K]`` (the kernel weights of eq. 7).
        centres: this many kernel centres drawn with probability proportional
            to w (equal kernel weights then, an unbiased estimate of eq. 7),
            which makes a sleep phase O(K * centres) instead of O(K^2); 0 for
            :func:`default_centres` (exact on catalogs up to 10,000 items).
    """
    points, kernel_weights = embeddings, weights
    centres = centres or default_centres(len(points))
    if 0 < centres < len(points):
        rng = np.random.default_rng(seed)
        chosen = rng.choice(len(points), size=centres, p=weights / weights.sum())
        points, kernel_weights = points[chosen], np.ones(centres)
    h = 1.0 - relative_density(kernel_density(embeddings, points, kernel_weights, max_elements))
    total = h.sum()
    return h / total if total > 0 else np.full_like(h, 1.0 / len(h))


def official_target(embeddings: np.ndarray, weights: np.ndarray, *, max_elements: int = 8_000_000,
                    centres: int = 0, seed: int = 0) -> np.ndarray:
    """The authors' sleep phase: normalised ``1 / (p(v_k) + 1e-4)``, ``[K]``.

    p is a Gaussian KDE (Scott's rule) fitted on ``OFFICIAL_SAMPLES`` items drawn
    with probability w^(t), each embedding jittered by N(0, ``OFFICIAL_NOISE``^2).
    ``centres`` overrides the number of draws when > 0.
    """
    rng = np.random.default_rng(seed)
    draws = centres if centres > 0 else OFFICIAL_SAMPLES
    chosen = rng.choice(len(embeddings), size=draws, p=weights / weights.sum())
    sample = embeddings[chosen] + rng.normal(0.0, OFFICIAL_NOISE, size=(draws, embeddings.shape[1]))
    inverse = 1.0 / (gaussian_kde(embeddings, sample, max_elements=max_elements) + OFFICIAL_FLOOR)
    return inverse / inverse.sum()


@dataclasses.dataclass(frozen=True)
class DensityUpdate:
    """A sleep phase: the target distribution over items and the norm of the stopping test."""

    target: Callable[..., np.ndarray]
    norm_order: float
    """``ord`` of ``np.linalg.norm`` for ``||w^(t+1) - w^(t)||`` (2 or inf)."""

    def change(self, updated: np.ndarray, weights: np.ndarray) -> float:
        return float(np.linalg.norm(updated - weights, ord=self.norm_order))


DENSITY_UPDATES = {"paper": DensityUpdate(paper_target, 2),
                   "official": DensityUpdate(official_target, np.inf)}


def update_weights(weights: np.ndarray, embeddings: np.ndarray, momentum: float,
                   active: np.ndarray | None = None, max_elements: int = 8_000_000,
                   centres: int = 0, seed: int = 0, rule: str = "paper") -> np.ndarray:
    """Algorithm 2: one sleep phase, eq. 9 ``w^(t+1) = m w^(t) + (1 - m) target``. Returns ``[N]``.

    Args:
        weights: current w^(t), ``[N]``.
        embeddings: item-tower outputs v_k, ``[N, D]``.
        momentum: m of eq. 9.
        active: bool ``[N]``, the items that take part (real items with a
            training count); the others keep weight 0.
        max_elements: memory bound of the batched density.
        centres: kernel centres (``"paper"``) or KDE draws (``"official"``); 0 = default.
        seed: seed of the draws.
        rule: a key of :data:`DENSITY_UPDATES`.
    """
    update = config_lib.choice("idw_update", rule, DENSITY_UPDATES)
    weights = np.asarray(weights, dtype=np.float64)
    active = weights > 0 if active is None else np.asarray(active, dtype=bool)
    target = update.target(np.asarray(embeddings, dtype=np.float64)[active], weights[active],
                           max_elements=max_elements, centres=centres, seed=seed)
    updated = np.zeros_like(weights)
    updated[active] = momentum * weights[active] + (1.0 - momentum) * target  # eq. 9
    return updated


class IterativeDensityWeighting(Weighting):
    """IDW: sleep/wake rounds of density-based item weights, then user-tower calibration."""

    weighted = True

    def train(self, session: Session) -> None:
        config = self.config
        model, items = session.model, session.items
        session.fit(config.epochs, weighted=False, phase="initial")
        active = items.frequencies > 0
        weights = initial_weights(items.frequencies, config.idw_initial_weights)
        head = head_mask(items.frequencies)
        session.record("initial_head_weight_share", head_share(
            example_weights(weights, items.frequencies), items.frequencies, head))
        rounds = []
        for t in range(config.idw_max_rounds):
            embeddings = model.item_embeddings()
            updated = update_weights(weights, embeddings, config.idw_momentum, active,
                                     config.kde_batch_elements, config.kde_centres, config.seed + t,
                                     config.idw_update)
            change = DENSITY_UPDATES[config.idw_update].change(updated, weights)
            per_example = example_weights(updated, items.frequencies)
            rounds.append({"round": t + 1, "weight_change": change,
                           "silhouette": _silhouette(embeddings, session.clusters),
                           "head_weight_share": head_share(per_example, items.frequencies, head),
                           "weight_quantiles": _quantiles(per_example[active])})
            session.record(f"embeddings_round_{t}", embeddings)
            logger.info("IDW round %d: ||w(t+1) - w(t)|| = %.6f", t + 1, change)
            weights = updated
            if change < config.idw_eta:
                rounds[-1]["stopped"] = True
                break
            model.item_weights.assign(per_example.astype(np.float32))
            session.fit(config.idw_wake_epochs, weighted=True, phase=f"wake_{t + 1}")
        final = model.item_embeddings()
        session.record(f"embeddings_round_{len(rounds)}", final)
        session.record("rounds", rounds)
        session.record("final_silhouette", _silhouette(final, session.clusters))
        session.record("weights", weights)
        session.freeze_item_tower(config.learning_rate * config.idw_calibration_lr_scale)
        session.fit(config.idw_calibration_epochs, weighted=False, phase="calibration")


def _quantiles(values: np.ndarray) -> dict[str, float]:
    """Min, median, 90th percentile and max of the per-example weights (for the report)."""
    q = np.quantile(values, [0.0, 0.5, 0.9, 1.0]) if len(values) else [float("nan")] * 4
    return {"min": float(q[0]), "median": float(q[1]), "p90": float(q[2]), "max": float(q[3])}


def _silhouette(embeddings: np.ndarray, clusters: np.ndarray | None) -> float | None:
    if clusters is None:
        return None
    return mean_silhouette(embeddings, clusters)

