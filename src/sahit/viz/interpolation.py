"""Latent and class interpolations: grids and animated GIFs.

The latent path runs through the latents of ``seeds`` (z of seed s is the z of
``G.sample(1, seed=s)``), by slerp (default; keeps Gaussian samples at a typical norm) or lerp,
with the same z path drawn for every class asked for (one block of rows per class).

The class path (:func:`class_interpolation`, as in StudioGAN) keeps z fixed and moves the class
from ``a`` to ``b``: the generator gets class weights ``(1 - t) onehot(a) + t onehot(b)``, which
mixes its class embeddings linearly (SAGAN's conditional-BN gains and biases, HiT's class
embedding). Only generators that declare ``soft_classes = True`` take such weights; others are
refused rather than faked.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from ..models.base import truncated_noise
from ..runs import eval_mode

METHODS = ("slerp", "lerp")
CELL_INCHES = 0.9
LABEL_INCHES = 1.3
TITLE_INCHES = 0.45
DPI = 100
GIF_MIN_CELL = 128


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(D,), (D,), (T,) -> (T, D): straight line from a to b."""
    t = t[:, None]
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(D,), (D,), (T,) -> (T, D): spherical interpolation (great circle, norms interpolated linearly)."""
    a64, b64, t64 = a.double(), b.double(), t.double()[:, None]
    cos = torch.dot(a64, b64) / (a64.norm() * b64.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1, 1))
    if omega.abs() < 1e-6:  # (anti)parallel: the great circle is not defined, the line is fine
        return lerp(a, b, t)
    so = torch.sin(omega)
    out = (torch.sin((1 - t64) * omega) / so) * a64 + (torch.sin(t64 * omega) / so) * b64
    return out.to(a.dtype)


def seed_latent(seed: int, z_dim: int, truncation: float | None = None) -> torch.Tensor:
    """z (z_dim,) of ``seed``: the same z as ``G.sample(1, seed=seed, truncation=truncation)``."""
    return truncated_noise(1, z_dim, truncation, torch.Generator().manual_seed(seed))[0]


def latent_path(seeds: Sequence[int], z_dim: int, steps: int, method: str = "slerp") -> torch.Tensor:
    """(segments, steps, z_dim): ``steps`` latents from each seed's z to the next seed's (ends included)."""
    if method not in METHODS:
        raise ValueError(f"interpolation method must be one of {', '.join(METHODS)}, got {method!r}")
    if len(seeds) < 2:
        raise ValueError(f"give at least two seeds to interpolate between, got {list(seeds)}")
    if steps < 2:
        raise ValueError(f"--steps must be at least 2, got {steps}")
    latents = [seed_latent(s, z_dim) for s in seeds]
    t = torch.linspace(0, 1, steps)
    fn = slerp if method == "slerp" else lerp
    return torch.stack([fn(a, b, t) for a, b in itertools.pairwise(latents)])


@dataclass
class Interpolation:
    """images: (classes, segments, steps, 3, R, R) in [-1, 1]; one row per (class, segment).

    ``title`` and ``row_labels`` (one per row) replace the latent path's defaults in the figure.
    """

    images: torch.Tensor
    seeds: list[int]
    classes: list[int | None]
    method: str
    title: str | None = None
    row_labels: list[str] | None = None


@torch.no_grad()
def interpolate(
    G: nn.Module,
    seeds: Sequence[int] = (0, 1),
    classes: Sequence[int] | None = None,
    steps: int = 8,
    method: str = "slerp",
) -> Interpolation:
    """Generate the interpolation of z through ``seeds`` for each class in ``classes``.

    ``classes`` defaults to None for an unconditional G and to its first (up to 10) classes
    otherwise.
    """
    if G.num_classes == 0:
        if classes:
            raise ValueError("this generator is unconditional: leave out --class/--classes")
        class_list: list[int | None] = [None]
    else:
        class_list = list(classes) if classes else list(range(min(G.num_classes, 10)))
        for k in class_list:
            if not 0 <= k < G.num_classes:
                raise ValueError(f"class {k} is out of range: allowed 0..{G.num_classes - 1}")
    path = latent_path(list(seeds), G.z_dim, steps, method)  # (S, T, D)
    segments = path.shape[0]
    device = next(G.parameters()).device
    with eval_mode(G):
        rows = []
        for k in class_list:
            z = path.reshape(-1, G.z_dim).to(device)
            y = None if k is None else torch.full((len(z),), k, dtype=torch.long, device=device)
            rows.append(G(z, y).float().clamp(-1, 1).cpu().view(segments, steps, 3, G.resolution, G.resolution))
    return Interpolation(torch.stack(rows), list(seeds), class_list, method)


@torch.no_grad()
def class_interpolation(
    G: nn.Module,
    class_a: int,
    class_b: int,
    seeds: Sequence[int] = (0,),
    steps: int = 8,
    truncation: float | None = None,
) -> Interpolation:
    """From class ``class_a`` to ``class_b`` at fixed z, one row per seed; images (seeds, 1, steps, 3, R, R).

    The ends equal ``G.sample(1, classes=class_a (or class_b), seed=seed, truncation=truncation)``.
    """
    if not G.num_classes:
        raise ValueError("class interpolation needs a class-conditional generator; this one is unconditional")
    if not getattr(G, "soft_classes", False):
        raise ValueError(f"{type(G).__name__} cannot take a mix of classes (it does not declare soft_classes): "
                         "draw each class at fixed z with --classes instead")
    for k in (class_a, class_b):
        if not 0 <= k < G.num_classes:
            raise ValueError(f"class {k} is out of range: allowed 0..{G.num_classes - 1}")
    if steps < 2:
        raise ValueError(f"--steps must be at least 2, got {steps}")
    if not seeds:
        raise ValueError("give at least one seed")
    t = torch.linspace(0, 1, steps)[:, None]
    ends = F.one_hot(torch.tensor([class_a, class_b]), G.num_classes).float()
    weights = (1 - t) * ends[0] + t * ends[1]  # (T, K); the first and last rows are exactly one-hot
    device = next(G.parameters()).device
    with eval_mode(G):
        rows = []
        for seed in seeds:
            z = seed_latent(seed, G.z_dim, truncation).expand(steps, -1).to(device)
            rows.append(G(z, weights.to(device)).float().clamp(-1, 1).cpu())
    images = torch.stack(rows)[:, None]  # (seeds, 1, T, 3, R, R)
    return Interpolation(images, list(seeds), [class_a] * len(seeds), "class",
                         title=f"Class interpolation: class {class_a} → {class_b} at fixed z ({steps} steps)",
                         row_labels=[f"seed {s}" for s in seeds])


def figure_size(interp: Interpolation) -> tuple[int, int]:
    """(width, height) in pixels of the PNG :func:`plot_interpolation` writes."""
    n_classes, segments, steps = interp.images.shape[:3]
    return (round((LABEL_INCHES + steps * CELL_INCHES) * DPI),
            round((TITLE_INCHES + n_classes * segments * CELL_INCHES) * DPI))


def plot_interpolation(interp: Interpolation, path: str | Path | None = None):
    """A grid, one row per (class, seed pair), labelled; returns the figure, saved to ``path`` if given."""
    n_classes, segments, steps = interp.images.shape[:3]
    width, height = figure_size(interp)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    left = LABEL_INCHES * DPI / width
    top = 1 - TITLE_INCHES * DPI / height
    grid = fig.add_gridspec(n_classes * segments, steps, left=left, right=0.995, bottom=0.005, top=top,
                            wspace=0.04, hspace=0.04)
    title = interp.title or f"Latent interpolation ({interp.method} in z, {steps} steps per pair of seeds)"
    fig.suptitle(title, fontsize=11, y=1 - 0.3 * TITLE_INCHES * DPI / height)
    pictures = (interp.images * 0.5 + 0.5).permute(0, 1, 2, 4, 5, 3).numpy()
    for c, k in enumerate(interp.classes):
        for s in range(segments):
            row = c * segments + s
            for t in range(steps):
                ax = fig.add_subplot(grid[row, t])
                ax.imshow(pictures[c, s, t], interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if t == 0:
                    if interp.row_labels is not None:
                        label = interp.row_labels[row]
                    else:
                        label = f"seed {interp.seeds[s]} → {interp.seeds[s + 1]}"
                        label = label if k is None else f"class {k}\n{label}"
                    ax.set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center", labelpad=6)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)
    return fig


def save_gif(interp: Interpolation, path: str | Path, frame_ms: int = 80) -> Path:
    """An animated GIF going along the z path and back (a seamless loop), one column per class."""
    from PIL import Image

    images = interp.images  # (K, S, T, 3, R, R)
    n_classes, segments, steps, _, r, _ = images.shape
    frames = images.permute(1, 2, 0, 3, 4, 5).reshape(segments * steps, n_classes, 3, r, r)
    keep = [i for i in range(len(frames)) if i % steps != 0 or i == 0]  # drop repeated segment ends
    frames = frames[keep]
    frames = torch.cat([frames, frames.flip(0)[1:-1]])  # there and back
    scale = max(1, GIF_MIN_CELL // r)
    pil_frames = []
    for frame in frames:
        row = torch.cat(list(frame), dim=-1)  # (3, R, K*R)
        array = ((row * 0.5 + 0.5).clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        array = np.repeat(np.repeat(array, scale, axis=0), scale, axis=1)
        pil_frames.append(Image.fromarray(array))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pil_frames[0].save(path, save_all=True, append_images=pil_frames[1:], duration=frame_ms, loop=0)
    return path
