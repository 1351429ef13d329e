"""Reusable network layers: attention, normalization, spectral norm and residual blocks."""

from .attention import SelfAttention2d
from .blocks import DiscriminatorBlock, GeneratorBlock
from .embedding import embed_classes
from .hit_blocks import (
    MLP,
    BlurDownsample,
    PixelShuffleUp,
    PositionEmbedding,
    ResidualDownBlock,
    SkipToRGB,
    TokenBatchNorm,
)
from .multi_axis import (
    CrossAttention,
    GlobalAttention,
    MultiAxisAttention,
    block_images,
    multi_query_attention,
    pixel_shuffle,
    unblock_images,
)
from .normalization import BatchNorm2d, ConditionalBatchNorm2d
from .spectral import SpectralNormFactory, largest_singular_value, maybe_spectral_norm

__all__ = [
    "MLP",
    "BatchNorm2d",
    "BlurDownsample",
    "ConditionalBatchNorm2d",
    "CrossAttention",
    "DiscriminatorBlock",
    "GeneratorBlock",
    "GlobalAttention",
    "MultiAxisAttention",
    "PixelShuffleUp",
    "PositionEmbedding",
    "ResidualDownBlock",
    "SelfAttention2d",
    "SkipToRGB",
    "SpectralNormFactory",
    "TokenBatchNorm",
    "block_images",
    "embed_classes",
    "largest_singular_value",
    "maybe_spectral_norm",
    "multi_query_attention",
    "pixel_shuffle",
    "unblock_images",
]
