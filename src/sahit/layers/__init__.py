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
    "SelfAttention2d",
    "embed_classes",
    "ConditionalBatchNorm2d",
    "BatchNorm2d",
    "GeneratorBlock",
    "DiscriminatorBlock",
    "SpectralNormFactory",
    "maybe_spectral_norm",
    "largest_singular_value",
    "MultiAxisAttention",
    "CrossAttention",
    "GlobalAttention",
    "multi_query_attention",
    "block_images",
    "unblock_images",
    "pixel_shuffle",
    "TokenBatchNorm",
    "MLP",
    "PositionEmbedding",
    "PixelShuffleUp",
    "SkipToRGB",
    "BlurDownsample",
    "ResidualDownBlock",
]
