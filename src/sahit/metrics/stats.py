"""Streaming feature statistics (float64) and reference statistics stored in ``.npz`` files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..runs import atomic_path
from ._arrays import as_float64, as_labels

STATS_FORMAT_VERSION = 1


class FeatureStats:
    """Accumulates the mean and covariance of feature vectors over batches, in float64.

    Keeps the sum and the sum of outer products of ``x - shift`` (the shift is the first
    batch's mean, which keeps the one-pass formula accurate when features have a large mean).

    >>> stats = FeatureStats(2048)
    >>> for batch in batches:            # (B, 2048) numpy arrays or torch tensors
    ...     stats.update(batch)
    >>> mu, sigma = stats.mean, stats.covariance
    """

    def __init__(self, dim: int) -> None:
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.dim = dim
        self.n = 0
        self._shift: np.ndarray | None = None
        self._sum = np.zeros(dim, dtype=np.float64)
        self._sum_outer = np.zeros((dim, dim), dtype=np.float64)

    def update(self, features: Any) -> None:
        """Add a batch of feature vectors, shape (B, dim)."""
        x = as_float64(features, 2, "features")
        if x.shape[1] != self.dim:
            raise ValueError(f"features have dimension {x.shape[1]}, these statistics expect {self.dim}")
        if len(x) == 0:
            return
        if self._shift is None:
            self._shift = x.mean(axis=0)
        x = x - self._shift  # (B, D)
        self.n += len(x)
        self._sum += x.sum(axis=0)
        self._sum_outer += x.T @ x

    @classmethod
    def combine(cls, parts: Sequence[FeatureStats]) -> FeatureStats:
        """The statistics of all the parts' vectors together, as if one object had seen them all.

        Each part's sums are about its own shift; they are moved onto the first non-empty part's
        shift (x - s = (x - s_p) + (s_p - s)), which is exact up to float64 rounding.
        """
        if not parts:
            raise ValueError("combine needs at least one FeatureStats")
        out = cls(parts[0].dim)
        for part in parts:
            if part.dim != out.dim:
                raise ValueError(f"cannot combine statistics of dimension {part.dim} with {out.dim}")
            if part.n == 0:
                continue
            assert part._shift is not None
            if out._shift is None:
                out._shift = part._shift.copy()
            delta = part._shift - out._shift  # (D,)
            out.n += part.n
            out._sum += part._sum + part.n * delta
            out._sum_outer += (part._sum_outer + np.outer(delta, part._sum) + np.outer(part._sum, delta)
                               + part.n * np.outer(delta, delta))
        return out

    @property
    def mean(self) -> np.ndarray:
        """Mean feature vector, (dim,) float64."""
        if self.n == 0:
            raise ValueError("no features were added: the mean is undefined")
        assert self._shift is not None
        return self._shift + self._sum / self.n

    @property
    def covariance(self) -> np.ndarray:
        """Unbiased covariance (divides by n - 1, like ``np.cov``), (dim, dim) float64."""
        if self.n < 2:
            raise ValueError(f"the covariance needs at least 2 feature vectors, got {self.n}")
        centred_mean = self._sum / self.n
        cov = (self._sum_outer - self.n * np.outer(centred_mean, centred_mean)) / (self.n - 1)
        return (cov + cov.T) / 2


@dataclass
class ReferenceStats:
    """Statistics of a reference (real) image set under one feature extractor.

    ``features`` and ``labels`` are kept when KID, precision/recall or intra-FID need them.
    ``meta`` records where the numbers come from: data spec, split, resolution, extractor
    name and weights hash, number of samples.
    """

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    features: np.ndarray | None = None
    labels: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mu = as_float64(self.mu, 1, "mu")
        self.sigma = as_float64(self.sigma, 2, "sigma")
        d = len(self.mu)
        if self.sigma.shape != (d, d):
            raise ValueError(f"sigma must have shape ({d}, {d}) to match mu, got {self.sigma.shape}")
        if self.features is not None:
            self.features = np.asarray(self.features, dtype=np.float32)
            if self.features.ndim != 2 or self.features.shape[1] != d:
                raise ValueError(f"features must have shape (N, {d}), got {self.features.shape}")
        if self.labels is not None:
            if self.features is None:
                raise ValueError("labels were given without the features they label")
            self.labels = as_labels(self.labels, len(self.features), "labels")

    @classmethod
    def from_features(
        cls, features: Any, labels: Any = None, keep_features: bool = True, meta: dict[str, Any] | None = None
    ) -> ReferenceStats:
        """Statistics of a whole (N, D) feature array."""
        x = as_float64(features, 2, "features")
        stats = FeatureStats(x.shape[1])
        stats.update(x)
        return cls(
            mu=stats.mean,
            sigma=stats.covariance,
            n=stats.n,
            features=x if keep_features else None,
            labels=labels if keep_features else None,
            meta=dict(meta or {}),
        )


def save_stats(stats: ReferenceStats, path: str | Path) -> Path:
    """Write reference statistics to an ``.npz`` file (no pickles); returns the path written."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"reference statistics are stored as .npz files, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {
        "mu": stats.mu,
        "sigma": stats.sigma,
        "n": np.asarray(stats.n, dtype=np.int64),
        "meta": np.asarray(json.dumps({"format_version": STATS_FORMAT_VERSION, **stats.meta}, sort_keys=True)),
    }
    if stats.features is not None:
        arrays["features"] = stats.features
    if stats.labels is not None:
        arrays["labels"] = stats.labels
    with atomic_path(path, keep_suffix=True) as tmp:
        np.savez(tmp, **arrays)
    return path


def load_stats(path: str | Path) -> ReferenceStats:
    """Read reference statistics written by :func:`save_stats` (``np.load`` with ``allow_pickle=False``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no reference statistics at {str(path)!r}; make them with `sahit stats`")
    with np.load(path, allow_pickle=False) as data:
        missing = {"mu", "sigma", "n", "meta"} - set(data.files)
        if missing:
            raise ValueError(f"{str(path)!r} is not a sahit statistics file: missing {sorted(missing)}")
        meta = json.loads(str(data["meta"]))
        version = meta.pop("format_version", None)
        if version != STATS_FORMAT_VERSION:
            raise ValueError(f"{str(path)!r} has statistics format {version}, this sahit reads {STATS_FORMAT_VERSION}")
        return ReferenceStats(
            mu=data["mu"],
            sigma=data["sigma"],
            n=int(data["n"]),
            features=data["features"] if "features" in data.files else None,
            labels=data["labels"] if "labels" in data.files else None,
            meta=meta,
        )


@dataclass
class FeatureSet:
    """Features of one image set: streaming mean / covariance, and optionally every vector."""

    stats: FeatureStats
    features: np.ndarray | None  # (N, D) float32
    logits: np.ndarray | None  # (N, K) float32
    labels: np.ndarray | None  # (N,) int64

    @property
    def n(self) -> int:
        return self.stats.n
