"""Sample grids written as PNG: :func:`sahit.images.save_grid`, under its ``sahit.viz`` name."""

from __future__ import annotations

from ..images import MIN_CELL, save_grid

__all__ = ["MIN_CELL", "save_grid"]
