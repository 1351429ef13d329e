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

HiT generators have their own four: ``capture_hit_attention`` (the layers' own maps from
``G.attention_maps``), ``hit_attention_panels`` (per query: its regional map over its own
block, its dilated map over the tokens at its offset in every block, each placed on the
layer's token map; its cross-attention over the latent tokens), ``plot_hit_attention`` and
``hit_attention_figure``.
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
from ..layers.multi_axis import unblock_images
from ..models.hit import SelfAttentionLayer

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
            ax.set_title(f"query ({x:g}, {y:g}) px · max p={attention_map.max():.2f}", fontsize=7, color="black")
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
        raise ValueError(f"attention_figure draws SAGAN's self-attention; this is a {family} generator "
                         "(HiT: hit_attention_figure)")
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


# ------------------------------------------------------------------------------ HiT
#
# HiT's maps come from ``G.attention_maps(z, y)``: every multi-axis / global / cross layer runs
# its explicit matmul-softmax path with ``return_attention=True`` and hands back its own
# probabilities. A query is one token of a layer's S x S map (the cell holding the query pixel);
# its rows are cut out of those tensors and *placed* on the S x S map with the layer's own
# inverse reshape (``unblock_images``) -- a permutation, so every drawn value is one the layer
# returned and every other cell is exactly 0.

HIT_CANDIDATE_GRID = 32  # auto points are chosen among at most 32 x 32 cells
HIT_POOL_GRID = 32  # maps are sum-pooled to at most 32 x 32 when comparing candidates


@dataclass
class HiTLayerMaps:
    """What one HiT attention layer computed in one forward pass (explicit path).

    name: module name, ``stages.1.layers.0`` (self-attention) or ``stages.1.cross``.
    kind: ``"multi_axis"``, ``"global"`` or ``"cross"``.
    size: S, the layer's tokens form an S x S map (query token (r, c) covers image pixels
        [r R/S, (r+1) R/S) x [c R/S, (c+1) R/S) of an R x R image).
    block_size: b of a multi-axis layer (or of the stage a cross layer is in), else None.
    attn: multi_axis: ``{"regional": (B, G, h/2, P, P), "dilated": (B, P, h/2, G, G)}`` with
        G = (S/b)^2 blocks and P = b^2 in-block offsets, in ``block_images`` order;
        global: ``{"global": (B, h, N, N)}``, N = S*S row-major;
        cross: ``{"cross": (B, h, S, S, M)}``, the layer's (B, h, N, M) put back in image layout.
    """

    name: str
    kind: str
    size: int
    block_size: int | None
    attn: dict[str, torch.Tensor]

    @property
    def num_heads(self) -> int:
        """Heads per map: h/2 for multi-axis (regional and dilated each), h otherwise."""
        return next(iter(self.attn.values())).shape[2 if self.kind == "multi_axis" else 1]


def hit_attention_layers(G: nn.Module) -> list[str]:
    """Module names of every attention layer of a HiT generator, in execution order."""
    names = []
    for i, stage in enumerate(G.stages):
        names.append(f"stages.{i}.cross")
        names += [f"stages.{i}.layers.{j}" for j in _self_attention_indices(stage)]
    return names


def _self_attention_indices(stage: nn.Module) -> list[int]:
    return [j for j, layer in enumerate(stage.layers) if isinstance(layer, SelfAttentionLayer)]


@torch.no_grad()
def capture_hit_attention(
    G: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None, layers: Sequence[str] | None = None
) -> tuple[torch.Tensor, dict[str, HiTLayerMaps]]:
    """Images (B, 3, R, R) and each selected layer's own probabilities from ``G.attention_maps(z, y)``."""
    config = getattr(G, "config", {})
    if config.get("attention", "multi_axis") not in ("multi_axis", "global") or not config.get("cross_attention", True):
        raise ValueError(
            f"attention figures cover HiT with multi-axis or global attention and cross-attention; this "
            f"generator is an ablation (attention={config.get('attention')!r}, "
            f"cross_attention={config.get('cross_attention')!r})"
        )
    known = hit_attention_layers(G)
    names = known if layers is None else list(layers)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"no attention layer named {unknown[0]!r}; this model has {', '.join(known)}")
    images, stages = G.attention_maps(z, y)
    captured: dict[str, HiTLayerMaps] = {}
    for i, (stage, maps) in enumerate(zip(G.stages, stages)):
        block = stage.block_size if stage.kind == "multi_axis" else None
        found = {f"stages.{i}.cross": ("cross", {"cross": maps["cross"]})}
        for j, layer_maps in zip(_self_attention_indices(stage), maps["layers"]):
            if isinstance(layer_maps, dict):
                found[f"stages.{i}.layers.{j}"] = ("multi_axis", layer_maps)
            else:
                found[f"stages.{i}.layers.{j}"] = ("global", {"global": layer_maps})
        for name, (kind, attn) in found.items():
            if name in names:
                attn = {key: value.detach().float().cpu() for key, value in attn.items()}
                captured[name] = HiTLayerMaps(name, kind, stage.size, block, attn)
    return images, {name: captured[name] for name in names}  # in the order asked


def hit_query_cells(resolution: int, size: int, points: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """(row, col) of the token of an S x S map (S = ``size``) that holds each pixel (x, y)."""
    return [(y * size // resolution, x * size // resolution) for x, y in points]


def hit_query_maps(maps: HiTLayerMaps, image: int, cells: Sequence[tuple[int, int]],
                   head: int | None = None) -> dict[str, torch.Tensor]:
    """The maps of the queries at ``cells`` of image ``image``, averaged over heads (or one ``head``).

    multi_axis: ``{"regional": (Q, S, S), "dilated": (Q, S, S)}``: the query's regional row
    ``attn["regional"][image, g, :, p, :]`` (over the P offsets of its block g) placed on its
    block, and its dilated row ``attn["dilated"][image, p, :, g, :]`` (over the G blocks at its
    offset p) placed at those positions; zero elsewhere. ``head`` j is regional head j and
    dilated head h/2 + j of the layer. global: ``{"global": (Q, S, S)}``; cross:
    ``{"cross": (Q, M)}``. Every map sums to 1.
    """
    def reduce(a: torch.Tensor) -> torch.Tensor:  # (Q, heads, K) -> (Q, K): mean of heads, or one head
        return a.mean(1) if head is None else a[:, head]

    s = maps.size
    rows = torch.tensor([r for r, _ in cells], dtype=torch.long)
    cols = torch.tensor([c for _, c in cells], dtype=torch.long)
    q = torch.arange(len(cells))
    if maps.kind == "cross":
        cross = maps.attn["cross"][image].permute(1, 2, 0, 3)  # (S, S, h, M)
        return {"cross": reduce(cross[rows, cols])}  # (Q, M)
    if maps.kind == "global":
        attn = maps.attn["global"][image].transpose(0, 1)  # (N, h, N)
        return {"global": reduce(attn[rows * s + cols]).reshape(-1, s, s)}
    b = maps.block_size
    gw = s // b
    g = (rows // b) * gw + cols // b  # the query's block, in block_images order
    p = (rows % b) * b + cols % b  # its offset inside the block
    regional = reduce(maps.attn["regional"][image][g, :, p])  # (Q, h/2, P) -> (Q, P): over its own block
    dilated = reduce(maps.attn["dilated"][image][p, :, g])  # (Q, h/2, G) -> (Q, G): over its offset's blocks
    placed_regional = regional.new_zeros(len(cells), s * s // (b * b), b * b, 1)  # (Q, G, P, 1)
    placed_regional[q, g, :, 0] = regional
    placed_dilated = dilated.new_zeros(len(cells), s * s // (b * b), b * b, 1)
    placed_dilated[q, :, p, 0] = dilated
    return {"regional": unblock_images(placed_regional, gw, b)[..., 0],  # (Q, S, S)
            "dilated": unblock_images(placed_dilated, gw, b)[..., 0]}


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
        for array in hit_query_maps(maps, image, hit_query_cells(resolution, maps.size, pixels)).values():
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
                arrays = hit_query_maps(maps, image, cells, head)
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
    from matplotlib.patches import Rectangle

    if not panels:
        raise ValueError("nothing to draw: no attention maps")
    pictures = (images.detach().float().cpu().clamp(-1, 1) * 0.5 + 0.5).permute(0, 2, 3, 1).numpy()
    resolution = pictures.shape[1]
    cols = 1 + 2 * max(len(p.points) for p in panels)
    width, height = hit_figure_size(panels)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    top = 1 - TITLE_INCHES * DPI / height
    grid = fig.add_gridspec(len(panels), cols, left=0.02, right=0.98, bottom=0.01, top=top - 0.01,
                            wspace=0.08, hspace=0.45)
    title = title or "HiT attention maps"
    fits = 0.95 * width * 72 / (0.55 * DPI * len(title))  # largest font (pt) that keeps the title on one line
    fig.suptitle(title, fontsize=max(7.0, min(12.0, fits)), wrap=True, va="top",
                 y=1 - 0.15 * TITLE_INCHES * DPI / height)
    extent = (0, resolution, resolution, 0)
    for row, panel in enumerate(panels):
        picture = pictures[panel.image]
        grey = picture.mean(-1)
        cell = resolution / panel.size
        ax = fig.add_subplot(grid[row, 0])
        ax.imshow(picture, extent=extent, interpolation="nearest")
        label = "" if labels is None else f" (class {int(labels[panel.image])})"
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
        for i in range(len(panel.points)):
            colour = POINT_COLOURS[i % len(POINT_COLOURS)]
            x, y = panel.centre(i, resolution)
            kinds = list(panel.maps)
            span = 2 // len(kinds)
            for j, kind in enumerate(kinds):
                attention_map = panel.maps[kind][i]
                ax = fig.add_subplot(grid[row, 1 + 2 * i + j * span: 1 + 2 * i + (j + 1) * span])
                if kind == "cross":
                    ax.bar(np.arange(len(attention_map)), attention_map, color=colour, edgecolor="black", lw=0.5)
                    ax.set_xlim(-0.6, len(attention_map) - 0.4)
                    ax.set_ylim(0, max(float(attention_map.max()) * 1.1, 1e-12))
                    ax.set_xlabel("latent token", fontsize=6, labelpad=1)
                    ax.tick_params(labelsize=5, length=2, pad=1)
                    head = "mean of heads" if panel.head is None else f"head {panel.head}"
                    px, py = panel.points[i]
                    ax.set_title(f"query ({px}, {py}) px · {head} · max p={attention_map.max():.2f}", fontsize=7)
                else:
                    ax.imshow(grey, extent=extent, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                    ax.imshow(attention_map, extent=extent, cmap="inferno", alpha=0.75, interpolation="nearest",
                              vmin=0, vmax=float(attention_map.max()))
                    ax.plot(x, y, "o", ms=7, mfc=colour, mec="white", mew=1.0)
                    if panel.head is None:
                        head = "mean"
                    else:  # the layer's head number: dilated heads come after the h/2 regional ones
                        head = f"head {panel.head + (panel.num_heads if kind == 'dilated' else 0)}"
                    where = "own block" if kind == "regional" else "same offset" if kind == "dilated" else "all"
                    ax.set_title(f"{kind} ({where}) · {head}\nmax p={attention_map.max():.2f}", fontsize=6)
                    _clean(ax)
                for spine in ax.spines.values():
                    spine.set_edgecolor(colour)
                    spine.set_linewidth(3 if kind != "cross" else 1.5)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)
    return fig


@dataclass
class HiTAttentionFigure:
    """Everything behind one HiT attention figure: the images, the captured maps, the panels."""

    images: torch.Tensor
    labels: torch.Tensor | None
    captured: dict[str, HiTLayerMaps]
    panels: list[HiTPanel]
    path: Path | None


@torch.no_grad()
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
) -> HiTAttentionFigure:
    """Generate ``n`` images from a HiT generator and draw its attention for query points.

    ``layers`` picks module names (``stages.0.cross``, ``stages.1.layers.0``, ...; default
    all); ``per_head`` draws one row per head instead of the mean over heads.
    """
    family = getattr(G, "config", {}).get("family")
    if family != "hit":
        raise ValueError(f"hit_attention_figure draws HiT's attention; this is a {family} generator")
    device = next(G.parameters()).device
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    y = G.sample_labels(n, classes)
    y = None if y is None else y.to(device)
    was_training = G.training
    G.eval()
    try:
        images, captured = capture_hit_attention(G, z, y, layers)
    finally:
        G.train(was_training)
    images = images.float().clamp(-1, 1).cpu()
    panels = hit_attention_panels(images.shape[-1], captured, points, num_points, per_head)
    title = ("HiT attention: each query point (left) and where it attends: regional (own block) and dilated "
             "(same offset in every block) heads, cross-attention over the latent tokens")
    if path is not None:
        plot_hit_attention(images, panels, title=title, path=path, labels=y)
    return HiTAttentionFigure(images, None if y is None else y.cpu(), captured, panels,
                              None if path is None else Path(path))
