"""The version of sahit: from the source tree's pyproject.toml when run from a checkout, else the package metadata."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

_PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"  # src/sahit/_version.py -> repository root
_VERSION_LINE = re.compile(r'^version\s*=\s*"([^"]+)"\s*$', re.MULTILINE)


def package_version() -> str:
    """``0.2.0``-style version string; ``0+unknown`` when neither source can tell.

    A checkout (or an editable install) reads its own ``pyproject.toml``: the metadata of an
    editable install is written once at install time and goes stale when the version is bumped.
    An installed wheel has no ``pyproject.toml`` beside it and reads ``importlib.metadata``.
    """
    try:
        text = _PYPROJECT.read_text()
    except OSError:
        text = ""
    if 'name = "sahit"' in text:
        found = _VERSION_LINE.search(text)
        if found:
            return found.group(1)
    try:
        return version("sahit")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = package_version()
