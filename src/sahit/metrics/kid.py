"""Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD² with a cubic polynomial kernel."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import as_float64


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``k(x, y) = (x . y / d + 1) ** 3`` for all pairs of rows, (Nx, Ny)."""
    d = x.shape[1]
    return (x @ y.T / d + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased estimate of MMD² between two equally sized samples (diagonals of k_xx, k_yy dropped)."""
    m = len(x)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    sum_xx = k_xx.sum() - np.trace(k_xx)
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    features1: Any, features2: Any, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID between two (N, D) feature sets: ``(mean, std)`` of unbiased MMD² over random subsets.

    Each of ``subsets`` draws takes ``min(subset_size, N1, N2)`` samples without replacement
    from each side. The estimate is unbiased, so it can be slightly negative for identical
    distributions. Computed in float64.
    """
    f1, f2 = as_float64(features1, 2, "features1"), as_float64(features2, 2, "features2")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"features differ in dimension: {f1.shape[1]} vs {f2.shape[1]}")
    if not isinstance(subsets, int) or subsets < 1:
        raise ValueError(f"subsets must be a positive integer, got {subsets!r}")
    m = min(subset_size, len(f1), len(f2))
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples on each side, got {len(f1)} and {len(f2)}")
    rng = np.random.default_rng(seed)
    mmds = np.empty(subsets)
    for i in range(subsets):
        x = f1[rng.choice(len(f1), m, replace=False)]
        y = f2[rng.choice(len(f2), m, replace=False)]
        mmds[i] = mmd2_unbiased(x, y)
    return float(mmds.mean()), float(mmds.std())
