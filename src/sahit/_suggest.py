"""The did-you-mean hint every "unknown name" error in sahit ends with."""

from __future__ import annotations

import difflib


def suggest(name: str, choices: list[str]) -> str:
    """'; did you mean X?' for the nearest valid choice, or ''."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""
