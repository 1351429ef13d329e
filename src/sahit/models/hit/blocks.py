"""Building blocks of HiT's generator (token norm, MLP, position embedding, up-sampling,
skip to-RGB) and of its StyleGAN2-style discriminator (blur down-sampling, residual block).

Generator blocks are channels-last (B, ..., C); discriminator blocks are (B, C, H, W).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...layers.normalization import SyncableBatchNorm1d
from .multi_axis import pixel_shuffle

Tensor = torch.Tensor

# Keras BatchNormalization defaults, as in the official code: moving = 0.99 * moving + 0.01 * batch.
KERAS_BN_MOMENTUM = 0.01
KERAS_BN_EPS = 1e-3


@torch.no_grad()
def trunc_normal_(tensor: Tensor, std: float = 0.02) -> Tensor:
    """Fill with N(0, std) truncated at +-2 std (Keras' TruncatedNormal), by inverse-CDF sampling."""
    bound = math.erf(2.0 / math.sqrt(2.0))  # erf of the truncation point in standard units
    tensor.uniform_(-bound, bound).erfinv_().mul_(std * math.sqrt(2.0))
    return tensor.clamp_(-2.0 * std, 2.0 * std)


def trunc_normal_init_(module: nn.Module, std: float = 0.02) -> None:
    """HiT's initialisation: every linear weight ~ truncated N(0, std), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class TokenBatchNorm(SyncableBatchNorm1d):
    """Batch norm of channels-last tokens (B, ..., C): statistics over batch and all tokens."""

    def __init__(self, dim: int, eps: float = KERAS_BN_EPS, momentum: float = KERAS_BN_MOMENTUM) -> None:
        super().__init__(dim, eps=eps, momentum=momentum)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).view(x.shape)


class MLP(nn.Module):
    """Pre-norm residual MLP: ``x + fc2(gelu(fc1(norm(x))))``, hidden width ``ratio * C``."""

    def __init__(self, dim: int, ratio: int = 4, norm_momentum: float = KERAS_BN_MOMENTUM) -> None:
        super().__init__()
        self.norm = TokenBatchNorm(dim, momentum=norm_momentum)
        self.fc1 = nn.Linear(dim, dim * ratio)
        self.fc2 = nn.Linear(dim * ratio, dim)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.fc2(F.gelu(self.fc1(self.norm(x))))


class PositionEmbedding(nn.Module):
    """A learned embedding added to every token of a fixed-shape grid ``shape`` (e.g. (H, W, C))."""

    def __init__(self, *shape: int, std: float = 0.02) -> None:
        super().__init__()
        self.weight = nn.Parameter(trunc_normal_(torch.empty(1, *shape), std))

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1:] != self.weight.shape[1:]:
            raise ValueError(f"position embedding is for {tuple(self.weight.shape[1:])}, got {tuple(x.shape[1:])}")
        return x + self.weight


class PixelShuffleUp(nn.Module):
    """(B, H, W, C_in) -> (B, 2H, 2W, C_out): pixel shuffle x2, then a linear layer if C_in/4 != C_out."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        if in_dim % 4:
            raise ValueError(f"pixel shuffle x2 needs a width divisible by 4, got {in_dim}")
        self.in_dim, self.out_dim = in_dim, out_dim
        self.linear = nn.Linear(in_dim // 4, out_dim) if in_dim // 4 != out_dim else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(pixel_shuffle(x, 2))


class SkipToRGB(nn.Module):
    """``rgb = linear(norm(x)) + upsample(previous rgb)`` on channels-last maps (B, H, W, 3)."""

    def __init__(self, dim: int, out_channels: int = 3, norm_momentum: float = KERAS_BN_MOMENTUM) -> None:
        super().__init__()
        self.norm = TokenBatchNorm(dim, momentum=norm_momentum)
        self.linear = nn.Linear(dim, out_channels)

    def forward(self, x: Tensor, skip: Tensor | None) -> Tensor:
        rgb = self.linear(self.norm(x))  # (B, H, W, 3)
        if skip is not None:
            f = x.shape[1] // skip.shape[1]
            rgb = rgb + skip.repeat_interleave(f, dim=1).repeat_interleave(f, dim=2)  # nearest up-sampling
        return rgb


# --------------------------------------------------------------------------- discriminator


class BlurDownsample(nn.Module):
    """Depthwise [1, 3, 3, 1] (outer product, normalised) blur then stride 2 (Zhang 2019; StyleGAN2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        f = torch.tensor([1.0, 3.0, 3.0, 1.0])
        kernel = f[:, None] * f[None, :]
        kernel = kernel / kernel.sum()
        self.channels = channels
        self.register_buffer("kernel", kernel.expand(channels, 1, 4, 4).clone(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        # TensorFlow "SAME" padding for a 4-tap filter at stride 2 on an even size: 1 on each side
        # (zeros, padded by the convolution itself: no padded copy of x, twice as fast on a CPU).
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            # oneDNN's depthwise backward is much slower in bf16 than in fp32 on the CPU (docs/benchmarks.md, hit_speed)
            with torch.autocast("cpu", enabled=False):
                return F.conv2d(x.float(), self.kernel, stride=2, padding=1, groups=self.channels)
        return F.conv2d(x, self.kernel.to(x.dtype), stride=2, padding=1, groups=self.channels)


class ResidualDownBlock(nn.Module):
    """StyleGAN2 residual D block: conv3x3 (C_in) - lrelu - down - conv3x3 (C_out) - lrelu,
    plus skip down - conv1x1 (no bias), summed and scaled by 1/sqrt(2)."""

    def __init__(self, in_channels: int, out_channels: int, blur: bool = True, slope: float = 0.2) -> None:
        super().__init__()
        self.slope = slope
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.down = BlurDownsample(in_channels) if blur else nn.AvgPool2d(2)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        h = F.leaky_relu(self.conv1(x), self.slope)
        h = F.leaky_relu(self.conv2(self.down(h)), self.slope)
        return (h + self.skip(self.down(x))) / math.sqrt(2.0)
