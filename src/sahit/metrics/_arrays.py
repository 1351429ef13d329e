"""Turning numpy arrays and torch tensors into float64 numpy arrays, with shape checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def as_float64(x: Any, ndim: int, name: str) -> np.ndarray:
    """``x`` (numpy array, torch tensor or nested list) as a float64 numpy array with ``ndim`` dimensions."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def as_labels(y: Any, n: int, name: str) -> np.ndarray:
    """Integer class labels of shape (n,) as an int64 numpy array."""
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    arr = np.asarray(y)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be integers, got {arr.dtype}")
    return arr.astype(np.int64)
