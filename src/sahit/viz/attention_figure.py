"""Attention figures of any generator (and discriminator), as in SAGAN's Figures 1 and 5.

The maps come from the networks themselves, in image layout (``Generator.layer_attention``, see
:mod:`sahit.models.attention_capture` and :mod:`sahit.models.hit.token_maps`); this module picks query points, cuts each query's maps out of
what the layers returned (nothing is recomputed) and draws them. ``attention_figure(G, ...)``
does it all for any generator; a network without attention gets a one-line ValueError.

Per-pixel maps (SAGAN's self-attention, :class:`CapturedAttention`): ``attention_panels``
cuts each query's row, reshaped to the layer's key grid, and ``plot_attention`` draws one row
per (layer, image): the image with its query points, then one map per query.

Token maps (HiT, :class:`HiTLayerMaps`) are cut and drawn by :mod:`sahit.viz.hit_attention`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from ..models.attention_capture import CapturedAttention, attention_layers, capture_attention  # noqa: F401
from ..models.hit.token_maps import HiTLayerMaps
from ..runs import eval_mode
from .attention_drawing import (
    DPI,
    POINT_COLOURS,
    TITLE_INCHES,
    canvas,
    clean_axes,
    figure_pixels,
    heatmap,
    save_figure,
    select_points,
)
from .hit_attention import HiTPanel, hit_attention_panels, plot_hit_attention


def parse_points(specs: Sequence[str] | None) -> list[tuple[int, int]] | None:
    """``["auto"]`` or None -> None (choose automatically); ``["x,y", ...]`` -> pixel coordinates."""
    if not specs or list(specs) == ["auto"]:
        return None
    points = []
    for spec in specs:
        try:
            x, y = (int(v) for v in spec.split(","))
        except ValueError:
            raise ValueError(f"--points takes 'auto' or pixel positions x,y (e.g. 8,20), got {spec!r}") from None
        points.append((x, y))
    return points


@dataclass
class Panel:
    """One row of the figure: an image, its query points and the map of each query.

    points: query positions in image pixels (x, y), the centre of the query's cell.
    queries: query indices into the layer's rows.
    maps: (h, w) float arrays, ``attn[image, query]`` reshaped to the key grid: drawn as is.
    """

    layer: str
    image: int
    points: list[tuple[float, float]]
    queries: list[int]
    maps: list[np.ndarray]
    query_hw: tuple[int, int]
    key_hw: tuple[int, int]


def attention_panels(
    resolution: int,
    captured: dict[str, CapturedAttention],
    points: Sequence[tuple[int, int]] | None = None,
    num_points: int = 4,
) -> list[Panel]:
    """One panel per (layer, image): the query points and their maps (exact rows of ``attn``).

    ``points`` are pixel positions (x, y) in the ``resolution``-sized image, mapped to the
    query cell that contains them; None picks ``num_points`` per layer and image with
    :func:`select_points`.
    """
    if points is not None:
        for x, y in points:
            if not (0 <= x < resolution and 0 <= y < resolution):
                raise ValueError(f"point {x},{y} is outside the {resolution}x{resolution} image")
    panels = []
    for name, cap in captured.items():
        qh, qw = cap.query_hw
        for b in range(cap.attn.shape[0]):
            if points is None:
                queries = select_points(cap.attn[b], num_points)
            else:
                queries = [(y * qh // resolution) * qw + (x * qw // resolution) for x, y in points]
            centres = [((q % qw + 0.5) * resolution / qw, (q // qw + 0.5) * resolution / qh) for q in queries]
            maps = [cap.key_map(b, q).numpy().astype(np.float64) for q in queries]
            panels.append(Panel(name, b, centres, queries, maps, cap.query_hw, cap.key_hw))
    return panels


def figure_size(panels: Sequence[Panel]) -> tuple[int, int]:
    """(width, height) in pixels of the PNG that :func:`plot_attention` writes for ``panels``."""
    return figure_pixels(1 + max(len(p.maps) for p in panels), len(panels))


def plot_attention(
    images: torch.Tensor,
    panels: Sequence[Panel],
    title: str = "",
    path: str | Path | None = None,
    labels: torch.Tensor | None = None,
) -> Figure:
    """Draw ``panels`` over ``images`` ((B, 3, R, R) in [-1, 1]); returns the matplotlib figure.

    Column 0: the image with each query point marked in its colour. Then, per query, its
    attention map (nearest-neighbour upsampled to the image by ``imshow``'s extent, so the
    drawn array is the map itself) over a faded grey copy of the image. Written to ``path``
    (PNG, size :func:`figure_size`) when given. ``labels`` (B,) adds each image's class to its title.
    """
    if not panels:
        raise ValueError("nothing to draw: no attention maps")
    width, height = figure_size(panels)
    fig, grid, pictures, extent = canvas(images, len(panels), 1 + max(len(p.maps) for p in panels), width, height,
                                          0.3)
    fig.suptitle(title or "Self-attention maps", fontsize=12, y=1 - 0.25 * TITLE_INCHES * DPI / height)
    for row, panel in enumerate(panels):
        picture = pictures[panel.image]
        ax = fig.add_subplot(grid[row, 0])
        ax.imshow(picture, extent=extent, interpolation="nearest")
        label = "" if labels is None else f" (class {int(labels[panel.image])})"
        ax.set_title(f"{panel.layer} · image {panel.image}{label}\nqueries {panel.query_hw[0]}×{panel.query_hw[1]}, "
                     f"keys {panel.key_hw[0]}×{panel.key_hw[1]}", fontsize=7)
        for i, (x, y) in enumerate(panel.points):
            ax.plot(x, y, "o", ms=7, mfc=POINT_COLOURS[i % len(POINT_COLOURS)], mec="black", mew=1.0)
        clean_axes(ax)
        for i, (attention_map, (x, y)) in enumerate(zip(panel.maps, panel.points)):
            ax = fig.add_subplot(grid[row, 1 + i])
            heatmap(ax, picture.mean(-1), extent, attention_map, (x, y), POINT_COLOURS[i % len(POINT_COLOURS)])
            ax.set_title(f"query ({x:g}, {y:g}) px · max p={attention_map.max():.2f}", fontsize=7, color="black")
    save_figure(fig, path)
    return fig


@dataclass
class AttentionFigure:
    """Everything behind one attention figure: the images, the captured maps, the panels."""

    images: torch.Tensor
    labels: torch.Tensor | None
    captured: dict[str, CapturedAttention | HiTLayerMaps]
    panels: list[Panel] | list[HiTPanel]
    path: Path | None


HiTAttentionFigure = AttentionFigure  # the same figure record, whichever layout the maps have


@torch.no_grad()
def attention_figure(
    G: nn.Module,
    n: int = 2,
    classes: int | Sequence[int] | None = None,
    seed: int = 0,
    layers: Sequence[str] | None = None,
    points: Sequence[tuple[int, int]] | None = None,
    num_points: int = 4,
    D: nn.Module | None = None,
    path: str | Path | None = None,
    per_head: bool = False,
) -> AttentionFigure:
    """Generate ``n`` images from ``G`` and draw the attention maps its layers (and ``D``'s on them) return.

    Any generator: the maps come from ``G.layer_attention`` (and ``D.layer_attention``) in image layout; per-pixel
    maps (:class:`CapturedAttention`) are drawn one map per query, token maps (:class:`HiTLayerMaps`)
    as regional / dilated / global maps and cross-attention bars. Layer names are module names; D's get a
    ``D.`` prefix (``D.attention.0``). ``layers`` selects among them (default: all of G's, plus all of
    D's when ``D`` is given); ``per_head`` draws one row per head of multi-head maps.
    """
    g_layers, d_layers = _split_layers(G, D, layers)
    z, y = _inputs(G, n, classes, seed)
    with eval_mode(G):
        images, captured = G.layer_attention(z, y, layers=g_layers) if g_layers else (G(z, y), {})
    images = images.float().clamp(-1, 1)
    if d_layers:
        with eval_mode(D):
            _, d_maps = D.layer_attention(images, y, layers=d_layers)
        captured.update({f"D.{name}": maps for name, maps in d_maps.items()})
    images = images.cpu()
    if any(isinstance(maps, HiTLayerMaps) for maps in captured.values()):
        panels = hit_attention_panels(images.shape[-1], captured, points, num_points, per_head)
        plot, title = plot_hit_attention, HIT_TITLE
    else:
        if per_head:
            raise ValueError("--per-head is for multi-head attention maps (these layers have one head each)")
        panels, plot, title = attention_panels(images.shape[-1], captured, points, num_points), plot_attention, TITLE
    if path is not None:
        plot(images, panels, title=title, path=path, labels=y)
    return AttentionFigure(images, None if y is None else y.cpu(), captured, panels,
                           None if path is None else Path(path))


TITLE = "Self-attention maps: each query point (left) and where it attends (colour = probability)"
HIT_TITLE = ("HiT attention: each query point (left) and where it attends: regional (own block) and dilated "
             "(same offset in every block) heads, cross-attention over the latent tokens")


def _split_layers(G: nn.Module, D: nn.Module | None, layers: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """The layers of G and of D (without its ``D.`` prefix) to draw; one-line errors when there are none."""
    g_layers = G.attention_layer_names()
    d_layers = [] if D is None else D.attention_layer_names()
    if D is not None and not d_layers:
        raise ValueError(f"the discriminator ({type(D).__name__}) has no attention to draw (leave out --d)")
    if not g_layers and not d_layers:
        raise ValueError("this run's networks have no self-attention layers (g_attn_res / d_attn_res are empty)")
    if layers is not None:
        known = g_layers + [f"D.{name}" for name in d_layers]
        for name in layers:
            if name not in known:
                raise ValueError(f"no attention layer named {name!r}; choose from {', '.join(known) or 'none'}")
        return [name for name in layers if name in g_layers], [name[2:] for name in layers if name.startswith("D.")]
    if not g_layers:
        raise ValueError("the generator has no self-attention layers (g_attn_res is empty); try --d for D's")
    return g_layers, d_layers


def _inputs(G: nn.Module, n: int, classes: int | Sequence[int] | None, seed: int
            ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The seeded z and the labels of ``n`` images, on G's device."""
    device = next(G.parameters()).device
    y = G.sample_labels(n, classes)
    return G.sample_noise(n, seed).to(device), None if y is None else y.to(device)


def hit_attention_figure(
    G: nn.Module,
    n: int = 2,
    classes: int | Sequence[int] | None = None,
    seed: int = 0,
    layers: Sequence[str] | None = None,
    points: Sequence[tuple[int, int]] | None = None,
    num_points: int = 4,
    per_head: bool = False,
    path: str | Path | None = None,
) -> AttentionFigure:
    """:func:`attention_figure` of a generator without a discriminator (HiT's D is convolutional)."""
    return attention_figure(G, n, classes, seed, layers, points, num_points, path=path, per_head=per_head)
