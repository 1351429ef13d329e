"""Attention maps of SAGAN self-attention layers, as in SAGAN's Figures 1 and 5.

Three steps, each usable on its own:

1. ``capture_attention(model, *inputs)`` runs one forward pass of G (or D) in which every
   :class:`~sahit.layers.attention.SelfAttention2d` is called with ``return_attention=True``
   and returns what each layer computed: its probabilities (B, N queries, M keys).
2. ``attention_panels(images, captured, points)`` picks query points and cuts each query's
   row out of those probabilities, reshaped to the layer's key grid. These arrays are
   exactly what is drawn; nothing is recomputed.
3. ``plot_attention(images, panels)`` draws them: one row per (layer, image), the image with
   its query points in distinct colours, then one map per query over the image.

``attention_figure(G, ...)`` does all three for a generator (and its discriminator).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from ..layers.attention import SelfAttention2d

# Distinct, colour-blind friendly query colours (Okabe-Ito), cycled when there are more points.
POINT_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#FFFFFF")
CELL_INCHES = 1.9  # one panel
TITLE_INCHES = 0.5  # figure title band
DPI = 100


@dataclass
class CapturedAttention:
    """What one attention layer computed in one forward pass.

    attn: (B, N, M) softmax probabilities, rows sum to 1 over the M keys.
    query_hw: (H, W) of the layer's input; query n is position (n // W, n % W).
    key_hw: (h, w) of the key grid: (H/2, W/2) when keys are 2x2 max-pooled, else (H, W).
    """

    attn: torch.Tensor
    query_hw: tuple[int, int]
    key_hw: tuple[int, int]

    def key_map(self, b: int, q: int) -> torch.Tensor:
        """Row ``q`` of image ``b`` as a (h, w) map over the key grid."""
        return self.attn[b, q].reshape(self.key_hw)


def attention_layers(model: nn.Module) -> dict[str, SelfAttention2d]:
    """Every SAGAN attention layer of ``model`` by module name (e.g. ``attention.1``)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, SelfAttention2d)}


@torch.no_grad()
def capture_attention(
    model: nn.Module, *inputs: torch.Tensor | None, layers: Sequence[str] | None = None
) -> dict[str, CapturedAttention]:
    """Run ``model(*inputs)`` once and return each attention layer's own probabilities.

    Every selected layer is called with ``return_attention=True`` (its explicit matmul-softmax
    path) through a forward pre-hook; a forward hook keeps the map and hands on the output
    ``y`` alone, so the rest of the network runs unchanged. ``layers`` picks module names
    (default: all). Raises ValueError when the model has no (or not those) attention layers.
    """
    found = attention_layers(model)
    if not found:
        raise ValueError(f"{type(model).__name__} has no self-attention layers to draw")
    names = list(found) if layers is None else list(layers)
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValueError(f"no attention layer named {unknown[0]!r}; this model has {', '.join(found)}")
    captured: dict[str, CapturedAttention] = {}
    handles = []

    def pre_hook(module, args, kwargs):
        return args, {**kwargs, "return_attention": True}

    def make_hook(name: str):
        def hook(module, args, kwargs, output):
            y, attn = output
            height, width = args[0].shape[-2:]
            key_hw = (height // 2, width // 2) if module.pool_kv else (height, width)
            captured[name] = CapturedAttention(attn.detach().float().cpu(), (height, width), key_hw)
            return y

        return hook

    try:
        for name in names:
            handles.append(found[name].register_forward_pre_hook(pre_hook, with_kwargs=True))
            handles.append(found[name].register_forward_hook(make_hook(name), with_kwargs=True))
        model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return captured


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
    pictures = (images.detach().float().cpu().clamp(-1, 1) * 0.5 + 0.5).permute(0, 2, 3, 1).numpy()
    resolution = pictures.shape[1]
    cols = 1 + max(len(p.maps) for p in panels)
    width, height = figure_size(panels)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    top = 1 - TITLE_INCHES * DPI / height
    grid = fig.add_gridspec(len(panels), cols, left=0.02, right=0.98, bottom=0.01, top=top - 0.01,
                            wspace=0.08, hspace=0.3)
    fig.suptitle(title or "Self-attention maps", fontsize=12, y=1 - 0.25 * TITLE_INCHES * DPI / height)
    extent = (0, resolution, resolution, 0)
    for row, panel in enumerate(panels):
        picture = pictures[panel.image]
        grey = picture.mean(-1)
        ax = fig.add_subplot(grid[row, 0])
        ax.imshow(picture, extent=extent, interpolation="nearest")
        label = "" if labels is None else f" (class {int(labels[panel.image])})"
        ax.set_title(f"{panel.layer} · image {panel.image}{label}\nqueries {panel.query_hw[0]}×{panel.query_hw[1]}, "
                     f"keys {panel.key_hw[0]}×{panel.key_hw[1]}", fontsize=7)
        for i, (x, y) in enumerate(panel.points):
            ax.plot(x, y, "o", ms=7, mfc=POINT_COLOURS[i % len(POINT_COLOURS)], mec="black", mew=1.0)
        _clean(ax)
        for i, (attention_map, (x, y)) in enumerate(zip(panel.maps, panel.points)):
            colour = POINT_COLOURS[i % len(POINT_COLOURS)]
            ax = fig.add_subplot(grid[row, 1 + i])
            ax.imshow(grey, extent=extent, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.imshow(attention_map, extent=extent, cmap="inferno", alpha=0.75, interpolation="nearest",
                      vmin=0, vmax=float(attention_map.max()))
            ax.plot(x, y, "o", ms=7, mfc=colour, mec="white", mew=1.0)
            ax.set_title(f"query ({x:.0f}, {y:.0f}) px · max p={attention_map.max():.2f}", fontsize=7, color="black")
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(3)
            ax.set_xticks([])
            ax.set_yticks([])
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)
    return fig


def _clean(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


@dataclass
class AttentionFigure:
    """Everything behind one attention figure: the images, the captured maps, the panels."""

    images: torch.Tensor
    labels: torch.Tensor | None
    captured: dict[str, CapturedAttention]
    panels: list[Panel]
    path: Path | None


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
) -> AttentionFigure:
    """Generate ``n`` images from ``G`` and draw the attention of G's layers (and ``D``'s on them).

    Layer names are module names; D's get a ``D.`` prefix (``D.attention.0``). ``layers``
    selects among them (default: all of G's, plus all of D's when ``D`` is given).
    """
    family = getattr(G, "config", {}).get("family")
    if family != "sagan":
        raise ValueError(f"attention figures are drawn for SAGAN's self-attention only; this is a {family} generator "
                         "(HiT's maps: G.attention_maps(z, y))")
    g_layers, d_layers = list(attention_layers(G)), [] if D is None else list(attention_layers(D))
    if not g_layers and not d_layers:
        raise ValueError("this run's networks have no self-attention layers (g_attn_res / d_attn_res are empty)")
    if layers is not None:
        known = g_layers + [f"D.{name}" for name in d_layers]
        for name in layers:
            if name not in known:
                raise ValueError(f"no attention layer named {name!r}; choose from {', '.join(known) or 'none'}")
        g_layers = [name for name in g_layers if name in layers]
        d_layers = [name for name in d_layers if f"D.{name}" in layers]
    elif not g_layers:
        raise ValueError("the generator has no self-attention layers (g_attn_res is empty); try --d for D's")
    device = next(G.parameters()).device
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    y = G.sample_labels(n, classes)
    y = None if y is None else y.to(device)
    was_training = G.training
    G.eval()
    try:
        captured: dict[str, CapturedAttention] = {}
        if g_layers:
            holder: dict[str, torch.Tensor] = {}
            handle = G.register_forward_hook(lambda m, a, out: holder.__setitem__("images", out))
            try:
                captured.update(capture_attention(G, z, y, layers=g_layers))
            finally:
                handle.remove()
            images = holder["images"].float().clamp(-1, 1)
        else:
            images = G(z, y).float().clamp(-1, 1)
    finally:
        G.train(was_training)
    if d_layers:
        d_was_training = D.training
        D.eval()
        try:
            d_maps = capture_attention(D, images, y, layers=d_layers)
        finally:
            D.train(d_was_training)
        captured.update({f"D.{name}": cap for name, cap in d_maps.items()})
    panels = attention_panels(images.shape[-1], captured, points, num_points)
    title = "Self-attention maps: each query point (left) and where it attends (colour = probability)"
    if path is not None:
        plot_attention(images, panels, title=title, path=path, labels=y)
    return AttentionFigure(images.cpu(), None if y is None else y.cpu(), captured, panels,
                           None if path is None else Path(path))
