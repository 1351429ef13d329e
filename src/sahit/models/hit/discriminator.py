"""The StyleGAN2-style discriminator HiT is trained with (the official HiT code's)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..base import Discriminator
from .blocks import ResidualDownBlock

if TYPE_CHECKING:
    from .generator import HiTConfig

Tensor = torch.Tensor


class HiTDiscriminator(Discriminator):
    """StyleGAN2-style residual discriminator (no equalised lr, no minibatch-stddev, no SN).

    conv3x3 - lrelu, residual blocks R -> ... -> 4 with [1, 3, 3, 1] blur down-sampling,
    conv3x3 - lrelu, flatten, linear - lrelu, linear -> (B,) logits. Class-conditional
    variants add a projection term <embed(y), h> on the last hidden features.
    """

    def __init__(self, cfg: HiTConfig) -> None:
        super().__init__()
        self.num_classes, self.resolution = cfg.num_classes, cfg.resolution

        def channels(size: int) -> int:
            return min(cfg.d_channel_max, cfg.d_channel_base // size)

        sizes = [cfg.resolution // 2**i for i in range(int(math.log2(cfg.resolution)) - 1)]  # R, ..., 4
        self.stem = nn.Conv2d(3, channels(cfg.resolution), 3, padding=1)
        self.blocks = nn.ModuleList(
            ResidualDownBlock(channels(s), channels(s // 2), blur=cfg.d_blur) for s in sizes[:-1]
        )
        c4 = channels(4)
        self.final_conv = nn.Conv2d(c4, c4, 3, padding=1)
        self.fc = nn.Linear(c4 * 16, c4)
        self.out = nn.Linear(c4, 1)
        self.embed = nn.Embedding(cfg.num_classes, c4) if cfg.num_classes > 0 else None
        for m in self.modules():  # Keras defaults: Glorot-uniform kernels, zero biases
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def features(self, x: Tensor) -> Tensor:
        """The last hidden features (B, C4) before the output layer."""
        h = F.leaky_relu(self.stem(x), 0.2)
        for block in self.blocks:
            h = block(h)
        h = F.leaky_relu(self.final_conv(h), 0.2)
        return F.leaky_relu(self.fc(h.permute(0, 2, 3, 1).flatten(1)), 0.2)  # flatten in (H, W, C) order

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        if x.dim() != 4 or x.shape[1:] != (3, self.resolution, self.resolution):
            raise ValueError(f"D expects images (B, 3, {self.resolution}, {self.resolution}), got {tuple(x.shape)}")
        y = self.check_labels(y, x.shape[0])
        h = self.features(x)
        out = self.out(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(dim=1)
        return out
