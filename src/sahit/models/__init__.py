"""Model families (SAGAN, HiT), their presets, and the one factory ``build``."""

from . import hit, sagan  # noqa: F401  (register the families and their presets)
from .base import Discriminator, Generator, truncated_noise
from .registry import build, build_generator_from_config, model_config, presets

__all__ = [
    "Discriminator",
    "Generator",
    "build",
    "build_generator_from_config",
    "model_config",
    "presets",
    "truncated_noise",
]
