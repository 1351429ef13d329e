"""The token maps of a HiT attention layer (multi-axis, global or cross), as ``HiTGenerator.layer_attention``
returns them: :meth:`HiTLayerMaps.query_maps` undoes the layer's token layout so every map lies on the image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .multi_axis import unblock_images


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

    def query_maps(self, image: int, cells: Sequence[tuple[int, int]], head: int | None = None
                   ) -> dict[str, torch.Tensor]:
        """The maps of the queries at token ``cells`` of image ``image``, averaged over heads (or one ``head``).

        multi_axis: ``{"regional": (Q, S, S), "dilated": (Q, S, S)}``: the query's regional row
        ``attn["regional"][image, g, :, p, :]`` (over the P offsets of its block g) placed on its
        block, and its dilated row ``attn["dilated"][image, p, :, g, :]`` (over the G blocks at its
        offset p) placed at those positions, with the layer's own inverse reshape (``unblock_images``,
        a permutation); zero elsewhere. ``head`` j is regional head j and dilated head h/2 + j of the
        layer. global: ``{"global": (Q, S, S)}``; cross: ``{"cross": (Q, M)}``. Every map sums to 1.
        """
        def reduce(a: torch.Tensor) -> torch.Tensor:  # (Q, heads, K) -> (Q, K): mean of heads, or one head
            return a.mean(1) if head is None else a[:, head]

        s = self.size
        rows = torch.tensor([r for r, _ in cells], dtype=torch.long)
        cols = torch.tensor([c for _, c in cells], dtype=torch.long)
        q = torch.arange(len(cells))
        if self.kind == "cross":
            cross = self.attn["cross"][image].permute(1, 2, 0, 3)  # (S, S, h, M)
            return {"cross": reduce(cross[rows, cols])}  # (Q, M)
        if self.kind == "global":
            attn = self.attn["global"][image].transpose(0, 1)  # (N, h, N)
            return {"global": reduce(attn[rows * s + cols]).reshape(-1, s, s)}
        b = self.block_size
        gw = s // b
        g = (rows // b) * gw + cols // b  # the query's block, in block_images order
        p = (rows % b) * b + cols % b  # its offset inside the block
        regional = reduce(self.attn["regional"][image][g, :, p])  # (Q, h/2, P) -> (Q, P): over its own block
        dilated = reduce(self.attn["dilated"][image][p, :, g])  # (Q, h/2, G) -> (Q, G): over its offset's blocks
        placed_regional = regional.new_zeros(len(cells), s * s // (b * b), b * b, 1)  # (Q, G, P, 1)
        placed_regional[q, g, :, 0] = regional
        placed_dilated = dilated.new_zeros(len(cells), s * s // (b * b), b * b, 1)
        placed_dilated[q, :, p, 0] = dilated
        return {"regional": unblock_images(placed_regional, gw, b)[..., 0],  # (Q, S, S)
                "dilated": unblock_images(placed_dilated, gw, b)[..., 0]}
