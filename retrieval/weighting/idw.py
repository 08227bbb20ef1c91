"""Iterative Density Weighting with user-tower calibration (Mehta et al. 2023, §3.3, Algorithms 1-2).

Algorithm 1:
    w^(0) = n_k / |U|                                  (normalised item frequency)
    theta^(0), phi^(0) <- fit with the unweighted loss (eq. 3)
    for t = 0 .. MAX_T - 1:
        sleep: w^(t+1) <- UpdateWeights(m, w^(t), phi^(t))     (Algorithm 2)
        if ||w^(t+1) - w^(t)||_2 < eta: break
        wake:  theta, phi <- fit with sample weights w^(t+1)_y   (eqs. 10-11)
    calibration: freeze the item tower, fit the user tower with the unweighted loss.

Algorithm 2 (sleep phase): item-tower forward pass v_k = g_phi(i_k); kernel
density p~ of eq. 7 weighted by w^(t) (:mod:`retrieval.weighting.density`);
relative density p' (eq. 8); h_k = 1 - p'_k; momentum update (eq. 9)
``w^(t+1) = m w^(t) + (1 - m) h / sum h``.

Where this differs from the authors' public TFRS code (google-research,
``multiple_user_representations/models/density_smoothed_retrieval.py``), which
was read, not copied:
- their code fits ``scipy.stats.gaussian_kde`` on 10,000 item ids *sampled*
  by weight with added N(0, 0.1) noise and uses ``1 / density`` as the update;
  here the KDE is exact over every item with w_k > 0 (kernel weights w_k, as
  eq. 7 writes it), batched, and the update is the paper's ``h = 1 - p'``;
- their stopping test uses the max-norm with delta 2e-4 and momentum 0.8, and
  trains the first phase with frequency weights; here the L2 norm, eta = 4e-4,
  m = 0.9 and an unweighted first phase (Algorithm 1, line 3);
- their calibration is an option (``--finetuning``); here it is always run.
In the loss, the weights are rescaled to mean 1 over training examples (a
constant factor: the minimiser of eq. 10 is unchanged).

Beyond the paper: ``config.idw_initial_weights = "uniform"`` starts from
w^(0) = 1/K (the paper's w^(0) = n_k/|U| makes the first wake phases weigh
each example by its item's frequency), and ``config.kde_centres`` draws that
many kernel centres by weight for an O(N * centres) sleep phase on large
catalogs.
"""

from __future__ import annotations

import logging

import numpy as np

from funnel import config as config_lib
from retrieval.weighting.base import Session, Weighting, example_normalised
from retrieval.weighting.density import kernel_density, relative_density

logger = logging.getLogger(__name__)


def frequency_start(frequencies: np.ndarray) -> np.ndarray:
    """Algorithm 1, line 2: ``w^(0)_k = n_k / |U|`` (sums to 1 over the items)."""
    frequencies = np.asarray(frequencies, dtype=np.float64)
    total = frequencies.sum()
    if total <= 0:
        raise ValueError("frequencies: all zero; IDW needs training counts")
    return frequencies / total


def uniform_start(frequencies: np.ndarray) -> np.ndarray:
    """``w^(0)_k = 1 / K`` over the K items with a training count: the wake phases then
    start from the unweighted loss and tilt it toward sparse regions round by round
    (an option beyond the paper, whose w^(0) weighs examples by their item's frequency)."""
    seen = np.asarray(frequencies, dtype=np.float64) > 0
    if not seen.any():
        raise ValueError("frequencies: all zero; IDW needs training counts")
    return seen / seen.sum()


INITIAL_WEIGHTS = {"frequency": frequency_start, "uniform": uniform_start}


def initial_weights(frequencies: np.ndarray, start: str = "frequency") -> np.ndarray:
    """w^(0) by name (``config.idw_initial_weights``); the paper's is ``"frequency"``."""
    return config_lib.choice("idw_initial_weights", start, INITIAL_WEIGHTS)(frequencies)


def update_weights(weights: np.ndarray, embeddings: np.ndarray, momentum: float,
                   active: np.ndarray | None = None, max_elements: int = 8_000_000,
                   centres: int = 0, seed: int = 0) -> np.ndarray:
    """Algorithm 2: one sleep phase. Returns ``w^(t+1)`` ``[N]``.

    Args:
        weights: current w^(t), ``[N]`` (also the kernel weights of eq. 7).
        embeddings: item-tower outputs v_k, ``[N, D]``.
        momentum: m of eq. 9.
        active: bool ``[N]``, the items that take part (real items with a
            training count); the others keep weight 0.
        max_elements: memory bound of the batched density.
        centres: 0 for the exact density over every active item; otherwise
            the density uses this many kernel centres drawn with probability
            proportional to w (equal kernel weights then; an unbiased estimate
            of eq. 7, as the authors' code does with 10,000 samples), which
            makes a sleep phase O(N * centres) instead of O(N^2).
        seed: seed of that draw.
    """
    weights = np.asarray(weights, dtype=np.float64)
    active = weights > 0 if active is None else np.asarray(active, dtype=bool)
    points, kernel_weights = embeddings[active], weights[active]
    if 0 < centres < len(points):
        rng = np.random.default_rng(seed)
        chosen = rng.choice(len(points), size=centres, p=kernel_weights / kernel_weights.sum())
        points, kernel_weights = points[chosen], np.ones(centres)
    density = kernel_density(embeddings[active], points, kernel_weights, max_elements)
    h = 1.0 - relative_density(density)                                  # Algorithm 2, line 5
    total = h.sum()
    target = h / total if total > 0 else np.full_like(h, 1.0 / len(h))
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
        rounds = []
        for t in range(config.idw_max_rounds):
            embeddings = model.item_embeddings()
            updated = update_weights(weights, embeddings, config.idw_momentum, active,
                                     config.kde_batch_elements, config.kde_centres, config.seed + t)
            change = float(np.linalg.norm(updated - weights))
            rounds.append({"round": t + 1, "weight_change": change,
                           "silhouette": _silhouette(embeddings, session.clusters)})
            session.record(f"embeddings_round_{t}", embeddings)
            logger.info("IDW round %d: ||w(t+1) - w(t)|| = %.6f", t + 1, change)
            weights = updated
            if change < config.idw_eta:
                rounds[-1]["stopped"] = True
                break
            model.item_weights.assign(example_normalised(weights, items.frequencies).astype(np.float32))
            session.fit(config.idw_wake_epochs, weighted=True, phase=f"wake_{t + 1}")
        final = model.item_embeddings()
        session.record(f"embeddings_round_{len(rounds)}", final)
        session.record("rounds", rounds)
        session.record("final_silhouette", _silhouette(final, session.clusters))
        session.record("weights", weights)
        session.freeze_item_tower(config.learning_rate * config.idw_calibration_lr_scale)
        session.fit(config.idw_calibration_epochs, weighted=False, phase="calibration")


def _silhouette(embeddings: np.ndarray, clusters: np.ndarray | None) -> float | None:
    if clusters is None:
        return None
    from retrieval.evaluate import mean_silhouette

    return mean_silhouette(embeddings, clusters)

