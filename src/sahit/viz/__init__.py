"""Pictures: sample grids, attention maps, interpolations, run reports."""

from .grid import save_grid

__all__ = ["save_grid"]
