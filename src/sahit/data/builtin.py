"""The built-in data set: procedural, class-conditional, mirror-symmetric shapes.

No files and no network. Image ``i`` of a data set with seed ``s`` is a pure function of
``(s, i)``. Classes differ in global geometry (number of arms or bars, holes, layout), not only
in colour, and are bold enough to tell apart at a glance even in a blurry sample. Every image
is exactly symmetric about its vertical axis (the left half is rendered, the right half is its
mirror), so a pixel must agree with the one farthest across the image:
``symmetry_error`` measures exactly that long-range consistency, which SAGAN's attention is
meant to buy.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

CLASS_NAMES = (
    "disk",
    "ring",
    "triangle",
    "hourglass",
    "plus",
    "snowman",
    "three-bars",
    "twin-disks",
    "arch",
    "diamond",
)


def symmetry_error(images: torch.Tensor) -> float:
    """Mean |x - mirror(x)| / 2 of images in [-1, 1], shape (n, 3, R, R): 0 when symmetric, 1/3 for uniform noise."""
    if images.dim() != 4:
        raise ValueError(f"expected images of shape (n, 3, R, R), got {tuple(images.shape)}")
    images = images.float()
    return ((images - images.flip(-1)).abs().mean() / 2).item()


def _bar(u: np.ndarray, v: np.ndarray, half_u: float, half_v: float) -> np.ndarray:
    """Signed inside-distance (positive inside) of an axis-aligned bar centred at the origin."""
    return np.minimum(half_u - np.abs(u), half_v - np.abs(v))


def _class_mask(kind: str, x: np.ndarray, dy: np.ndarray, size: float) -> np.ndarray:
    """Signed inside-distance of a class's shape; ``x`` from the vertical axis, ``dy`` from its centre."""
    r = np.sqrt(x * x + dy * dy)
    arm = 0.3 * size
    if kind == "disk":
        return size - r
    if kind == "ring":
        return np.minimum(size - r, r - 0.5 * size)
    if kind == "triangle":  # apex up, flat base
        return np.minimum(size * 0.8 - dy, (dy + size) * 0.5 - np.abs(x))
    if kind == "hourglass":  # two triangles meeting at their tips
        return np.minimum(size - np.abs(dy), np.abs(dy) * 0.9 + 0.08 * size - np.abs(x))
    if kind == "plus":
        return np.maximum(_bar(x, dy, arm, size), _bar(x, dy, size, arm))
    if kind == "snowman":  # a small disk standing on a large one
        top = 0.42 * size - np.sqrt(x * x + (dy + 0.58 * size) ** 2)
        return np.maximum(top, 0.6 * size - np.sqrt(x * x + (dy - 0.4 * size) ** 2))
    if kind == "three-bars":
        bar = 0.2 * size
        return np.max([_bar(x, dy - k * 2.4 * bar * 1.6, size, bar * 1.2) for k in (-1, 0, 1)], axis=0)
    if kind == "twin-disks":
        return 0.5 * size - np.sqrt((np.abs(x) - 0.6 * size) ** 2 + dy * dy)
    if kind == "arch":  # a U open at the top
        outer = np.where(dy > 0, size - r, size - np.abs(x))
        inner = np.where(dy > 0, r - 0.45 * size, np.abs(x) - 0.45 * size)
        return np.minimum(np.minimum(outer, inner), size - np.abs(dy))
    if kind == "diamond":  # a tall rhombus, pointed at top and bottom
        return size - (1.4 * np.abs(x) + np.abs(dy))
    raise AssertionError(kind)  # pragma: no cover - CLASS_NAMES and the branches above are one list


def render_shape(label: int, rng: np.random.Generator, resolution: int) -> np.ndarray:
    """One (3, R, R) float32 image in [-1, 1] of class ``label`` with random style from ``rng``."""
    half = resolution // 2
    # Pixel centres of the left half, in units of the image size, x measured from the axis.
    xs = (np.arange(half, dtype=np.float32) + 0.5 - half) / resolution  # negative: left half
    ys = (np.arange(resolution, dtype=np.float32) + 0.5) / resolution
    x, y = np.meshgrid(xs, ys)  # (R, R/2)

    size = rng.uniform(0.28, 0.38)
    cy = rng.uniform(0.5 - (0.47 - size), 0.5 + (0.47 - size))
    edge = 1.5 / resolution  # anti-aliasing width
    inside = _class_mask(CLASS_NAMES[label], x, y - cy, size)
    alpha = np.clip(inside / edge + 0.5, 0.0, 1.0)[None]  # (1, R, R/2)

    fg, top, bottom = rng.uniform(-1.0, 1.0, size=(3, 3, 1, 1)).astype(np.float32)
    fg = np.sign(fg) * (0.5 + 0.5 * np.abs(fg))  # keep the shape saturated enough to see
    # Backgrounds lean away from the shape's colour so every shape stands out.
    top, bottom = (np.clip(0.5 * c - 0.6 * fg, -1.0, 1.0) for c in (top, bottom))
    t = y[None]
    background = top * (1 - t) + bottom * t
    left = background * (1 - alpha) + fg * alpha
    return np.concatenate([left, left[:, :, ::-1]], axis=2).astype(np.float32)


class BuiltinShapes(Dataset):
    """Procedural mirror-symmetric shapes; item ``i`` is ``(image (3,R,R) in [-1,1], label)``.

    Labels cycle through the classes (``i % num_classes``), so any contiguous range is
    balanced; the style of each image comes from a generator seeded by ``(seed, i)``.
    """

    # Bumped whenever the images change, so caches of statistics never mix two versions.
    # 2: an H replaced a thin diagonal cross that small generators never learned;
    # 3: a snowman replaced the H, which they kept blending with the arch (U);
    # 4: a diamond replaced the T, which they kept blending with the plus (both drew T-like mushrooms).
    version = 4

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

    @property
    def labels(self) -> list[int]:
        """The label of every image (they cycle through the classes)."""
        return [i % self.num_classes for i in range(self.length)]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        label = index % self.num_classes
        rng = np.random.default_rng((self.seed, index))
        return torch.from_numpy(render_shape(label, rng, self.resolution)), label
