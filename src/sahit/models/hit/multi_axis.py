"""HiT's attention layers (Zhao et al., NeurIPS 2021): multi-axis blocked self-attention,
cross-attention to latent tokens, and the reshapes they need.

All layers act on channels-last tokens. A feature map is (B, H, W, C); *blocking* it with
block size b gives (B, G, P, C) where G = (H/b)(W/b) blocks in row-major grid order and
P = b*b positions in row-major order inside each block (TensorFlow's ``space_to_depth``
followed by a reshape, as in the official code).

Attention is *multi-query* (Shazeer 2019), as in the official generator: every query head
has its own projection, one key head and one value head of width d = C / heads are shared
by all query heads; logits are scaled by 1/sqrt(d) and all projections have biases.

Each layer has a fast path (``torch.nn.functional.scaled_dot_product_attention``) and an
explicit matmul-softmax path that can return the attention probabilities; tests check
that the two agree.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...layers.self_attention import explicit_attention_is_faster, softmax_keys

Tensor = torch.Tensor


# --------------------------------------------------------------------------- reshapes


def block_images(x: Tensor, block_size: int) -> Tensor:
    """(B, H, W, C) -> (B, G, P, C): G = (H/b)(W/b) blocks, P = b*b tokens per block."""
    b, height, width, c = x.shape
    s = block_size
    if height % s or width % s:
        raise ValueError(f"block size {s} does not divide the {height}x{width} map")
    x = x.view(b, height // s, s, width // s, s, c)  # (B, gh, s, gw, s, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, gh, gw, s, s, C)
    return x.reshape(b, (height // s) * (width // s), s * s, c)


def unblock_images(x: Tensor, grid_width: int, block_size: int) -> Tensor:
    """(B, G, P, C) -> (B, H, W, C), the inverse of ``block_images``; ``grid_width`` = W / b."""
    b, g, p, c = x.shape
    s = block_size
    if p != s * s or g % grid_width:
        raise ValueError(f"cannot unblock {tuple(x.shape)} with grid width {grid_width} and block size {s}")
    grid_height = g // grid_width
    x = x.view(b, grid_height, grid_width, s, s, c)  # (B, gh, gw, s, s, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, gh, s, gw, s, C)
    return x.reshape(b, grid_height * s, grid_width * s, c)


def pixel_shuffle(x: Tensor, factor: int = 2) -> Tensor:
    """Channels-last depth-to-space: (B, H, W, C*f*f) -> (B, H*f, W*f, C).

    Channel order follows TensorFlow's ``depth_to_space``: the input channel index is
    ``(row * f + col) * C + c`` for the output sub-pixel (row, col).
    """
    b, height, width, c = x.shape
    f = factor
    if c % (f * f):
        raise ValueError(f"pixel shuffle by {f} needs channels divisible by {f * f}, got {c}")
    x = x.view(b, height, width, f, f, c // (f * f))  # (B, H, W, f, f, C')
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, H, f, W, f, C')
    return x.reshape(b, height * f, width * f, c // (f * f))


# --------------------------------------------------------------------------- attention core


def multi_query_attention(
    q: Tensor, k: Tensor, v: Tensor, scale: float, explicit: bool = False
) -> tuple[Tensor, Tensor | None]:
    """Attention of many query heads to one shared key/value head.

    Args:
        q: (N, Lq, h, d) queries of h heads.
        k, v: (N, Lk, d) the shared key and value head.
        scale: multiplies the logits (1/sqrt(d) in HiT).
        explicit: use matmul-softmax and return the probabilities.

    Returns:
        out (N, Lq, h, d), and attention probabilities (N, h, Lq, Lk) when ``explicit``.
    """
    n, lq, h, d = q.shape
    lk = k.shape[1]
    # With one key/value head every (query, head) pair is an independent query of the same
    # keys: fold heads into the query axis instead of repeating keys h times (both paths).
    q = q.reshape(n, lq * h, d)
    if explicit or explicit_attention_is_faster(q.device, lq * h * lk):
        attn = softmax_keys(torch.bmm(q, k.transpose(1, 2)) * scale)  # (N, Lq*h, Lk)
        out = torch.bmm(attn, v).view(n, lq, h, d)
        return out, (attn.view(n, lq, h, lk).transpose(1, 2).contiguous() if explicit else None)
    out = F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1), scale=scale)  # (N, 1, Lq*h, d)
    return out.view(n, lq, h, d), None


class _MultiQueryProjections(nn.Module):
    """Query (C -> C), shared key and value (kv_dim -> C/heads), output (C -> C) projections."""

    def __init__(self, dim: int, num_heads: int, kv_dim: int | None = None) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"{num_heads} heads do not divide width {dim}")
        self.dim, self.num_heads = dim, num_heads
        self.head_dim = dim // num_heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        kv_dim = dim if kv_dim is None else kv_dim
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(kv_dim, self.head_dim)
        self.v = nn.Linear(kv_dim, self.head_dim)
        self.proj = nn.Linear(dim, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, head_dim={self.head_dim}"

    def project_qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(q(x) (..., C), k(x) (..., d), v(x) (..., d))`` from one matrix product.

        The three layers' weights are stacked for the product (their parameters stay separate):
        one pass over ``x`` instead of three, and one gradient for ``x`` instead of a sum of three.
        """
        weight = torch.cat([self.q.weight, self.k.weight, self.v.weight])
        bias = torch.cat([self.q.bias, self.k.bias, self.v.bias])
        return F.linear(x, weight, bias).split([self.dim, self.head_dim, self.head_dim], dim=-1)

    def project_kv(self, latents: Tensor) -> tuple[Tensor, Tensor]:
        """``(k(latents), v(latents))`` from one matrix product, as ``project_qkv``."""
        weight = torch.cat([self.k.weight, self.v.weight])
        bias = torch.cat([self.k.bias, self.v.bias])
        return F.linear(latents, weight, bias).split([self.head_dim, self.head_dim], dim=-1)


AXES = ("multi_axis", "regional", "dilated")


class MultiAxisAttention(_MultiQueryProjections):
    """HiT's multi-axis blocked self-attention on a (B, H, W, C) map.

    The heads are split in half. The first half (*regional*) attends among the b*b tokens
    of each contiguous b x b block; the second half (*dilated*) attends among the tokens at
    the same offset in every block (a grid with stride b). Cost is linear in H*W for a
    fixed b: O(HW (b^2 + HW/b^2)) logits.

    ``axes="regional"`` or ``"dilated"`` (HiT's ablations) gives every head that one kind of
    attention; the default ``"multi_axis"`` splits them.

    ``forward`` takes and returns (B, H, W, C); ``forward_blocked`` works on the blocked
    layout (B, G, P, C) so a stage can block once for several layers.
    """

    def __init__(self, dim: int, num_heads: int, block_size: int, axes: str = "multi_axis") -> None:
        if axes not in AXES:
            raise ValueError(f"axes must be one of {AXES}, got {axes!r}")
        if axes == "multi_axis" and (num_heads < 2 or num_heads % 2):
            raise ValueError(f"multi-axis attention splits heads in half: num_heads must be even, got {num_heads}")
        if block_size < 1:
            raise ValueError(f"block_size must be positive, got {block_size}")
        super().__init__(dim, num_heads)
        self.block_size, self.axes = block_size, axes
        # Heads [0, regional_heads) attend within blocks, the rest across blocks.
        self.regional_heads = {"multi_axis": num_heads // 2, "regional": num_heads, "dilated": 0}[axes]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, block_size={self.block_size}, axes={self.axes!r}"

    def forward(
        self, x: Tensor, return_attention: bool = False, explicit: bool = False
    ) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """(B, H, W, C) -> (B, H, W, C); with ``return_attention`` also the maps (see ``forward_blocked``)."""
        if x.dim() != 4 or x.shape[-1] != self.dim:
            raise ValueError(f"expected (B, H, W, {self.dim}), got {tuple(x.shape)}")
        width = x.shape[2]
        out = self.forward_blocked(block_images(x, self.block_size), return_attention, explicit)
        if return_attention:
            y, maps = out
            return unblock_images(y, width // self.block_size, self.block_size), maps
        return unblock_images(out, width // self.block_size, self.block_size)

    def forward_blocked(
        self, x: Tensor, return_attention: bool = False, explicit: bool = False
    ) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """(B, G, P, C) -> (B, G, P, C).

        With ``return_attention`` (explicit path) also returns ``{"regional": (B, G, h_r, P, P),
        "dilated": (B, P, h_d, G, G)}`` (h_r = h_d = h/2 for multi-axis; a single-axis layer
        returns only its own key, with all h heads): regional maps per block over the positions
        in it, dilated maps per in-block offset over the blocks; rows sum to 1.
        """
        b, g, p, c = x.shape
        h, d = self.num_heads, self.head_dim
        hr, hd = self.regional_heads, h - self.regional_heads
        explicit = explicit or return_attention
        q, k, v = self.project_qkv(x)  # (B, G, P, C), (B, G, P, d), (B, G, P, d)
        q = q.reshape(b, g, p, h, d)
        # split, not two slices: its backward is one concatenation, not two zero-filled copies and a sum
        q_reg, q_dil = q.split([hr, hd], dim=3)
        outputs, maps = [], {}

        if hr:  # regional heads: attention over the P tokens of a block, batched over (B, G)
            o_reg, a_reg = multi_query_attention(
                q_reg.reshape(b * g, p, hr, d), k.reshape(b * g, p, d), v.reshape(b * g, p, d),
                self.scale, explicit,
            )  # (B*G, P, h_r, d)
            outputs.append(o_reg.view(b, g, p, hr, d))
            if return_attention:
                maps["regional"] = a_reg.view(b, g, hr, p, p)

        if hd:  # dilated heads: attention over the G blocks at one offset, batched over (B, P)
            o_dil, a_dil = multi_query_attention(
                q_dil.transpose(1, 2).reshape(b * p, g, hd, d),
                k.transpose(1, 2).reshape(b * p, g, d),
                v.transpose(1, 2).reshape(b * p, g, d),
                self.scale, explicit,
            )  # (B*P, G, h_d, d)
            outputs.append(o_dil.view(b, p, g, hd, d).transpose(1, 2))  # (B, G, P, h_d, d)
            if return_attention:
                maps["dilated"] = a_dil.view(b, p, hd, g, g)

        o = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=3)  # (B, G, P, h, d)
        y = self.proj(o.reshape(b, g, p, c))
        return (y, maps) if return_attention else y


class GlobalAttention(_MultiQueryProjections):
    """Multi-query self-attention over all tokens: (B, N, C) or (B, H, W, C), same shape out.

    The quadratic baseline HiT replaces; used by the ``attention="global"`` ablation.
    """

    def forward(
        self, x: Tensor, return_attention: bool = False, explicit: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        shape = x.shape
        if x.shape[-1] != self.dim:
            raise ValueError(f"expected (..., {self.dim}) tokens, got {tuple(shape)}")
        t = x.reshape(shape[0], -1, self.dim)  # (B, N, C)
        b, n, _ = t.shape
        q, k, v = self.project_qkv(t)
        o, attn = multi_query_attention(
            q.reshape(b, n, self.num_heads, self.head_dim), k, v, self.scale, explicit or return_attention,
        )
        y = self.proj(o.reshape(b, n, self.dim)).view(shape)
        return (y, attn) if return_attention else y


class CrossAttention(_MultiQueryProjections):
    """Image tokens attend to a few latent tokens (HiT's cross-attention to the input code).

    Queries come from the image tokens (any shape (B, ..., C)); the shared key and value
    heads are projected from the latent tokens (B, M, C_latent), whose width may differ.
    """

    def __init__(self, dim: int, latent_dim: int, num_heads: int) -> None:
        super().__init__(dim, num_heads, kv_dim=latent_dim)
        self.latent_dim = latent_dim

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, latent_dim={self.latent_dim}"

    def forward(
        self, x: Tensor, latents: Tensor, return_attention: bool = False, explicit: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """x (B, ..., C), latents (B, M, C_latent) -> same shape as x.

        With ``return_attention`` also the probabilities (B, h, N, M), N = tokens of x in
        its own (flattened) order.
        """
        shape = x.shape
        if x.shape[-1] != self.dim:
            raise ValueError(f"expected image tokens (..., {self.dim}), got {tuple(shape)}")
        if latents.dim() != 3 or latents.shape[0] != shape[0] or latents.shape[-1] != self.latent_dim:
            raise ValueError(f"expected latent tokens ({shape[0]}, M, {self.latent_dim}), got {tuple(latents.shape)}")
        t = x.reshape(shape[0], -1, self.dim)  # (B, N, C)
        b, n, _ = t.shape
        k, v = self.project_kv(latents)  # (B, M, d) each
        o, attn = multi_query_attention(
            self.q(t).view(b, n, self.num_heads, self.head_dim), k, v, self.scale, explicit or return_attention,
        )  # (B, N, h, d)
        y = self.proj(o.reshape(b, n, self.dim)).view(shape)
        return (y, attn) if return_attention else y
