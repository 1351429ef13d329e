"""Attention's reach: how far, how spread out and how long-range each attention layer of a generator looks.

Per layer (HiT: its regional, dilated and cross-attention parts separately), over a fixed set of
samples and every query (every head of a multi-head map counts as a query of its own):

- ``mean_distance_px``: the attention-weighted mean distance, in output pixels, between a query's
  position and the positions it attends to (the centres of their cells on the R x R image);
- ``entropy``: the row's entropy divided by log(K), K the keys the row ranges over (1: uniform, 0: one key);
- ``far_share``: the attention mass on keys further than R/4 from the query.

Beside each, the value two reference maps over the same keys give: ``uniform`` (every key alike) and
``local`` (uniform over the 3x3 neighbourhood of the query's own cell in the key grid, as a 3x3
convolution would see it). Cross-attention keys are latent tokens with no position: entropy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..models.attention_capture import CapturedAttention
from ..models.hit.token_maps import HiTLayerMaps
from ..runs import eval_mode

STATS = ("mean_distance_px", "entropy", "far_share")


@dataclass
class Part:
    """One attention map family in a common layout: ``attn`` (X, Q, K) rows over K keys for Q query
    slots (X = images x heads, image-major); ``dist`` (Q, K) query-key distances in output pixels and
    ``local`` (Q, K) the 3x3 neighbourhood, both None for keys without positions (cross-attention)."""

    attn: torch.Tensor
    dist: torch.Tensor | None
    local: torch.Tensor | None


@torch.no_grad()
def attention_stats(
    G: nn.Module,
    n: int = 64,
    seed: int = 0,
    classes: int | Sequence[int] | None = None,
    layers: Sequence[str] | None = None,
    batch_size: int = 8,
) -> dict:
    """Reach statistics of every attention layer of ``G`` (or of ``layers``) over ``n`` seeded samples.

    Returns ``{"resolution", "n", "seed", "far_threshold_px", "layers": [{"layer", "part", "keys",
    "queries", STAT: {"model", "uniform", "local"}, ..., "per_class": {class: {STAT: value}}}]}``
    (``per_class`` only for a class-conditional G; ``None`` where a value is undefined). Raises
    ValueError (one line) for a generator without attention.
    """
    names = G.attention_layer_names()
    if not names:
        raise ValueError("this generator has no attention layers: no attention reach to measure")
    if n < 1 or batch_size < 1:
        raise ValueError("n and batch_size must be at least 1")
    device = next(G.parameters()).device
    z = G.sample_noise(n, seed)
    y = G.sample_labels(n, classes)
    resolution = G.resolution
    far = resolution / 4
    per_image: dict[tuple[str, str], dict[str, list[torch.Tensor]]] = {}
    references: dict[tuple[str, str], dict] = {}
    with eval_mode(G):
        for start in range(0, n, batch_size):
            zb = z[start : start + batch_size].to(device)
            yb = None if y is None else y[start : start + batch_size].to(device)
            _, captured = G.layer_attention(zb, yb, layers=layers)
            for name, maps in captured.items():
                for part_name, part in layer_parts(maps, resolution).items():
                    key = (name, part_name)
                    values = row_stats(part.attn, part.dist, far)  # {stat: (X, Q)}
                    images = len(zb)
                    store = per_image.setdefault(key, {s: [] for s in STATS})
                    for stat, value in values.items():  # mean over heads and queries, per image
                        store[stat].append(value.reshape(images, -1).mean(1) if value is not None else None)
                    if key not in references:
                        references[key] = {"keys": part.attn.shape[-1], "queries": part.attn.shape[-2],
                                           "uniform": reference_stats(part, far, local=False),
                                           "local": reference_stats(part, far, local=True)}
    entries = []
    for (name, part_name), store in per_image.items():
        ref = references[(name, part_name)]
        entry = {"layer": name, "part": part_name, "keys": ref["keys"], "queries": ref["queries"]}
        values = {s: None if store[s][0] is None else torch.cat(store[s]) for s in STATS}
        for stat in STATS:
            model = None if values[stat] is None else float(values[stat].mean())
            entry[stat] = {"model": model, "uniform": ref["uniform"][stat], "local": ref["local"][stat]}
        if y is not None:
            entry["per_class"] = {
                str(int(k)): {s: None if values[s] is None else float(values[s][y == k].mean()) for s in STATS}
                for k in torch.unique(y)
            }
        entries.append(entry)
    return {"resolution": resolution, "n": n, "seed": seed, "far_threshold_px": far, "layers": entries}


def row_stats(attn: torch.Tensor, dist: torch.Tensor | None, far: float) -> dict[str, torch.Tensor | None]:
    """Per-row statistics of ``attn`` (X, Q, K): {stat: (X, Q)} (distance and far share None without ``dist``)."""
    attn = attn.float()
    k = attn.shape[-1]
    plogp = torch.where(attn > 0, attn * attn.clamp_min(1e-30).log(), torch.zeros_like(attn))
    entropy = -plogp.sum(-1) / math.log(k) if k > 1 else None
    if dist is None:
        return {"mean_distance_px": None, "entropy": entropy, "far_share": None}
    dist = dist.float()
    return {"mean_distance_px": (attn * dist).sum(-1), "entropy": entropy,
            "far_share": (attn * (dist > far)).sum(-1)}


def reference_stats(part: Part, far: float, local: bool) -> dict[str, float | None]:
    """The statistics a uniform map (``local=False``) or a 3x3-local map over the same keys would give."""
    if local and part.local is None:
        return dict.fromkeys(STATS)
    q, k = part.attn.shape[-2:]
    mask = part.local if local else torch.ones(q, k, dtype=torch.bool)
    ref = mask.double() / mask.sum(-1, keepdim=True)
    values = row_stats(ref[None], part.dist, far)
    return {s: None if v is None else float(v.mean()) for s, v in values.items()}


# ------------------------------------------------------------------------------ layouts


def layer_parts(maps: CapturedAttention | HiTLayerMaps, resolution: int) -> dict[str, Part]:
    """A layer's maps as :class:`Part` s: ``{"self": ...}`` (SAGAN), ``{"regional", "dilated"}`` (HiT
    multi-axis), ``{"global"}`` or ``{"cross"}``."""
    if isinstance(maps, CapturedAttention):
        (height, width), (kh, kw) = maps.query_hw, maps.key_hw
        qpos, kpos = cell_centres(height, width, resolution), cell_centres(kh, kw, resolution)
        qcell = _cells(height, width) * torch.tensor([kh / height, kw / width])  # the query's cell in the key grid
        local = _chebyshev(qcell.floor(), _cells(kh, kw)) <= 1
        return {"self": Part(maps.attn, torch.cdist(qpos, kpos), local)}
    s = maps.size
    tokens = cell_centres(s, s, resolution)  # (S*S, 2) row-major
    if maps.kind == "cross":
        a = maps.attn["cross"]  # (B, h, S, S, M)
        return {"cross": Part(a.reshape(a.shape[0] * a.shape[1], s * s, a.shape[-1]), None, None)}
    if maps.kind == "global":
        a = maps.attn["global"]  # (B, h, N, N)
        cells = _cells(s, s)
        return {"global": Part(a.flatten(0, 1), torch.cdist(tokens, tokens), _chebyshev(cells, cells) <= 1)}
    b = maps.block_size
    gw = s // b
    g = torch.arange(gw * gw)[:, None]  # block, in block_images order
    p = torch.arange(b * b)[None, :]  # offset inside the block
    token = ((g // gw) * b + p // b) * s + (g % gw) * b + p % b  # (G, P): row-major token index
    pos = tokens[token]  # (G, P, 2)
    offsets = torch.stack([p[0] // b, p[0] % b], -1).double()  # (P, 2) in-block grid
    blocks = torch.stack([g[:, 0] // gw, g[:, 0] % gw], -1).double()  # (G, 2) block grid
    parts = {}
    if "regional" in maps.attn:  # (B, G, h, P, P): queries (g, p), keys (g, p')
        a = maps.attn["regional"].permute(0, 2, 1, 3, 4)  # (B, h, G, P, P)
        dist = torch.cdist(pos, pos).reshape(-1, b * b)  # (G*P, P)
        local = (_chebyshev(offsets, offsets) <= 1).repeat(gw * gw, 1)
        parts["regional"] = Part(a.reshape(-1, a.shape[2] * a.shape[3], a.shape[4]), dist, local)
    if "dilated" in maps.attn:  # (B, P, h, G, G): queries (p, g), keys (p, g')
        a = maps.attn["dilated"].permute(0, 2, 1, 3, 4)  # (B, h, P, G, G)
        at_offset = pos.transpose(0, 1)  # (P, G, 2)
        dist = torch.cdist(at_offset, at_offset).reshape(-1, gw * gw)  # (P*G, G)
        local = (_chebyshev(blocks, blocks) <= 1).repeat(b * b, 1)
        parts["dilated"] = Part(a.reshape(-1, a.shape[2] * a.shape[3], a.shape[4]), dist, local)
    return parts


def cell_centres(height: int, width: int, resolution: int) -> torch.Tensor:
    """(height*width, 2) centres, in output pixels (row, column), of a height x width grid over an R x R image."""
    return (_cells(height, width) + 0.5) * torch.tensor([resolution / height, resolution / width], dtype=torch.float64)


def _cells(height: int, width: int) -> torch.Tensor:
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return torch.stack([rows.flatten(), cols.flatten()], -1).double()  # (H*W, 2) row-major


def _chebyshev(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a[:, None, :] - b[None, :, :]).abs().amax(-1)


# ------------------------------------------------------------------------------ table


def format_stats_table(stats: dict) -> str:
    """The statistics as a text table: model value and (uniform, 3x3-local) beside it."""
    def cell(entry: dict, stat: str) -> str:
        v = entry[stat]
        if v["model"] is None:
            return "-"
        refs = ", ".join("-" if v[r] is None else f"{v[r]:.3g}" for r in ("uniform", "local"))
        return f"{v['model']:.3g} ({refs})"

    header = ["layer", "part", "keys", "distance px (unif, local)", "entropy (unif, local)", "far share (unif, local)"]
    rows = [[e["layer"], e["part"], str(e["keys"]), *(cell(e, s) for s in STATS)] for e in stats["layers"]]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    note = (f"{stats['n']} samples (seed {stats['seed']}), {stats['resolution']} px; far = beyond "
            f"{stats['far_threshold_px']:g} px (a quarter of the image)")
    return "\n".join([*lines, note])
