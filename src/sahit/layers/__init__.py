"""Reusable network layers: attention, normalization, spectral norm and residual blocks."""

from .attention import SelfAttention2d
from .blocks import DiscriminatorBlock, GeneratorBlock
from .normalization import BatchNorm2d, ConditionalBatchNorm2d
from .spectral import SpectralNormFactory, largest_singular_value, maybe_spectral_norm

__all__ = [
    "SelfAttention2d",
    "ConditionalBatchNorm2d",
    "BatchNorm2d",
    "GeneratorBlock",
    "DiscriminatorBlock",
    "SpectralNormFactory",
    "maybe_spectral_norm",
    "largest_singular_value",
]
