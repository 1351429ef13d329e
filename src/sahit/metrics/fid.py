"""Fréchet distance between Gaussians (FID) and intra-FID (FID per class, averaged).

The trace of the matrix square root uses only symmetric eigendecompositions:

    tr sqrt(S1 S2) = tr sqrt(A S2 A),   A = sqrt(S1)   (A S2 A is symmetric PSD)

so the sum of the square roots of the (clipped) eigenvalues of ``A S2 A`` is the nuclear
norm of ``sqrt(S2) A``. This stays exact when the covariances are singular (fewer samples
than dimensions), where ``scipy.linalg.sqrtm(S1 @ S2)`` needs an epsilon hack.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import as_float64, as_labels
from .stats import FeatureStats


def _clip_eigenvalues(eigvals: np.ndarray) -> np.ndarray:
    """Zero the eigenvalues that are round-off: negative ones, and those below ``d * eps * max``.

    The square root magnifies round-off around 0 (sqrt(1e-14) = 1e-7), which matters for
    singular covariances (fewer samples than dimensions), where most eigenvalues are 0.
    """
    tol = len(eigvals) * np.finfo(np.float64).eps * max(float(np.abs(eigvals).max(initial=0.0)), 0.0)
    return np.where(eigvals > tol, eigvals, 0.0)


def sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix; round-off eigenvalues clip to 0."""
    sym = (matrix + matrix.T) / 2
    eigvals, eigvecs = np.linalg.eigh(sym)
    root = np.sqrt(_clip_eigenvalues(eigvals))
    return (eigvecs * root) @ eigvecs.T  # V diag(sqrt(l)) V^T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr sqrt(sigma1 @ sigma2)`` for symmetric PSD matrices, through ``sqrt(sigma1) sigma2 sqrt(sigma1)``."""
    root1 = sqrtm_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    eigvals = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(_clip_eigenvalues(eigvals)).sum())


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), computed in float64.

    ``||mu1 - mu2||^2 + tr(sigma1) + tr(sigma2) - 2 tr sqrt(sigma1 sigma2)``; accepts numpy
    arrays or torch tensors. FID is this distance between Inception feature statistics.
    """
    mu1, mu2 = as_float64(mu1, 1, "mu1"), as_float64(mu2, 1, "mu2")
    sigma1, sigma2 = as_float64(sigma1, 2, "sigma1"), as_float64(sigma2, 2, "sigma2")
    d = len(mu1)
    if mu2.shape != (d,):
        raise ValueError(f"mu1 and mu2 must have the same shape, got {mu1.shape} and {mu2.shape}")
    for name, sigma in (("sigma1", sigma1), ("sigma2", sigma2)):
        if sigma.shape != (d, d):
            raise ValueError(f"{name} must have shape ({d}, {d}) to match the means, got {sigma.shape}")
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2)
    return max(float(value), 0.0)  # the distance is >= 0; a tiny negative is round-off


def gaussian_stats(features: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of an (N, D) feature array, in float64."""
    x = as_float64(features, 2, "features")
    stats = FeatureStats(x.shape[1])
    stats.update(x)
    return stats.mean, stats.covariance


def fid_from_features(features1: Any, features2: Any) -> float:
    """FID between two (N, D) feature arrays.

    With at most D samples on each side (intra-FID: tens of images per class, 2048-d features)
    the covariances ``A^T A / (n1-1)`` and ``B^T B / (n2-1)`` of the centred data A, B have low
    rank and ``tr sqrt(S1 S2) = ||A B^T||_* / sqrt((n1-1)(n2-1))``: an (n1, n2) SVD replaces two
    (D, D) eigendecompositions, with the same result.
    """
    x1, x2 = as_float64(features1, 2, "features1"), as_float64(features2, 2, "features2")
    (n1, d), (n2, d2) = x1.shape, x2.shape
    if d != d2:
        raise ValueError(f"features differ in dimension: {d} vs {d2}")
    if n1 < 2 or n2 < 2:
        raise ValueError(f"FID needs at least 2 samples on each side, got {n1} and {n2}")
    if max(n1, n2) > d:
        return frechet_distance(*gaussian_stats(x1), *gaussian_stats(x2))
    a, b = x1 - x1.mean(axis=0), x2 - x2.mean(axis=0)  # (n1, D), (n2, D)
    singular = np.linalg.svd(a @ b.T, compute_uv=False)
    tr_sqrt = singular.sum() / np.sqrt((n1 - 1) * (n2 - 1))
    diff = x1.mean(axis=0) - x2.mean(axis=0)
    value = diff @ diff + (a * a).sum() / (n1 - 1) + (b * b).sum() / (n2 - 1) - 2 * tr_sqrt
    return max(float(value), 0.0)


def per_class_fid(real_features: Any, real_labels: Any, fake_features: Any, fake_labels: Any) -> dict[int, float]:
    """FID of each generated class against the real images of the same class, ``{class: fid}``.

    Every class present among the generated labels needs at least 2 samples on both sides.
    """
    real = as_float64(real_features, 2, "real_features")
    fake = as_float64(fake_features, 2, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake features differ in dimension: {real.shape[1]} vs {fake.shape[1]}")
    real_y = as_labels(real_labels, len(real), "real_labels")
    fake_y = as_labels(fake_labels, len(fake), "fake_labels")
    result: dict[int, float] = {}
    for c in np.unique(fake_y).tolist():
        n_real, n_fake = int((real_y == c).sum()), int((fake_y == c).sum())
        if n_real < 2 or n_fake < 2:
            raise ValueError(
                f"class {c} has {n_real} real and {n_fake} generated samples; intra-FID needs >= 2 of each"
            )
        result[int(c)] = fid_from_features(real[real_y == c], fake[fake_y == c])
    return result


def intra_fid(real_features: Any, real_labels: Any, fake_features: Any, fake_labels: Any) -> float:
    """Intra-FID: the mean over generated classes of FID(generated class c, real class c)."""
    per_class = per_class_fid(real_features, real_labels, fake_features, fake_labels)
    if not per_class:
        raise ValueError("intra-FID needs at least one class: got no generated samples")
    return float(np.mean(list(per_class.values())))
