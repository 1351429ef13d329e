"""HiT generator (Zhao et al., "Improved Transformer for High-Resolution GANs", NeurIPS 2021), the one
description (:class:`HiTConfig`) it and its discriminator (:mod:`.discriminator`) are built from, and the
family's recipe and presets.

Generator, as in the official TensorFlow code:

* z ~ N(0, I), no mapping network. One linear layer maps z to an 8x8 grid of tokens of
  width C0; a second maps z to ``num_latents`` (16) latent tokens of width C0, plus a
  learned position embedding and a batch norm. The latent tokens are computed once and
  shared by every stage.
* Stage i works at 8 * 2^i pixels: add a learned position embedding; one cross-attention
  layer from the image tokens to the latent tokens (+ its MLP); then ``depths[i]`` layers,
  each multi-axis blocked self-attention (+ MLP) when ``block_sizes[i]`` is set or an MLP
  alone when it is ``None`` (the high-resolution stages). Between stages: pixel shuffle x2
  and a linear layer when C/4 differs from the next width.
* Every MLP-only stage (and the last stage) adds a to-RGB output (norm -> linear to 3) to
  the nearest-upsampled RGB of the previous one. No tanh: ``sample()`` clamps to [-1, 1].
* Pre-norm blocks, batch norm over (batch x tokens, C) with Keras' defaults, GELU MLPs of
  4x width, multi-query attention, truncated-normal(0.02) initialisation, no dropout.

Ablations (the paper's Table 5): ``attention="regional"`` / ``"dilated"`` give every head of the
attention stages one axis of multi-axis attention, ``"global"`` attends over all tokens, and
``cross_attention=False`` removes the cross-attention layers (the latent tokens then go unused).

Decoder mode: ``G.decode(grid_tokens, latent_tokens)`` runs the stages on tokens from any
encoder; ``G(z)`` is ``G.decode(*G.tokens(z))``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ...layers.embedding import embed_classes
from ..base import Generator
from ..registry import Family, register_family, register_preset
from .blocks import (
    KERAS_BN_MOMENTUM,
    MLP,
    PixelShuffleUp,
    PositionEmbedding,
    SkipToRGB,
    TokenBatchNorm,
    trunc_normal_,
    trunc_normal_init_,
)
from .discriminator import HiTDiscriminator
from .multi_axis import (
    AXES,
    CrossAttention,
    GlobalAttention,
    MultiAxisAttention,
    block_images,
    unblock_images,
)
from .token_maps import HiTLayerMaps

Tensor = torch.Tensor
GRID = 8  # the generator starts from an 8x8 token grid; every stage doubles it.
EVAL_CHUNK_ELEMENTS = 2**17  # tokens x channels per chunk of an MLP-only stage in eval mode (~2 MiB MLP hidden)

# Per-resolution default architectures: widths, layers, heads, block sizes (None = MLP-only stage).
# 128, 256 (HiT-B) and 1024 are the official code's; 512 is 1024's first seven stages;
# 32 and 64 are small CPU configurations of ours.
ARCH: dict[int, dict[str, list]] = {
    32: {"widths": [128, 64, 16], "depths": [1, 1, 1], "heads": [4, 4, 2], "block_sizes": [4, 4, None]},
    64: {"widths": [128, 128, 64, 32], "depths": [1, 1, 1, 1], "heads": [4, 4, 4, 4], "block_sizes": [4, 4, 8, None]},
    128: {
        "widths": [512, 512, 256, 128, 128], "depths": [2, 2, 2, 2, 2], "heads": [16, 8, 4, 4, 4],
        "block_sizes": [4, 4, 8, 8, None],
    },
    256: {
        "widths": [512, 512, 256, 128, 64, 64], "depths": [2, 2, 2, 2, 1, 1], "heads": [16, 8, 4, 4, 4, 4],
        "block_sizes": [4, 4, 8, 8, None, None],
    },
    512: {
        "widths": [512, 512, 256, 128, 64, 64, 32], "depths": [2, 2, 2, 2, 1, 1, 1], "heads": [16, 8, 4, 4, 4, 4, 4],
        "block_sizes": [4, 4, 8, 8, None, None, None],
    },
    1024: {
        "widths": [512, 512, 256, 128, 64, 64, 32, 32], "depths": [2, 2, 2, 2, 1, 1, 1, 1],
        "heads": [16, 8, 4, 4, 4, 4, 4, 4], "block_sizes": [4, 4, 8, 8, None, None, None, None],
    },
}
ATTENTION_KINDS = (*AXES, "global")  # AXES: the blocked kinds, "multi_axis", "regional", "dilated"


@dataclass
class HiTConfig:
    """Everything that defines a HiT generator / StyleGAN2-style discriminator pair.

    The four per-stage lists default to ``ARCH[resolution]``; stage i works at 8 * 2^i px.
    ``d_channel_base`` / ``d_channel_max``: D has min(max, base // size) channels at each
    size; the official width multiplier m is base = 16384 * m (1 ImageNet, 2 faces).
    """

    resolution: int = 128
    z_dim: int = 256
    num_classes: int = 0
    widths: list[int] | None = None
    depths: list[int] | None = None
    heads: list[int] | None = None
    block_sizes: list[int | None] | None = None
    num_latents: int = 16
    mlp_ratio: int = 4
    attention: str = "multi_axis"  # ablations: "regional" | "dilated" (all heads one axis) | "global" (all tokens)
    cross_attention: bool = True  # False: no cross-attention to the latent tokens (ablation)
    norm_momentum: float = KERAS_BN_MOMENTUM
    d_channel_base: int = 16384
    d_channel_max: int = 512
    d_blur: bool = True

    def __post_init__(self) -> None:
        res = self.resolution
        if not isinstance(res, int) or res < GRID or res & (res - 1):
            raise ValueError(f"resolution must be a power of two >= {GRID}, got {res!r}")
        n_stages = int(math.log2(res // GRID)) + 1
        for name in ("widths", "depths", "heads", "block_sizes"):
            value = getattr(self, name)
            if value is None:
                if res not in ARCH:
                    raise ValueError(f"no default HiT architecture at {res} px ({sorted(ARCH)}): pass {name}")
                value = ARCH[res][name]
            value = list(value)
            if len(value) != n_stages:
                raise ValueError(
                    f"{name} needs one entry per stage ({n_stages} stages from 8 to {res} px), got {value}"
                )
            setattr(self, name, value)
        for name in ("z_dim", "num_latents", "mlp_ratio", "d_channel_base", "d_channel_max"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.num_classes, int) or self.num_classes < 0:
            raise ValueError(f"num_classes must be an integer >= 0 (0 = unconditional), got {self.num_classes!r}")
        if self.attention not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {self.attention!r}")
        if not isinstance(self.cross_attention, bool):
            raise ValueError(f"cross_attention must be true or false, got {self.cross_attention!r}")  # noqa: TRY004
        for i, (w, d, h, b) in enumerate(zip(self.widths, self.depths, self.heads, self.block_sizes)):
            size = GRID * 2**i
            if w < 1 or w % h:
                raise ValueError(f"stage {i} ({size} px): {h} heads do not divide width {w}")
            if i + 1 < n_stages and w % 4:
                raise ValueError(f"stage {i} ({size} px): width {w} must be divisible by 4 for pixel shuffle")
            if d < 0:
                raise ValueError(f"stage {i} ({size} px): depth must be >= 0, got {d}")
            if b is not None:
                if self.attention == "multi_axis" and (h % 2 or size % b or b < 1):
                    raise ValueError(
                        f"stage {i} ({size} px): multi-axis attention needs an even number of heads ({h}) "
                        f"and a block size dividing {size} (got {b})"
                    )
                if self.attention in AXES and (b < 1 or size % b):
                    raise ValueError(f"stage {i} ({size} px): {self.attention} attention needs a block size "
                                     f"dividing {size} (got {b})")

    def to_dict(self) -> dict[str, Any]:
        return {"family": "hit", **dataclasses.asdict(self)}


# --------------------------------------------------------------------------- generator


class SelfAttentionLayer(nn.Module):
    """``t = t + attn(norm(t)); t = mlp(t)``, multi-axis (or one of its axes) on blocked tokens
    (B, G, P, C), or global on flat tokens (B, N, C)."""

    def __init__(self, dim: int, heads: int, block_size: int, attention: str, mlp_ratio: int, momentum: float):
        super().__init__()
        self.norm = TokenBatchNorm(dim, momentum=momentum)
        if attention in AXES:
            self.attn: nn.Module = MultiAxisAttention(dim, heads, block_size, axes=attention)
        else:
            self.attn = GlobalAttention(dim, heads)
        self.mlp = MLP(dim, mlp_ratio, momentum)

    def forward(self, t: Tensor, return_attention: bool = False) -> tuple[Tensor, Any]:
        attend = self.attn.forward_blocked if isinstance(self.attn, MultiAxisAttention) else self.attn
        out = attend(self.norm(t), return_attention=return_attention)
        a, maps = out if return_attention else (out, None)
        return self.mlp(t + a), maps


class CrossAttentionLayer(nn.Module):
    """``t = t + cross(norm(t), latents); t = mlp(t)`` (the latents are normed once, upstream)."""

    def __init__(self, dim: int, latent_dim: int, heads: int, mlp_ratio: int, momentum: float):
        super().__init__()
        self.norm = TokenBatchNorm(dim, momentum=momentum)
        self.attn = CrossAttention(dim, latent_dim, heads)
        self.mlp = MLP(dim, mlp_ratio, momentum)

    def forward(self, t: Tensor, latents: Tensor, return_attention: bool = False) -> tuple[Tensor, Tensor | None]:
        out = self.attn(self.norm(t), latents, return_attention=return_attention)
        a, attn = out if return_attention else (out, None)
        return self.mlp(t + a), attn


class HiTStage(nn.Module):
    """One resolution: position embedding, cross-attention to the latents (unless ``cross`` is
    off), then its layers."""

    def __init__(self, size: int, dim: int, latent_dim: int, depth: int, heads: int,
                 block_size: int | None, attention: str, mlp_ratio: int, momentum: float,
                 cross: bool = True) -> None:
        super().__init__()
        self.size, self.dim, self.block_size = size, dim, block_size
        self.kind = "mlp" if block_size is None else attention
        self.blocked = self.kind in AXES  # tokens are kept in the blocked layout (B, G, P, C)
        self.pos = PositionEmbedding(size, size, dim)
        self.cross = CrossAttentionLayer(dim, latent_dim, heads, mlp_ratio, momentum) if cross else None
        self.layers = nn.ModuleList(
            MLP(dim, mlp_ratio, momentum) if block_size is None
            else SelfAttentionLayer(dim, heads, block_size, attention, mlp_ratio, momentum)
            for _ in range(depth)
        )

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}, kind={self.kind!r}, block_size={self.block_size}"

    def forward(self, x: Tensor, latents: Tensor, return_attention: bool = False) -> tuple[Tensor, dict | None]:
        """x (B, H, W, C), latents (B, M, C0) -> (B, H, W, C) and, if asked, this stage's attention maps."""
        x = self.pos(x)
        b, height, width, c = x.shape
        if self.blocked:
            t = block_images(x, self.block_size)  # (B, G, P, C), blocked once for the whole stage
        else:
            t = x.reshape(b, height * width, c)  # (B, N, C)
        if self.kind == "mlp" and not self.training and not return_attention:
            return self._per_token_chunks(t, latents).view(b, height, width, c), None
        cross = None
        if self.cross is not None:
            t, cross = self.cross(t, latents, return_attention)
        layer_maps = []
        for layer in self.layers:
            if isinstance(layer, SelfAttentionLayer):
                t, maps = layer(t, return_attention)
                layer_maps.append(maps)
            else:
                t = layer(t)
        if self.blocked:
            x = unblock_images(t, width // self.block_size, self.block_size)
        else:
            x = t.view(b, height, width, c)
        if not return_attention:
            return x, None
        if cross is None:
            return x, {"size": self.size, "kind": self.kind, "block_size": self.block_size, "cross": None,
                       "layers": layer_maps}
        # Cross-attention maps back in image layout: (B, h, N, M) -> (B, h, H, W, M).
        heads, m = cross.shape[1], cross.shape[-1]
        cross = cross.permute(0, 2, 1, 3)  # (B, N, h, M) in the token order of t
        if self.blocked:
            g, p = t.shape[1], t.shape[2]
            cross = unblock_images(cross.reshape(b, g, p, heads * m), width // self.block_size, self.block_size)
        cross = cross.reshape(b, height, width, heads, m).permute(0, 3, 1, 2, 4)
        return x, {"size": self.size, "kind": self.kind, "block_size": self.block_size, "cross": cross,
                   "layers": layer_maps}

    def _per_token_chunks(self, t: Tensor, latents: Tensor) -> Tensor:
        """An MLP-only stage in eval mode acts on each token alone (batch norm uses running
        statistics), so run it a few thousand tokens at a time: the 4x-wide MLP activations then
        stay in the CPU cache, which keeps the time of large images linear in their pixels."""
        chunk = max(1, EVAL_CHUNK_ELEMENTS // self.dim)
        out = []
        for part in t.split(chunk, dim=1):
            if self.cross is not None:
                part, _ = self.cross(part, latents)
            for layer in self.layers:
                part = layer(part)
            out.append(part)
        return torch.cat(out, dim=1)


class HiTGenerator(Generator):
    """z (B, z_dim) [and class y] -> images (B, 3, R, R), not clamped (``sample()`` clamps)."""

    soft_classes = True  # y may be class weights (B, K): the class embedding is their mix

    def __init__(self, cfg: HiTConfig) -> None:
        super().__init__()
        self.config = cfg.to_dict()
        self.z_dim, self.num_classes, self.resolution = cfg.z_dim, cfg.num_classes, cfg.resolution
        c0 = cfg.widths[0]
        self.grid_dim, self.latent_dim, self.num_latents = c0, c0, cfg.num_latents
        momentum = cfg.norm_momentum

        self.grid_linear = nn.Linear(cfg.z_dim, GRID * GRID * c0)
        self.latent_linear = nn.Linear(cfg.z_dim, cfg.num_latents * c0)
        self.latent_pos = PositionEmbedding(cfg.num_latents, c0)
        self.latent_norm = TokenBatchNorm(c0, momentum=momentum)
        self.class_embed = nn.Embedding(cfg.num_classes, c0) if cfg.num_classes > 0 else None

        n = len(cfg.widths)
        self.stages = nn.ModuleList(
            HiTStage(GRID * 2**i, cfg.widths[i], c0, cfg.depths[i], cfg.heads[i], cfg.block_sizes[i],
                     cfg.attention, cfg.mlp_ratio, momentum, cross=cfg.cross_attention)
            for i in range(n)
        )
        self.upsamples = nn.ModuleList(PixelShuffleUp(cfg.widths[i], cfg.widths[i + 1]) for i in range(n - 1))
        # keyed by stage index: every MLP-only stage, and the last stage, emits RGB.
        self.to_rgb = nn.ModuleDict({
            str(i): SkipToRGB(cfg.widths[i], 3, momentum)
            for i in range(n) if cfg.block_sizes[i] is None or i == n - 1
        })
        trunc_normal_init_(self)
        if self.class_embed is not None:
            # Unit scale, not HiT's 0.02: the latent tokens are batch-normed, so what matters is the
            # class's share against linear(z) (~0.02 * sqrt(z_dim) per entry). At 0.02 the class was
            # ~10x weaker than z, and hit-32's samples ignored it after a CPU run.
            trunc_normal_(self.class_embed.weight, 1.0)

    def tokens(self, z: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """z -> (grid tokens (B, 8, 8, C0), latent tokens (B, M, C0)): the decoder's inputs."""
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (B, {self.z_dim}), got {tuple(z.shape)}")
        b = z.shape[0]
        y = self.check_labels(y, b)
        grid = self.grid_linear(z).view(b, GRID, GRID, self.grid_dim)
        latents = self.latent_linear(z).view(b, self.num_latents, self.latent_dim)
        if self.class_embed is not None:
            latents = latents + embed_classes(self.class_embed, y)[:, None, :]
        return grid, self.latent_norm(self.latent_pos(latents))

    def decode(self, grid: Tensor, latents: Tensor, return_attention: bool = False) -> Tensor | tuple[Tensor, list]:
        """Run the stages on a token grid (B, 8, 8, C0) and latent tokens (B, M, C0), M any.

        Returns images (B, 3, R, R); with ``return_attention`` also one dict of attention
        maps per stage (explicit path): ``cross`` (B, h, H, W, M) (None without cross-attention)
        and, per self-attention layer, ``{"regional": (B, G, h/2, P, P), "dilated": (B, P, h/2, G, G)}``
        (multi-axis; one of the two keys, with all h heads, for a single axis) or (B, h, N, N) (global).
        """
        if grid.dim() != 4 or grid.shape[1:] != (GRID, GRID, self.grid_dim):
            raise ValueError(
                f"grid tokens must have shape (B, {GRID}, {GRID}, {self.grid_dim}), got {tuple(grid.shape)}"
            )
        if latents.dim() != 3 or latents.shape[0] != grid.shape[0] or latents.shape[2] != self.latent_dim:
            raise ValueError(
                f"latent tokens must have shape ({grid.shape[0]}, M, {self.latent_dim}), got {tuple(latents.shape)}"
            )
        x, rgb, all_maps = grid, None, []
        for i, stage in enumerate(self.stages):
            x, maps = stage(x, latents, return_attention)
            all_maps.append(maps)
            if str(i) in self.to_rgb:
                rgb = self.to_rgb[str(i)](x, rgb)  # (B, H, W, 3)
            if i < len(self.upsamples):
                x = self.upsamples[i](x)
        images = rgb.permute(0, 3, 1, 2).contiguous()  # (B, 3, R, R)
        return (images, all_maps) if return_attention else images

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.decode(*self.tokens(z, y))

    def attention_maps(self, z: Tensor, y: Tensor | None = None) -> tuple[Tensor, list[dict]]:
        """Images and every stage's attention maps for (z, y); see ``decode``."""
        return self.decode(*self.tokens(z, y), return_attention=True)

    def attention_layer_names(self) -> list[str]:
        """Every attention layer, in execution order: ``stages.i.cross``, then ``stages.i.layers.j``."""
        names = []
        for i, stage in enumerate(self.stages):
            names.append(f"stages.{i}.cross")
            names += [f"stages.{i}.layers.{j}" for j in _self_attention_indices(stage)]
        return names

    @torch.no_grad()
    def layer_attention(self, z: Tensor, y: Tensor | None = None, layers: Sequence[str] | None = None
                  ) -> tuple[Tensor, dict[str, HiTLayerMaps]]:
        """Images (B, 3, R, R) and each selected layer's own probabilities, from :meth:`attention_maps`."""
        attention, cross = self.config.get("attention", "multi_axis"), self.config.get("cross_attention", True)
        if attention not in ("multi_axis", "global") or not cross:
            raise ValueError(
                f"attention figures cover HiT with multi-axis or global attention and cross-attention; this "
                f"generator is an ablation (attention={attention!r}, cross_attention={cross!r})"
            )
        known = self.attention_layer_names()
        names = known if layers is None else list(layers)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"no attention layer named {unknown[0]!r}; this model has {', '.join(known)}")
        images, stages = self.attention_maps(z, y)
        captured: dict[str, HiTLayerMaps] = {}
        for i, (stage, maps) in enumerate(zip(self.stages, stages)):
            block = stage.block_size if stage.kind == "multi_axis" else None
            found = {f"stages.{i}.cross": ("cross", {"cross": maps["cross"]})}
            for j, layer_maps in zip(_self_attention_indices(stage), maps["layers"]):
                multi_axis = isinstance(layer_maps, dict)
                found[f"stages.{i}.layers.{j}"] = (("multi_axis", layer_maps) if multi_axis
                                                   else ("global", {"global": layer_maps}))
            for name, (kind, attn) in found.items():
                if name in names:
                    attn = {key: value.detach().float().cpu() for key, value in attn.items()}
                    captured[name] = HiTLayerMaps(name, kind, stage.size, block, attn)
        return images, {name: captured[name] for name in names}  # in the order asked


def _self_attention_indices(stage: nn.Module) -> list[int]:
    return [j for j, layer in enumerate(stage.layers) if isinstance(layer, SelfAttentionLayer)]


# The hit family's training recipe: the one place its values live (training presets state only what differs,
# `base: hit`). The official trainer's for ImageNet 128 (google-research/hit-gan; file and line of each value
# in docs/faithfulness.md); the faces presets differ from it in a few values (configs/hit-faces256.yaml).
HIT_RECIPE = {
    "loss": "logistic", "lr_g": 1e-4, "lr_d": 1e-4, "betas_g": [0.0, 0.99], "betas_d": [0.0, 0.99],
    "n_dis": 1, "batch_size": 256, "steps": 1_000_000, "r1_gamma": 10.0, "r1_every": 1, "bcr_weight": 0.0,
    "update": "simultaneous", "reuse_fake": False, "d_sn_in_g_step": False, "ema_decay": 0.999, "ema_start": 10,
    "ema_spectral_norm": "power_iteration", "class_conditional": False, "flip": True, "data_crop": "random",
    "data_crop_fraction": 0.875, "data_interpolation": "bicubic",
}
register_family(Family("hit", HiTConfig, HiTGenerator, HiTDiscriminator, HIT_RECIPE,
                       "official HiT code (google-research/hit-gan)", bf16_faster_on_cpu=True))

register_preset(
    "hit-128", "hit", "HiT at 128x128 (official ImageNet configuration: z 256, D width multiplier 1)",
    resolution=128, z_dim=256, d_channel_base=16384,
)
register_preset(
    "hit-256", "hit", "HiT-B at 256x256 (official faces configuration: z 512, D width multiplier 2)",
    resolution=256, z_dim=512, d_channel_base=32768,
)
register_preset(
    "hit-L-256", "hit", "HiT-L at 256x256: widths 1024-512-256-128-128-128, 2 layers per stage",
    resolution=256, z_dim=512, d_channel_base=32768,
    widths=[1024, 512, 256, 128, 128, 128], depths=[2] * 6, heads=[16, 8, 4, 4, 4, 4],
    block_sizes=[4, 4, 8, 8, None, None],
)
register_preset(
    "hit-1024", "hit", "HiT at 1024x1024 (official faces configuration: z 512, D width multiplier 2)",
    resolution=1024, z_dim=512, d_channel_base=32768,
)
register_preset(
    "hit-32", "hit", "small 32x32 HiT that trains on a CPU (attention at 8 and 16, MLP-only at 32)",
    resolution=32, z_dim=128, d_channel_base=512, d_channel_max=64,
)
register_preset(
    "hit-64", "hit", "small 64x64 HiT for CPU / single-GPU experiments (attention at 8-32, MLP-only at 64)",
    resolution=64, z_dim=128, d_channel_base=2048, d_channel_max=128,
)
