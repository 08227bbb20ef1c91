"""Weighted Gaussian kernel density of item embeddings, batched (Mehta et al. 2023, eqs. 7-8).

Eq. 7 smooths the item distribution with a Gaussian kernel of bandwidth l
chosen by Scott's rule: ``p~(y) = 1/l sum_k w_k K(||y - v_k|| / l)``. Like
``scipy.stats.gaussian_kde`` (which the authors' public code calls), the kernel
is taken in the embeddings' whitened coordinates (covariance = identity), where
Scott's factor is ``l = n_eff^(-1/(d+4))`` with ``n_eff = (sum w)^2 / sum w^2``;
that is eq. 7 with a bandwidth that adapts to each direction's spread. Constant
normalisers are dropped: eq. 8 divides them out.

The density at N query points over K kernel centres is computed in chunks of
``max_elements // K`` queries, so 100,000 items never build a 100k x 100k
matrix (memory is ``O(max_elements)``).
"""

from __future__ import annotations

import numpy as np

JITTER = 1e-6
"""Added to the covariance diagonal (relative to its trace) so collapsed embeddings can be whitened."""


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's ``n_eff = (sum w)^2 / sum w^2`` (``n`` for equal weights)."""
    weights = np.asarray(weights, dtype=np.float64)
    return float(weights.sum() ** 2 / np.sum(weights ** 2))


def scott_factor(n_eff: float, dim: int) -> float:
    """Scott's rule bandwidth in whitened coordinates: ``n_eff^(-1/(d+4))`` (Scott 2012)."""
    if n_eff <= 0 or dim < 1:
        raise ValueError(f"scott_factor: need n_eff > 0 and dim >= 1, got {n_eff} and {dim}")
    return float(n_eff ** (-1.0 / (dim + 4)))


def whitening(points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Matrix ``W`` ``[D, D]`` with ``cov(points @ W) = I`` under ``weights`` (Cholesky of the inverse)."""
    weights = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    mean = weights @ points
    centred = points - mean
    # Unbiased weighted covariance, as scipy.stats.gaussian_kde computes it.
    covariance = (centred * weights[:, None]).T @ centred / (1.0 - np.sum(weights ** 2))
    dim = covariance.shape[0]
    covariance = covariance + JITTER * (np.trace(covariance) / dim + 1e-12) * np.eye(dim)
    cholesky = np.linalg.cholesky(covariance)
    return np.linalg.inv(cholesky).T


def kernel_density(queries: np.ndarray, points: np.ndarray, weights: np.ndarray,
                   max_elements: int = 8_000_000) -> np.ndarray:
    """Unnormalised weighted Gaussian KDE ``[N]`` at ``queries`` ``[N, D]`` (eq. 7).

    Args:
        queries: where to evaluate the density, ``[N, D]``.
        points: kernel centres v_k, ``[K, D]``.
        weights: w_k >= 0, ``[K]``; centres with w_k = 0 are skipped.
        max_elements: largest ``[chunk, K]`` block held in memory.

    Returns:
        ``sum_k w_k exp(-||W^T(y - v_k)||^2 / (2 l^2))`` per query, where W
        whitens ``points`` and l is Scott's factor; proportional to
        ``scipy.stats.gaussian_kde(points.T, weights=weights)(queries.T)``.
    """
    points = np.asarray(points, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if points.ndim != 2 or queries.ndim != 2 or points.shape[1] != queries.shape[1]:
        raise ValueError(f"kernel_density: queries {queries.shape} and points {points.shape} "
                         "must both be [n, D] with the same D")
    if weights.shape != (len(points),) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError(f"kernel_density: weights must be [{len(points)}], non-negative, not all 0")
    keep = weights > 0
    points, weights = points[keep], weights[keep]
    transform = whitening(points, weights)
    bandwidth = scott_factor(effective_sample_size(weights), points.shape[1])
    origin = weights @ points / weights.sum()  # distances do not move; float32 norms stay small
    centres = (points - origin) @ transform / bandwidth
    scaled = (np.asarray(queries, dtype=np.float64) - origin) @ transform / bandwidth
    log_weights = np.log(weights)
    top = log_weights.max()
    # -||q - c||^2 / 2 + log w_c - max log w = [q, 1, -|q|^2/2] . [c, log w_c - top - |c|^2/2, 1]:
    # one float32 GEMM gives every exponent, all <= 0, so exp never overflows and
    # the sum needs no per-row maximum (a kernel below float32's range is < 1e-38
    # of the largest possible one: such items are the least dense either way).
    centre_rows = np.hstack([centres, (log_weights - top - 0.5 * np.sum(centres ** 2, axis=1))[:, None],
                             np.ones((len(centres), 1))]).astype(np.float32)
    query_rows = np.hstack([scaled, np.ones((len(scaled), 1)),
                            -0.5 * np.sum(scaled ** 2, axis=1)[:, None]]).astype(np.float32)
    chunk = max(1, int(max_elements) // len(centres))
    density = np.empty(len(scaled), dtype=np.float64)
    for start in range(0, len(scaled), chunk):
        exponent = query_rows[start:start + chunk] @ centre_rows.T
        np.minimum(exponent, 0.0, out=exponent)  # rounding can lift an exponent of 0 just above it
        np.exp(exponent, out=exponent)
        density[start:start + chunk] = exponent.sum(axis=1, dtype=np.float64)
    return density * np.exp(top)


def gaussian_kde(queries: np.ndarray, points: np.ndarray, weights: np.ndarray | None = None,
                 max_elements: int = 8_000_000) -> np.ndarray:
    """Normalised weighted Gaussian KDE ``[N]`` at ``queries`` ``[N, D]``: a probability density.

    Equal to ``scipy.stats.gaussian_kde(points.T, weights=weights)(queries.T)``
    (Scott's rule, full covariance), batched like :func:`kernel_density`. The
    authors' density update adds a constant (1e-4) to it, so unlike eq. 8 it
    needs the normaliser ``1 / (sum w * (2 pi)^(d/2) l^d sqrt(det cov))``.
    """
    points = np.asarray(points, dtype=np.float64)
    weights = np.ones(len(points)) if weights is None else np.asarray(weights, dtype=np.float64)
    unnormalised = kernel_density(queries, points, weights, max_elements)
    keep = weights > 0
    transform = whitening(points[keep], weights[keep])
    dim = points.shape[1]
    bandwidth = scott_factor(effective_sample_size(weights[keep]), dim)
    # det(W) = 1 / sqrt(det cov) for the whitening W of the (jittered) covariance.
    normaliser = abs(np.linalg.det(transform)) / ((2 * np.pi) ** (dim / 2) * bandwidth ** dim)
    return unnormalised * normaliser / weights[keep].sum()


def relative_density(density: np.ndarray) -> np.ndarray:
    """Eq. 8: min-max normalised density ``p' in [0, 1]`` (all zeros if the density is flat)."""
    density = np.asarray(density, dtype=np.float64)
    low, high = density.min(), density.max()
    if high - low <= 0:
        return np.zeros_like(density)
    return (density - low) / (high - low)
