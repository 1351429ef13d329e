"""SAGAN generator and projection discriminator, built from one description.

The backbone follows SNGAN (32 px) and BigGAN / the official SAGAN code (64-256 px): channel
widths are ``width * multiplier`` from the tables below, attention sits after every block
whose output size is listed in ``attn_res``. ``attn_block="residual"`` puts a residual block with
the same parameter count at those places instead (the control of the paper's Table 1).
``init`` and ``bn_momentum`` default to the official code's (Xavier everywhere; conditional batch
norm statistics with momentum 0.001); docs/faithfulness.md lists every value and its source.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.blocks import DiscriminatorBlock, GeneratorBlock
from ..layers.normalization import BatchNorm2d
from ..layers.self_attention import SelfAttention2d
from ..layers.spectral import (
    INITS,
    SpectralNormFactory,
    init_weight,
    maybe_spectral_norm,
    set_eval_power_iteration,
)
from .base import Discriminator, Generator
from .registry import Family, register_alias, register_family, register_preset

BOTTOM = 4  # G starts from a 4x4 map; every G block doubles it.
# G: channel multipliers of the 4x4 input, then of each block's output.
G_ARCH: dict[int, list[int]] = {
    16: [1, 1, 1],
    32: [1, 1, 1, 1],
    64: [16, 16, 8, 4, 2],
    128: [16, 16, 8, 4, 2, 1],
    256: [16, 16, 8, 8, 4, 2, 1],
}
# D: channel multipliers of each block's output, and whether the block halves the size.
D_ARCH: dict[int, tuple[list[int], list[bool]]] = {
    16: ([1, 1, 1], [True, False, False]),
    32: ([1, 1, 1, 1], [True, True, False, False]),
    64: ([1, 2, 4, 8, 16], [True, True, True, True, False]),
    128: ([1, 2, 4, 8, 16, 16], [True] * 5 + [False]),
    256: ([1, 2, 4, 8, 8, 16, 16], [True] * 6 + [False]),
}
ATTN_BLOCKS = ("attention", "residual")
# Conditional batch norm's class tables: plain (gain starts at 1), or StudioGAN's spectrally normalised forms
# (gain = 1 + table): "embedding" normalises the (K, C) table, "linear" its (C, K) transpose (see
# ConditionalBatchNorm2d). The value is the spectral norm's dim on the (K, C) table.
CBN_SPECTRAL_NORM = {"none": None, "embedding": 0, "linear": 1}
# "orthogonal_blocks": orthogonal in the residual blocks and linear layers, PyTorch's default in the
# attention layers: sahit 0.1.0's initialisation, kept by the CPU-sized quickstart preset.
SAGAN_INITS = (*INITS, "orthogonal_blocks")


@dataclass
class SAGANConfig:
    """Everything that defines a SAGAN generator / discriminator pair."""

    resolution: int = 32
    g_width: int = 256
    d_width: int = 128
    z_dim: int = 128
    num_classes: int = 10
    g_attn_res: list[int] = field(default_factory=lambda: [16])
    d_attn_res: list[int] = field(default_factory=lambda: [16])
    attn_res: list[int] | None = None  # shorthand: sets both g_attn_res and d_attn_res
    g_spectral_norm: bool = True
    d_spectral_norm: bool = True
    n_power_iterations: int = 1
    attn_pool_kv: bool = True
    attn_value_ratio: float = 0.5
    attn_key_ratio: float = 0.125
    attn_block: str = "attention"  # "residual": a parameter-matched residual block in attention's place
    init: str = "xavier"  # xavier (official code) | orthogonal (StudioGAN, BigGAN default) | orthogonal_blocks
    bn_momentum: float = 0.001  # G's batch-norm running statistics (official CBN: TF decay 0.999; torch: 0.1)
    # Options for importing StudioGAN's SAGAN exactly (sahit convert studiogan); the defaults are the official code's.
    bn_eps: float = 1e-5  # G's batch norms: torch's 1e-5 (StudioGAN: 1e-4)
    cbn_spectral_norm: str = "none"  # none | embedding | linear: StudioGAN's CBN forms (ConditionalBatchNorm2d)
    d_shortcut_relu: bool = False  # D blocks' shortcut sees relu(x) (StudioGAN's in-place ReLU); official code: x
    g_eval_power_iteration: bool = False  # G's spectral norms iterate once per call in eval mode (StudioGAN sampling)
    g_arch: list[int] | None = None  # G's width multipliers: 4x4 input, then each block (None: G_ARCH[resolution])

    def __post_init__(self) -> None:
        if self.resolution not in G_ARCH:
            raise ValueError(
                f"resolution {self.resolution} is not supported by SAGAN; choose one of {sorted(G_ARCH)}"
            )
        for name in ("g_width", "d_width", "z_dim", "n_power_iterations"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.num_classes, int) or self.num_classes < 0:
            raise ValueError(f"num_classes must be an integer >= 0 (0 = unconditional), got {self.num_classes!r}")
        if self.init not in SAGAN_INITS:
            raise ValueError(f"init must be one of {SAGAN_INITS}, got {self.init!r}")
        if not isinstance(self.bn_momentum, (int, float)) or not 0 < self.bn_momentum <= 1:
            raise ValueError(f"bn_momentum must be in (0, 1], got {self.bn_momentum!r}")
        if isinstance(self.bn_eps, str):  # YAML 1.1 reads 1e-4 (no dot) as a string: the user means the number
            try:
                self.bn_eps = float(self.bn_eps)
            except ValueError:
                pass
        if isinstance(self.bn_eps, bool) or not isinstance(self.bn_eps, (int, float)) or not self.bn_eps > 0:
            raise ValueError(f"bn_eps must be a positive number, got {self.bn_eps!r}")
        if self.cbn_spectral_norm not in CBN_SPECTRAL_NORM:
            raise ValueError(f"cbn_spectral_norm must be one of {tuple(CBN_SPECTRAL_NORM)}, got {self.cbn_spectral_norm!r}")
        if self.g_arch is not None:
            n = len(G_ARCH[self.resolution])
            if (not isinstance(self.g_arch, (list, tuple)) or len(self.g_arch) != n
                    or not all(isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in self.g_arch)):
                raise ValueError(f"g_arch must be {n} positive integers at {self.resolution} px (4x4 input, then "
                                 f"each block; default {G_ARCH[self.resolution]}), got {self.g_arch!r}")
            self.g_arch = list(self.g_arch)
        if self.attn_block not in ATTN_BLOCKS:
            raise ValueError(f"attn_block must be one of {ATTN_BLOCKS}, got {self.attn_block!r}")
        if self.attn_res is not None:
            self.g_attn_res = list(self.attn_res)
            self.d_attn_res = list(self.attn_res)
            self.attn_res = None
        self.g_attn_res = _check_attn_res(self.g_attn_res, generator_sizes(self.resolution), "G")
        self.d_attn_res = _check_attn_res(self.d_attn_res, discriminator_sizes(self.resolution), "D")

    def to_dict(self) -> dict:
        return {"family": "sagan", **dataclasses.asdict(self)}


def generator_sizes(resolution: int) -> list[int]:
    """Output size of each G block."""
    return [BOTTOM * 2 ** (i + 1) for i in range(len(G_ARCH[resolution]) - 1)]


def discriminator_sizes(resolution: int) -> list[int]:
    """Output size of each D block."""
    sizes, size = [], resolution
    for down in D_ARCH[resolution][1]:
        size = size // 2 if down else size
        sizes.append(size)
    return sizes


def _check_attn_res(values: list[int], sizes: list[int], net: str) -> list[int]:
    if isinstance(values, int):
        values = [values]
    values = sorted({int(v) for v in values})
    for v in values:
        if v not in sizes:
            raise ValueError(
                f"attention at {v}x{v} is impossible in {net}: its blocks produce {sorted(set(sizes))}"
            )
    return values


def _layer_init(cfg: SAGANConfig) -> str | None:
    """The initialisation of the attention (or residual control) convs; None: PyTorch's default."""
    return None if cfg.init == "orthogonal_blocks" else cfg.init


def _block_init(cfg: SAGANConfig) -> str:
    return "orthogonal" if cfg.init == "orthogonal_blocks" else cfg.init


def _attention(channels: int, cfg: SAGANConfig, spectral_norm: bool) -> nn.Module:
    """The block that goes where attention is asked for: SelfAttention2d, or its residual control."""

    def attention(spectral_norm: bool) -> SelfAttention2d:
        return SelfAttention2d(
            channels,
            pool_kv=cfg.attn_pool_kv,
            value_ratio=cfg.attn_value_ratio,
            key_ratio=cfg.attn_key_ratio,
            spectral_norm=spectral_norm,
            n_power_iterations=cfg.n_power_iterations,
            init=_layer_init(cfg),
        )

    if cfg.attn_block == "residual":
        with torch.device("meta"):  # only counted, never run
            n = sum(p.numel() for p in attention(False).parameters())
        return ParamMatchedResidual(channels, n, spectral_norm, cfg.n_power_iterations, _layer_init(cfg))
    return attention(spectral_norm)


class ParamMatchedResidual(nn.Module):
    """A residual block with a given parameter count: the control for attention in SAGAN's Table 1.

    ``y = x + gamma * conv1x1(relu(conv3x3(relu(x))))`` (convs without bias, ``gamma`` = 0 at start
    like attention's, so both start as the identity). The hidden width m makes the block's
    10*C*m + 1 parameters match ``n_params`` as closely as possible; for SAGAN's attention with
    keys at C/8 and values at C/2 (1.25*C^2 + 1 parameters) that is m = C/8, an exact match.
    Unlike attention it only sees a 3x3 neighbourhood.
    """

    def __init__(self, channels: int, n_params: int, spectral_norm: bool = True, n_power_iterations: int = 1,
                 init: str | None = None) -> None:
        super().__init__()
        self.channels = channels
        self.hidden = max(1, round((n_params - 1) / (10 * channels)))
        conv1 = nn.Conv2d(channels, self.hidden, 3, padding=1, bias=False)
        conv2 = nn.Conv2d(self.hidden, channels, 1, bias=False)
        if init is not None:
            init_weight(conv1.weight, init)
            init_weight(conv2.weight, init)
        self.conv1 = maybe_spectral_norm(conv1, spectral_norm, n_power_iterations)
        self.conv2 = maybe_spectral_norm(conv2, spectral_norm, n_power_iterations)
        self.gamma = nn.Parameter(torch.zeros(()))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, hidden={self.hidden}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma * self.conv2(F.relu(self.conv1(F.relu(x))))  # (B, C, H, W)


class SAGANGenerator(Generator):
    """z (and class y) -> linear -> 4x4 -> residual up-blocks (+ attention) -> BN-ReLU-conv-tanh."""

    soft_classes = True  # y may be class weights (B, K): conditional BN mixes the classes' gains and biases

    def __init__(self, cfg: SAGANConfig) -> None:
        super().__init__()
        self.config = cfg.to_dict()
        self.z_dim, self.num_classes, self.resolution = cfg.z_dim, cfg.num_classes, cfg.resolution
        sn = SpectralNormFactory(cfg.g_spectral_norm, cfg.n_power_iterations, _block_init(cfg))
        widths = [cfg.g_width * m for m in (cfg.g_arch or G_ARCH[cfg.resolution])]
        self.bottom_channels = widths[0]
        self.linear = sn.linear(cfg.z_dim, BOTTOM * BOTTOM * widths[0])
        self.blocks = nn.ModuleList()
        self.attention = nn.ModuleDict()  # keyed by block index, so names show where they act
        for i, (c_in, c_out) in enumerate(itertools.pairwise(widths)):
            self.blocks.append(GeneratorBlock(c_in, c_out, cfg.num_classes, sn, cfg.bn_momentum, cfg.bn_eps,
                                              CBN_SPECTRAL_NORM[cfg.cbn_spectral_norm]))
            if BOTTOM * 2 ** (i + 1) in cfg.g_attn_res:
                self.attention[str(i)] = _attention(c_out, cfg, cfg.g_spectral_norm)
        self.out_bn = BatchNorm2d(widths[-1], eps=cfg.bn_eps, momentum=cfg.bn_momentum)
        self.out_conv = sn.conv(widths[-1], 3, 3)
        if cfg.g_eval_power_iteration:
            set_eval_power_iteration(self)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (B, {self.z_dim}), got {tuple(z.shape)}")
        y = self.check_labels(y, z.shape[0])
        h = self.linear(z).view(z.shape[0], self.bottom_channels, BOTTOM, BOTTOM)
        for i, block in enumerate(self.blocks):
            h = block(h, y)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))


class SAGANDiscriminator(Discriminator):
    """Residual down-blocks (+ attention) -> ReLU -> global sum pool -> linear + projection."""

    def __init__(self, cfg: SAGANConfig) -> None:
        super().__init__()
        self.num_classes, self.resolution = cfg.num_classes, cfg.resolution
        sn = SpectralNormFactory(cfg.d_spectral_norm, cfg.n_power_iterations, _block_init(cfg))
        multipliers, downsample = D_ARCH[cfg.resolution]
        widths = [3] + [cfg.d_width * m for m in multipliers]
        self.blocks = nn.ModuleList()
        self.attention = nn.ModuleDict()
        for i, (c_in, c_out, down, size) in enumerate(
            zip(widths[:-1], widths[1:], downsample, discriminator_sizes(cfg.resolution))
        ):
            self.blocks.append(DiscriminatorBlock(c_in, c_out, down, sn, optimized=(i == 0),
                                                  shortcut_relu=cfg.d_shortcut_relu))
            if size in cfg.d_attn_res and not any(
                s == size for s in discriminator_sizes(cfg.resolution)[:i]
            ):  # once per size, after the first block that reaches it
                self.attention[str(i)] = _attention(c_out, cfg, cfg.d_spectral_norm)
        self.linear = sn.linear(widths[-1], 1)
        self.embed = sn.embedding(cfg.num_classes, widths[-1]) if cfg.num_classes > 0 else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (B, C): ReLU then global sum pooling."""
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        return F.relu(h).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (3, self.resolution, self.resolution):
            raise ValueError(f"D expects images (B, 3, {self.resolution}, {self.resolution}), got {tuple(x.shape)}")
        y = self.check_labels(y, x.shape[0])
        h = self.features(x)
        out = self.linear(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(dim=1)  # projection: <embed(y), h>
        return out


# The sagan family's training recipe: the one place its values live. Every training preset of the family
# starts from it and states only what differs (src/sahit/configs/*.yaml, `base: sagan`). The values are the
# official code's (brain-research/self-attention-gan), except the EMA it lacks (BigGAN-PyTorch's SAGAN
# script's); docs/faithfulness.md gives the file and line of each and checks every preset against them.
SAGAN_RECIPE = {
    "loss": "hinge", "lr_g": 1e-4, "lr_d": 4e-4, "betas_g": [0.0, 0.999], "betas_d": [0.0, 0.999],
    "n_dis": 1, "batch_size": 256, "steps": 1_000_000, "r1_gamma": 0.0, "bcr_weight": 0.0,
    "update": "alternating", "reuse_fake": False, "d_sn_in_g_step": False, "ema_decay": 0.9999, "ema_start": 2000,
    "ema_spectral_norm": "power_iteration", "class_conditional": True, "flip": False, "data_crop": "center",
    "data_crop_fraction": 1.0, "data_interpolation": "bilinear",
}
register_family(Family("sagan", SAGANConfig, SAGANGenerator, SAGANDiscriminator, SAGAN_RECIPE,
                       "official SAGAN code (brain-research/self-attention-gan)", bf16_faster_on_cpu=True))

register_preset(
    "sagan-32",
    "sagan",
    "32x32 SAGAN on the SNGAN-CIFAR backbone, attention at 16x16 in G and D (StudioGAN's CIFAR-10 SAGAN)",
    resolution=32, g_width=256, d_width=128, z_dim=128, num_classes=10, g_attn_res=[16], d_attn_res=[16],
)
register_preset(
    "sagan-128",
    "sagan",
    "128x128 ImageNet SAGAN, width 64, attention at 64x64 in G and D (BigGAN-PyTorch's SAGAN script)",
    resolution=128, g_width=64, d_width=64, z_dim=128, num_classes=1000, g_attn_res=[64], d_attn_res=[64],
)
register_preset(
    "sagan-128-tf",
    "sagan",
    "128x128 ImageNet SAGAN as in the official TF layout: attention at 32x32 in G and D",
    resolution=128, g_width=64, d_width=64, z_dim=128, num_classes=1000, g_attn_res=[32], d_attn_res=[32],
)
register_preset(
    "sagan-16",
    "sagan",
    "small 16x16 SAGAN that learns the built-in shapes on a laptop CPU in minutes",
    resolution=16, g_width=32, d_width=32, z_dim=64, num_classes=10, g_attn_res=[16], d_attn_res=[8],
    # CPU-preset deviations, kept so that its published grids stay reproducible:
    # sahit's earlier initialisation and torch's batch-norm momentum [official: xavier, 0.001].
    init="orthogonal_blocks", bn_momentum=0.1,
)
# Earlier names of these model presets (training presets now have them): old run folders and code keep loading.
for _old, _name in (("quickstart", "sagan-16"), ("sagan-cifar10", "sagan-32"), ("sagan-imagenet128", "sagan-128"),
                    ("sagan-imagenet128-tf", "sagan-128-tf")):
    register_alias(_old, _name)
