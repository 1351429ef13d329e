"""Sample grids written as PNG (low in the house: training writes them, viz and the CLI too)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

from .runs import atomic_path

MIN_CELL = 64  # small images are enlarged (nearest) so a grid is easy to look at


def save_grid(images: torch.Tensor, path: str | Path, nrow: int) -> Path:
    """Save images in [-1, 1], (n, 3, R, R), as a grid with ``nrow`` images per row."""
    images = images.detach().float().cpu().clamp(-1, 1)
    if images.shape[-1] < MIN_CELL:
        images = F.interpolate(images, scale_factor=MIN_CELL // images.shape[-1], mode="nearest")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, keep_suffix=True) as tmp:
        torchvision.utils.save_image(images * 0.5 + 0.5, tmp, nrow=nrow, padding=2, pad_value=1.0)
    return path
