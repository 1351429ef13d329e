"""k-NN manifold metrics: improved precision and recall (Kynkäänniemi et al. 2019) and
density and coverage (Naeem et al. 2020).

Each real (or fake) sample owns a ball whose radius is the distance to its k-th nearest
neighbour in its own set (itself excluded). Balls are closed (``<=``). Distances are
computed in float64 in row blocks, so memory stays bounded for 50k x 50k comparisons.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from ._arrays import as_float64

BLOCK_ELEMENTS = 2**24  # distances held at once (128 MiB in float64)


def _blocks(a: torch.Tensor, b: torch.Tensor) -> Iterator[tuple[slice, torch.Tensor]]:
    """Row blocks of the (len(a), len(b)) Euclidean distance matrix."""
    rows = max(1, BLOCK_ELEMENTS // max(1, len(b)))
    for start in range(0, len(a), rows):
        block = slice(start, start + rows)
        yield block, torch.cdist(a[block], b)


def knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of ``x`` to its k-th nearest other row, (N,)."""
    if len(x) <= k:
        raise ValueError(f"k={k} nearest neighbours need more than {k} samples, got {len(x)}")
    radii = torch.empty(len(x), dtype=x.dtype, device=x.device)
    for block, dist in _blocks(x, x):
        radii[block] = dist.kthvalue(k + 1, dim=1).values  # the smallest distance is the point itself
    return radii


def _inside_counts(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each point, how many of the balls B(centre_i, radius_i) contain it, (N_points,)."""
    counts = torch.empty(len(points), dtype=torch.int64, device=points.device)
    for block, dist in _blocks(points, centres):
        counts[block] = (dist <= radii[None, :]).sum(dim=1)
    return counts


def _pair(real: Any, fake: Any, k: int, device: str | torch.device | None) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    r, f = as_float64(real, 2, "real"), as_float64(fake, 2, "fake")
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"real and fake features differ in dimension: {r.shape[1]} vs {f.shape[1]}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.from_numpy(r).to(device), torch.from_numpy(f).to(device)


def precision_recall(
    real: Any, fake: Any, k: int = 3, *, device: str | torch.device | None = None
) -> tuple[float, float]:
    """Improved precision and recall, ``(precision, recall)``.

    precision: fraction of fake samples inside at least one real k-NN ball (fidelity);
    recall: fraction of real samples inside at least one fake k-NN ball (diversity).
    ``device``: where distances are computed (default: CUDA when available; 50k x 50k
    2048-d comparisons are slow on a CPU).
    """
    r, f = _pair(real, fake, k, device)
    precision = (_inside_counts(f, r, knn_radii(r, k)) > 0).double().mean().item()
    recall = (_inside_counts(r, f, knn_radii(f, k)) > 0).double().mean().item()
    return float(precision), float(recall)


def density_coverage(
    real: Any, fake: Any, k: int = 5, *, device: str | torch.device | None = None
) -> tuple[float, float]:
    """Density and coverage, ``(density, coverage)``.

    density: mean number of real k-NN balls containing a fake sample, divided by k (1 on
    average for identical distributions, unbounded above); coverage: fraction of real balls
    that contain at least one fake sample. ``device`` as for :func:`precision_recall`.
    """
    r, f = _pair(real, fake, k, device)
    radii = knn_radii(r, k)
    density = _inside_counts(f, r, radii).double().sum().item() / (k * len(f))
    nearest_fake = torch.empty(len(r), dtype=r.dtype, device=r.device)
    for block, dist in _blocks(r, f):
        nearest_fake[block] = dist.min(dim=1).values
    coverage = (nearest_fake <= radii).double().mean().item()
    return float(density), float(coverage)
