"""Residual blocks of SAGAN / SNGAN / BigGAN generators and discriminators."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .normalization import batch_norm_2d
from .spectral import SpectralNormFactory


class GeneratorBlock(nn.Module):
    """BN/CBN -> ReLU -> nearest x2 -> 3x3 -> BN/CBN -> ReLU -> 3x3, plus x2 -> 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, num_classes: int, sn: SpectralNormFactory,
                 bn_momentum: float = 0.1, bn_eps: float = 1e-5, cbn_spectral_norm_dim: int | None = None) -> None:
        super().__init__()
        cbn = ({"spectral_norm_dim": cbn_spectral_norm_dim, "n_power_iterations": sn.n_power_iterations,
                "init": sn.init} if num_classes > 0 and cbn_spectral_norm_dim is not None else {})
        self.bn1 = batch_norm_2d(c_in, num_classes, bn_momentum, bn_eps, **cbn)
        self.conv1 = sn.conv(c_in, c_out, 3)
        self.bn2 = batch_norm_2d(c_out, num_classes, bn_momentum, bn_eps, **cbn)
        self.conv2 = sn.conv(c_out, c_out, 3)
        self.shortcut = sn.conv(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = F.relu(self.bn1(x, y))
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.conv1(h)
        h = self.conv2(F.relu(self.bn2(h, y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DiscriminatorBlock(nn.Module):
    """Pre-activation residual block with optional 2x2 average-pool downsampling.

    ``optimized=True`` is SNGAN's first block: no activation before the first conv, and the
    shortcut pools before its 1x1 conv. A shortcut conv exists only where channels change or
    the block downsamples. ``shortcut_relu=True`` (non-optimized blocks): the shortcut sees relu(x),
    as in StudioGAN, whose in-place ReLU overwrites the input it kept for the shortcut; the official
    SAGAN code's shortcut sees x.
    """

    def __init__(
        self, c_in: int, c_out: int, downsample: bool, sn: SpectralNormFactory, optimized: bool = False,
        shortcut_relu: bool = False,
    ) -> None:
        super().__init__()
        self.downsample = downsample
        self.optimized = optimized
        self.shortcut_relu = shortcut_relu and not optimized
        self.conv1 = sn.conv(c_in, c_out, 3)
        self.conv2 = sn.conv(c_out, c_out, 3)
        self.shortcut = sn.conv(c_in, c_out, 1) if (c_in != c_out or downsample) else None

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shortcut_relu:
            x = F.relu(x)
        h = x if self.optimized else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        h = self._pool(h)
        if self.shortcut is None:
            return h + x
        if self.optimized:
            return h + self.shortcut(self._pool(x))
        return h + self._pool(self.shortcut(x))
