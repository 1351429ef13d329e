"""Pictures: sample grids, attention maps, interpolations, run reports.

Attention, interpolation and report functions are imported on first use, so that importing
``sahit.viz.grid`` (as training does) does not load matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

from .grid import save_grid

_LAZY = {
    "capture_attention": "attention_figure", "attention_panels": "attention_figure",
    "attention_figure": "attention_figure", "plot_attention": "attention_figure", "select_points": "attention_figure",
    "capture_hit_attention": "hit_attention", "hit_attention_panels": "hit_attention",
    "plot_hit_attention": "hit_attention",
    "interpolate": "interpolation", "plot_interpolation": "interpolation", "save_gif": "interpolation",
    "class_interpolation": "interpolation",
    "slerp": "interpolation", "lerp": "interpolation",
    "build_report": "report",
}

__all__ = ["save_grid", *_LAZY]  # noqa: PLE0604 - the names _LAZY imports on first use


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
