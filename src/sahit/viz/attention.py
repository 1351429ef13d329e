"""Attention figures of any generator (and discriminator), as in SAGAN's Figures 1 and 5.

The maps come from the networks themselves, in image layout (``Generator.layer_attention``, see
:mod:`sahit.models.attention`); this module picks query points, cuts each query's maps out of
what the layers returned (nothing is recomputed) and draws them. ``attention_figure(G, ...)``
does it all for any generator; a network without attention gets a one-line ValueError.

Per-pixel maps (SAGAN's self-attention, :class:`CapturedAttention`): ``attention_panels``
cuts each query's row, reshaped to the layer's key grid, and ``plot_attention`` draws one row
per (layer, image): the image with its query points, then one map per query.

Token maps (HiT, :class:`HiTLayerMaps`): ``hit_attention_panels`` takes per query its regional
map over its own block and its dilated map over the tokens at its offset in every block, both
placed on the image by the model (``HiTLayerMaps.query_maps``), and its cross-attention over the
latent tokens; ``plot_hit_attention`` draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from ..models.attention import CapturedAttention, HiTLayerMaps, attention_layers, capture_attention  # noqa: F401
from ..runs import eval_mode

# Distinct, colour-blind friendly query colours (Okabe-Ito), cycled when there are more points.
POINT_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#FFFFFF")
CELL_INCHES = 1.9  # one panel
TITLE_INCHES = 0.5  # figure title band
DPI = 100


def select_points(attn: torch.Tensor, k: int) -> list[int]:
    """``k`` query indices whose attention rows differ most: greedy farthest-point selection.

    ``attn`` is (N, M) for one image. Distance is total variation, 0.5 * |p - q|_1 in [0, 1].
    The first point is the row farthest from the mean row; each next one maximises its
    distance to the nearest point already chosen.
    """
    rows = attn.double()
    k = min(k, rows.shape[0])
    dist_to_chosen = 0.5 * (rows - rows.mean(0, keepdim=True)).abs().sum(1)  # (N,)
    chosen: list[int] = []
    for _ in range(k):
        i = int(torch.argmax(dist_to_chosen))
        chosen.append(i)
        d = 0.5 * (rows - rows[i]).abs().sum(1)
        dist_to_chosen = d if len(chosen) == 1 else torch.minimum(dist_to_chosen, d)
        dist_to_chosen[chosen] = -1.0
    return chosen


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
    cols = 1 + max(len(p.maps) for p in panels)
    return round(cols * CELL_INCHES * DPI), round((len(panels) * CELL_INCHES + TITLE_INCHES) * DPI)


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
    fig, grid, pictures, extent = _canvas(images, len(panels), 1 + max(len(p.maps) for p in panels), width, height,
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
        _clean(ax)
        for i, (attention_map, (x, y)) in enumerate(zip(panel.maps, panel.points)):
            ax = fig.add_subplot(grid[row, 1 + i])
            _heatmap(ax, picture.mean(-1), extent, attention_map, (x, y), POINT_COLOURS[i % len(POINT_COLOURS)])
            ax.set_title(f"query ({x:g}, {y:g}) px · max p={attention_map.max():.2f}", fontsize=7, color="black")
    _save(fig, path)
    return fig


def _canvas(images: torch.Tensor, rows: int, cols: int, width: int, height: int, hspace: float
            ) -> tuple[Figure, object, np.ndarray, tuple[int, int, int, int]]:
    """An empty figure of ``width`` x ``height`` pixels with a ``rows`` x ``cols`` grid below the title band,
    the images as (B, R, R, 3) arrays in [0, 1], and the ``imshow`` extent that stretches a map over an image."""
    pictures = (images.detach().float().cpu().clamp(-1, 1) * 0.5 + 0.5).permute(0, 2, 3, 1).numpy()
    resolution = pictures.shape[1]
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    top = 1 - TITLE_INCHES * DPI / height
    grid = fig.add_gridspec(rows, cols, left=0.02, right=0.98, bottom=0.01, top=top - 0.01,
                            wspace=0.08, hspace=hspace)
    return fig, grid, pictures, (0, resolution, resolution, 0)


def _heatmap(ax, grey: np.ndarray, extent: tuple, attention_map: np.ndarray, point: tuple[float, float],
             colour: str) -> None:
    """One map drawn as is (``imshow`` stretches it over the image, nearest neighbour) over a faded grey image,
    with its query point and a frame in the query's colour."""
    ax.imshow(grey, extent=extent, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.imshow(attention_map, extent=extent, cmap="inferno", alpha=0.75, interpolation="nearest",
              vmin=0, vmax=float(attention_map.max()))
    ax.plot(*point, "o", ms=7, mfc=colour, mec="white", mew=1.0)
    _clean(ax)
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(3)


def _save(fig: Figure, path: str | Path | None) -> None:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)


def _clean(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


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
    cols = 1 + 2 * max(len(p.points) for p in panels)
    return round(cols * CELL_INCHES * DPI), round((len(panels) * CELL_INCHES + TITLE_INCHES) * DPI)


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
    fig, grid, pictures, extent = _canvas(images, len(panels), cols, width, height, 0.45)
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
    _save(fig, path)
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
    _clean(ax)


def _hit_map_cell(ax, panel: HiTPanel, i: int, kind: str, grey: np.ndarray, extent: tuple) -> None:
    """Query ``i``'s ``kind`` map: a heat map on the image, or a bar chart over the latent tokens (cross)."""
    colour = POINT_COLOURS[i % len(POINT_COLOURS)]
    attention_map = panel.maps[kind][i]
    if kind != "cross":
        _heatmap(ax, grey, extent, attention_map, panel.centre(i, extent[1]), colour)
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
