"""Reusable network layers: self-attention, normalization, spectral norm and residual blocks.

HiT's blocks and its multi-axis and cross-attention live with HiT, in :mod:`sahit.models.hit` (``blocks``,
``multi_axis``). The names this package has always exported for them stay importable from here: they are
loaded on first use, so that importing ``sahit.layers`` does not import the model families.
"""

from __future__ import annotations

import importlib
from typing import Any

from .blocks import DiscriminatorBlock, GeneratorBlock
from .embedding import embed_classes
from .normalization import BatchNorm2d, ConditionalBatchNorm2d
from .self_attention import SelfAttention2d
from .spectral import SpectralNormFactory, largest_singular_value, maybe_spectral_norm

_HIT = {
    "MLP": "blocks", "BlurDownsample": "blocks", "PixelShuffleUp": "blocks", "PositionEmbedding": "blocks",
    "ResidualDownBlock": "blocks", "SkipToRGB": "blocks", "TokenBatchNorm": "blocks",
    "CrossAttention": "multi_axis", "GlobalAttention": "multi_axis", "MultiAxisAttention": "multi_axis",
    "block_images": "multi_axis", "multi_query_attention": "multi_axis", "pixel_shuffle": "multi_axis",
    "unblock_images": "multi_axis",
}

__all__ = [  # noqa: PLE0604 - the names of _HIT are loaded on first use
    "BatchNorm2d",
    "ConditionalBatchNorm2d",
    "DiscriminatorBlock",
    "GeneratorBlock",
    "SelfAttention2d",
    "SpectralNormFactory",
    "embed_classes",
    "largest_singular_value",
    "maybe_spectral_norm",
    *_HIT,
]


def __getattr__(name: str) -> Any:
    if name in _HIT:
        return getattr(importlib.import_module(f"sahit.models.hit.{_HIT[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
