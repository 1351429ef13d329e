"""Normalization layers: conditional batch norm (de Vries et al. 2017; SAGAN's G)."""

from __future__ import annotations

import torch
from torch import nn


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm without its own affine, then a per-class gain and bias.

    ``out = gain[y] * BN(x) + bias[y]``, gains initialised at 1 and biases at 0, so at
    initialisation it equals plain BN. The embeddings are not spectrally normalised
    (as in BigGAN-PyTorch): normalising an all-ones gain table would shrink it far below 1.
    """

    def __init__(self, num_features: int, num_classes: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"ConditionalBatchNorm2d needs num_classes >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.bn = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=False)
        self.gain = nn.Embedding(num_classes, num_features)
        self.bias = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gain = self.gain(y)[:, :, None, None]  # (B, C, 1, 1)
        bias = self.bias(y)[:, :, None, None]
        return torch.addcmul(bias, self.bn(x), gain)


class BatchNorm2d(nn.BatchNorm2d):
    """Plain affine batch norm with the conditional layer's call signature (``y`` ignored)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # noqa: ARG002
        return super().forward(x)


def batch_norm_2d(num_features: int, num_classes: int) -> nn.Module:
    """Conditional batch norm when ``num_classes > 0``, plain batch norm otherwise."""
    return ConditionalBatchNorm2d(num_features, num_classes) if num_classes > 0 else BatchNorm2d(num_features)
