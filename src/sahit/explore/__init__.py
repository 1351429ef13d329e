"""``sahit explore``: a local web page to look inside a generator (samples, attention per pixel, knock-outs).

:class:`~sahit.explore.model.Explorer` answers with the library's own functions; :mod:`sahit.explore.server`
serves it over HTTP (aiohttp, an optional dependency: ``pip install 'sahit[explore]'``). See docs/explore.md.
Names are imported on first use, so that importing the package stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"Explorer": "model", "Query": "params", "load_explorer": "loading", "create_app": "server", "serve": "server"}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
