"""The built-in data set: procedural, class-conditional, mirror-symmetric shapes.

No files and no network. Image ``i`` of a data set with seed ``s`` is a pure function of
``(s, i)``. Classes differ in global geometry (number of sides or arms, layout), not only in
colour. Every image is exactly symmetric about its vertical axis (the left half is rendered,
the right half is its mirror), so a pixel must agree with the one farthest across the image:
``symmetry_error`` measures exactly that long-range consistency, which SAGAN's attention is
meant to buy.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset

CLASS_NAMES = (
    "triangle",
    "square",
    "pentagon",
    "hexagon",
    "disk",
    "star-5",
    "ring",
    "cross",
    "twin-disks",
    "stacked-bars",
)


def symmetry_error(images: torch.Tensor) -> float:
    """Mean |x - mirror(x)| / 2 of images in [-1, 1], shape (n, 3, R, R): 0 when symmetric, 1/3 for uniform noise."""
    if images.dim() != 4:
        raise ValueError(f"expected images of shape (n, 3, R, R), got {tuple(images.shape)}")
    images = images.float()
    return ((images - images.flip(-1)).abs().mean() / 2).item()


def _polygon_radius(theta: np.ndarray, sides: int) -> np.ndarray:
    """Boundary radius (unit circumradius) of a regular polygon with a vertex at the top."""
    sector = 2 * math.pi / sides
    local = np.mod(theta, sector) - sector / 2
    return math.cos(math.pi / sides) / np.cos(local)


def render_shape(label: int, rng: np.random.Generator, resolution: int) -> np.ndarray:
    """One (3, R, R) float32 image in [-1, 1] of class ``label`` with random style from ``rng``."""
    half = resolution // 2
    # Pixel centres of the left half, in units of the image size, x measured from the axis.
    xs = (np.arange(half, dtype=np.float32) + 0.5 - half) / resolution  # negative: left half
    ys = (np.arange(resolution, dtype=np.float32) + 0.5) / resolution
    x, y = np.meshgrid(xs, ys)  # (R, R/2)

    size = rng.uniform(0.22, 0.34)
    cy = rng.uniform(0.5 - (0.45 - size), 0.5 + (0.45 - size))
    edge = 1.5 / resolution  # anti-aliasing width
    dy = y - cy
    r = np.sqrt(x * x + dy * dy)
    theta = np.arctan2(x, -dy)  # 0 at the top, symmetric in x
    kind = CLASS_NAMES[label]
    if kind in ("triangle", "square", "pentagon", "hexagon"):
        sides = ("triangle", "square", "pentagon", "hexagon").index(kind) + 3
        inside = size * _polygon_radius(theta, sides) - r
    elif kind == "disk":
        inside = size - r
    elif kind == "star-5":
        inside = size * (0.62 + 0.38 * np.cos(5 * theta)) - r
    elif kind == "ring":
        inside = np.minimum(size - r, r - 0.55 * size)
    elif kind == "cross":
        arm = 0.3 * size
        inside = np.maximum(np.minimum(arm - np.abs(x), size - np.abs(dy)), np.minimum(arm - np.abs(dy), size - np.abs(x)))
    elif kind == "twin-disks":
        gap = rng.uniform(0.45, 0.8) * size
        rr = 0.55 * size
        inside = rr - np.sqrt((x + gap) ** 2 + dy * dy)
    elif kind == "stacked-bars":
        bar = 0.22 * size
        inside = np.minimum(size - np.abs(x), np.max([bar - np.abs(dy - k * 2.2 * bar) for k in (-1, 0, 1)], axis=0))
    else:  # pragma: no cover - CLASS_NAMES and the branches above are one list
        raise AssertionError(kind)
    alpha = np.clip(inside / edge + 0.5, 0.0, 1.0)[None]  # (1, R, R/2)

    top, bottom, fg = rng.uniform(-1.0, 1.0, size=(3, 3, 1, 1)).astype(np.float32)
    fg = np.sign(fg) * (0.5 + 0.5 * np.abs(fg))  # keep the shape saturated enough to see
    t = y[None]
    background = top * (1 - t) + bottom * t
    left = background * (1 - alpha) + fg * alpha
    return np.concatenate([left, left[:, :, ::-1]], axis=2).astype(np.float32)


class BuiltinShapes(Dataset):
    """Procedural mirror-symmetric shapes; item ``i`` is ``(image (3,R,R) in [-1,1], label)``.

    Labels cycle through the classes (``i % num_classes``), so any contiguous range is
    balanced; the style of each image comes from a generator seeded by ``(seed, i)``.
    """

    def __init__(self, resolution: int = 32, length: int = 50_000, seed: int = 0, num_classes: int = 10) -> None:
        if resolution < 16 or resolution > 256 or resolution & (resolution - 1):
            raise ValueError(f"built-in data resolution must be a power of two in 16..256, got {resolution}")
        if not 1 <= num_classes <= len(CLASS_NAMES):
            raise ValueError(f"built-in data has 1..{len(CLASS_NAMES)} classes, got {num_classes}")
        if length < 1:
            raise ValueError(f"length must be positive, got {length}")
        self.resolution, self.length, self.seed, self.num_classes = resolution, length, seed, num_classes
        self.classes = list(CLASS_NAMES[:num_classes])

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        label = index % self.num_classes
        rng = np.random.default_rng((self.seed, index))
        return torch.from_numpy(render_shape(label, rng, self.resolution)), label
