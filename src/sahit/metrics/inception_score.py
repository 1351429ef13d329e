"""Inception Score (Salimans et al. 2016): exp E_x KL(p(y|x) || p(y)), over splits."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import log_softmax

from ._arrays import as_float64


def inception_score(probs: Any, splits: int = 10, *, from_logits: bool = False) -> tuple[float, float]:
    """Inception Score of class predictions: ``(mean, std)`` over ``splits`` consecutive chunks.

    ``probs``: (N, K) class probabilities (rows sum to 1), or logits with ``from_logits=True``.
    As in the original code, the samples are split in order (no shuffling) and the std is the
    population std of the per-split scores. Computed in float64.
    """
    x = as_float64(probs, 2, "probs")
    n = len(x)
    if not isinstance(splits, int) or splits < 1:
        raise ValueError(f"splits must be a positive integer, got {splits!r}")
    if n < splits:
        raise ValueError(f"the Inception Score over {splits} splits needs at least {splits} samples, got {n}")
    if from_logits:
        log_p = log_softmax(x, axis=1)
    else:
        if (x < 0).any() or not np.allclose(x.sum(axis=1), 1.0, atol=1e-3):
            raise ValueError("probs must be non-negative with rows summing to 1; pass from_logits=True for logits")
        x = x / x.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore"):
            log_p = np.log(x)  # -inf where p = 0; those terms count as 0 below
    p = np.exp(log_p)
    scores = []
    for i in range(splits):
        part_p = p[i * n // splits : (i + 1) * n // splits]  # (n_i, K)
        part_log_p = log_p[i * n // splits : (i + 1) * n // splits]
        marginal = part_p.mean(axis=0)  # p(y), (K,)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl_terms = np.where(part_p > 0, part_p * (part_log_p - np.log(marginal)), 0.0)
        scores.append(np.exp(kl_terms.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))
