"""HiT, the whole family in one package: the generator and its config (:mod:`.generator`, which also holds
the family's recipe and presets), the StyleGAN2-style discriminator (:mod:`.discriminator`), their building
blocks (:mod:`.blocks`), multi-axis and cross-attention (:mod:`.multi_axis`) and the token maps its attention
layers return (:mod:`.token_maps`)."""

from .discriminator import HiTDiscriminator
from .generator import (
    ARCH,
    ATTENTION_KINDS,
    GRID,
    HIT_RECIPE,
    CrossAttentionLayer,
    HiTConfig,
    HiTGenerator,
    HiTStage,
    SelfAttentionLayer,
)
from .token_maps import HiTLayerMaps

__all__ = [
    "ARCH",
    "ATTENTION_KINDS",
    "GRID",
    "HIT_RECIPE",
    "CrossAttentionLayer",
    "HiTConfig",
    "HiTDiscriminator",
    "HiTGenerator",
    "HiTLayerMaps",
    "HiTStage",
    "SelfAttentionLayer",
]
