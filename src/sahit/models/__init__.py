"""Model families (SAGAN, HiT), their presets, and the one factory ``build``."""

from . import sagan  # noqa: F401  (registers the family and its presets)
from .base import Discriminator, Generator
from .registry import build, build_generator_from_config, model_config, presets

__all__ = ["build", "build_generator_from_config", "model_config", "presets", "Generator", "Discriminator"]
