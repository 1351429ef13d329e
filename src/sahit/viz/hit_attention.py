"""HiT's attention figures: per query, its regional map over its own block and its dilated map over the tokens at
its offset in every block, both placed on the image by the model (``HiTLayerMaps.query_maps``), and its
cross-attention over the latent tokens; :func:`hit_attention_panels` cuts them, :func:`plot_hit_attention`
draws them. :func:`sahit.viz.attention_figure.attention_figure` picks this layout for token maps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from ..models.hit.token_maps import HiTLayerMaps
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

# ------------------------------------------------------------------------------ HiT
#
# HiT's maps come from ``G.layer_attention(z, y)``: every multi-axis / global / cross layer runs its
# explicit matmul-softmax path and hands back its own probabilities. A query is one token of a
# layer's S x S map (the cell holding the query pixel); ``HiTLayerMaps.query_maps`` places its rows
# on that map with the layer's own inverse reshape -- a permutation, so every drawn value is one
# the layer returned and every other cell is exactly 0.

HIT_CANDIDATE_GRID = 32  # auto points are chosen among at most 32 x 32 cells
HIT_POOL_GRID = 32  # maps are sum-pooled to at most 32 x 32 when comparing candidates


def hit_attention_layers(G: nn.Module) -> list[str]:
    """Module names of every attention layer of a HiT generator, in execution order."""
    return G.attention_layer_names()


def capture_hit_attention(
    G: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None, layers: Sequence[str] | None = None
) -> tuple[torch.Tensor, dict[str, HiTLayerMaps]]:
    """Images (B, 3, R, R) and each selected layer's own probabilities (``G.layer_attention``)."""
    return G.layer_attention(z, y, layers=layers)


def hit_query_cells(resolution: int, size: int, points: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """(row, col) of the token of an S x S map (S = ``size``) that holds each pixel (x, y)."""
    return [(y * size // resolution, x * size // resolution) for x, y in points]


def hit_query_maps(maps: HiTLayerMaps, image: int, cells: Sequence[tuple[int, int]],
                   head: int | None = None) -> dict[str, torch.Tensor]:
    """The maps of the queries at ``cells`` of image ``image`` on the S x S map (:meth:`HiTLayerMaps.query_maps`)."""
    return maps.query_maps(image, cells, head)


def select_hit_points(resolution: int, captured: dict[str, HiTLayerMaps], image: int, k: int) -> list[tuple[int, int]]:
    """``k`` query pixels (x, y) of image ``image`` whose maps, over all ``captured`` layers, differ most.

    Candidates are the cells of the finest selected layer (at most 32 x 32), each at its centre
    pixel. A candidate is described by all its head-averaged maps (each sum-pooled to at most
    32 x 32), every map one distribution, concatenated and divided by their number; then
    :func:`select_points` picks the ``k`` most different ones (total variation).
    """
    grid = min(max(m.size for m in captured.values()), HIT_CANDIDATE_GRID, resolution)
    pixels = [(int((c + 0.5) * resolution / grid), int((r + 0.5) * resolution / grid))
              for r in range(grid) for c in range(grid)]
    features = []
    for maps in captured.values():
        for array in maps.query_maps(image, hit_query_cells(resolution, maps.size, pixels)).values():
            if array.dim() == 3 and array.shape[-1] > HIT_POOL_GRID:
                f = array.shape[-1] // HIT_POOL_GRID
                array = array.reshape(len(pixels), HIT_POOL_GRID, f, HIT_POOL_GRID, f).sum((2, 4))
            features.append(array.reshape(len(pixels), -1))
    rows = torch.cat(features, 1) / len(features)  # (candidates, features), rows sum to 1
    return [pixels[i] for i in select_points(rows, k)]


@dataclass
class HiTPanel:
    """One row of a HiT figure: one layer (and head), one image, the maps of every query point.

    points: the query pixels (x, y) asked; cells: each one's token (row, col) in the S x S map.
    maps: per kind (``regional`` and ``dilated``, or ``global``: (S, S); ``cross``: (M,)), one
    float64 array per query: exactly the arrays drawn.
    head: None = mean over heads; j = regional head j and dilated head h/2 + j (multi-axis), head j otherwise.
    num_heads: heads per map (h/2 for multi-axis, h otherwise).
    """

    layer: str
    kind: str
    image: int
    head: int | None
    num_heads: int
    size: int
    block_size: int | None
    points: list[tuple[int, int]]
    cells: list[tuple[int, int]]
    maps: dict[str, list[np.ndarray]]

    def centre(self, i: int, resolution: int) -> tuple[float, float]:
        """Image-pixel centre (x, y) of query ``i``'s token."""
        r, c = self.cells[i]
        return (c + 0.5) * resolution / self.size, (r + 0.5) * resolution / self.size


def hit_attention_panels(
    resolution: int,
    captured: dict[str, HiTLayerMaps],
    points: Sequence[tuple[int, int]] | None = None,
    num_points: int = 4,
    per_head: bool = False,
) -> list[HiTPanel]:
    """Rows of the figure, image by image, layer by layer (one per head with ``per_head``).

    ``points`` are pixels (x, y) of the ``resolution``-sized image, shared by all layers; None
    picks ``num_points`` per image with :func:`select_hit_points`.
    """
    if not captured:
        raise ValueError("nothing to draw: no attention layers selected")
    if points is not None:
        for x, y in points:
            if not (0 <= x < resolution and 0 <= y < resolution):
                raise ValueError(f"point {x},{y} is outside the {resolution}x{resolution} image")
    batch = next(iter(next(iter(captured.values())).attn.values())).shape[0]
    panels = []
    for image in range(batch):
        chosen = list(points) if points is not None else select_hit_points(resolution, captured, image, num_points)
        for name, maps in captured.items():
            cells = hit_query_cells(resolution, maps.size, chosen)
            for head in range(maps.num_heads) if per_head else [None]:
                arrays = maps.query_maps(image, cells, head)
                panels.append(HiTPanel(
                    name, maps.kind, image, head, maps.num_heads, maps.size, maps.block_size, chosen, cells,
                    {kind: [a.numpy().astype(np.float64) for a in array] for kind, array in arrays.items()},
                ))
    return panels


def hit_figure_size(panels: Sequence[HiTPanel]) -> tuple[int, int]:
    """(width, height) in pixels of the PNG that :func:`plot_hit_attention` writes for ``panels``."""
    return figure_pixels(1 + 2 * max(len(p.points) for p in panels), len(panels))


def plot_hit_attention(
    images: torch.Tensor,
    panels: Sequence[HiTPanel],
    title: str = "",
    path: str | Path | None = None,
    labels: torch.Tensor | None = None,
) -> Figure:
    """Draw HiT ``panels`` over ``images`` ((B, 3, R, R) in [-1, 1]); returns the matplotlib figure.

    Column 0: the image, each query point in its colour (and, for multi-axis rows, the outline
    of its b x b block). Then two columns per query: its regional and dilated maps (S x S,
    stretched to the image by ``imshow``'s extent, nearest neighbour, so the drawn array is the
    map itself) over a faded grey copy of the image; a global map, or a cross row's bar chart
    of the attention over the M latent tokens (bar heights = the map), spans both.
    """
    if not panels:
        raise ValueError("nothing to draw: no attention maps")
    width, height = hit_figure_size(panels)
    cols = 1 + 2 * max(len(p.points) for p in panels)
    fig, grid, pictures, extent = canvas(images, len(panels), cols, width, height, 0.45)
    title = title or "HiT attention maps"
    fits = 0.95 * width * 72 / (0.55 * DPI * len(title))  # largest font (pt) that keeps the title on one line
    fig.suptitle(title, fontsize=max(7.0, min(12.0, fits)), wrap=True, va="top",
                 y=1 - 0.15 * TITLE_INCHES * DPI / height)
    for row, panel in enumerate(panels):
        picture = pictures[panel.image]
        label = "" if labels is None else f" (class {int(labels[panel.image])})"
        _hit_image_cell(fig.add_subplot(grid[row, 0]), panel, picture, extent, label)
        for i in range(len(panel.points)):
            kinds = list(panel.maps)
            span = 2 // len(kinds)
            for j, kind in enumerate(kinds):
                ax = fig.add_subplot(grid[row, 1 + 2 * i + j * span: 1 + 2 * i + (j + 1) * span])
                _hit_map_cell(ax, panel, i, kind, picture.mean(-1), extent)
    save_figure(fig, path)
    return fig


def _hit_image_cell(ax, panel: HiTPanel, picture: np.ndarray, extent: tuple, label: str) -> None:
    """Column 0 of a HiT row: the image, each query point in its colour (and its block's outline)."""
    from matplotlib.patches import Rectangle

    resolution = extent[1]
    cell = resolution / panel.size
    ax.imshow(picture, extent=extent, interpolation="nearest")
    if panel.kind == "cross":
        what = f"cross to {len(panel.maps['cross'][0])} latents"
    else:
        what = "global" if panel.kind == "global" else f"multi-axis, blocks {panel.block_size}×{panel.block_size}"
    heads = "" if panel.head is None else f" · head {panel.head}"
    if panel.head is not None and panel.kind == "multi_axis":
        heads = f" · heads {panel.head}, {panel.head + panel.num_heads}"
    ax.set_title(f"{panel.layer}{heads} · image {panel.image}{label}\n{panel.size}×{panel.size} tokens, {what}",
                 fontsize=7)
    for i in range(len(panel.points)):
        colour = POINT_COLOURS[i % len(POINT_COLOURS)]
        x, y = panel.centre(i, resolution)
        if panel.kind == "multi_axis":
            b = panel.block_size
            r, c = panel.cells[i]
            ax.add_patch(Rectangle((c // b * b * cell, r // b * b * cell), b * cell, b * cell, fill=False,
                                   edgecolor=colour, lw=1.5))
        ax.plot(x, y, "o", ms=7, mfc=colour, mec="black", mew=1.0)
    clean_axes(ax)


def _hit_map_cell(ax, panel: HiTPanel, i: int, kind: str, grey: np.ndarray, extent: tuple) -> None:
    """Query ``i``'s ``kind`` map: a heat map on the image, or a bar chart over the latent tokens (cross)."""
    colour = POINT_COLOURS[i % len(POINT_COLOURS)]
    attention_map = panel.maps[kind][i]
    if kind != "cross":
        heatmap(ax, grey, extent, attention_map, panel.centre(i, extent[1]), colour)
        if panel.head is None:
            head = "mean"
        else:  # the layer's head number: dilated heads come after the h/2 regional ones
            head = f"head {panel.head + (panel.num_heads if kind == 'dilated' else 0)}"
        where = "own block" if kind == "regional" else "same offset" if kind == "dilated" else "all"
        ax.set_title(f"{kind} ({where}) · {head}\nmax p={attention_map.max():.2f}", fontsize=6)
        return
    ax.bar(np.arange(len(attention_map)), attention_map, color=colour, edgecolor="black", lw=0.5)
    ax.set_xlim(-0.6, len(attention_map) - 0.4)
    ax.set_ylim(0, max(float(attention_map.max()) * 1.1, 1e-12))
    ax.set_xlabel("latent token", fontsize=6, labelpad=1)
    ax.tick_params(labelsize=5, length=2, pad=1)
    head = "mean of heads" if panel.head is None else f"head {panel.head}"
    px, py = panel.points[i]
    ax.set_title(f"query ({px}, {py}) px · {head} · max p={attention_map.max():.2f}", fontsize=7)
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(1.5)
