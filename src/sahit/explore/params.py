"""The query parameters of ``sahit explore``'s API, parsed strictly and bounded.

Every value arrives as text; each parser accepts one plain form only (digits for integers, a decimal for
floats) and raises ValueError with a one-line message, which the server answers with status 400. Nothing
here touches the model: the ranges come in as arguments.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MAX_QUERY_CHARS = 512  # a valid query is well under 200 characters
MAX_VALUE_CHARS = 64
SEED_MAX = 2**31 - 1
TRUNCATION_MAX = 4.0

_INT = re.compile(r"[0-9]{1,10}")
_FLOAT = re.compile(r"[0-9]{0,8}(\.[0-9]{0,12})?")  # no sign, exponent, inf or nan: a plain decimal


@dataclass(frozen=True)
class Query:
    """One image of the generator: ``G.sample(1, classes=cls, seed=seed, truncation=truncation)`` with the
    attention layers at indices ``off`` knocked out."""

    cls: int | None
    seed: int
    truncation: float | None
    off: tuple[int, ...] = ()


def check_names(pairs: Iterable[tuple[str, str]], allowed: Iterable[str], query_string: str = "") -> None:
    """Refuse an over-long query string, unknown names, repeated names and over-long values.

    ``pairs``: every (name, value) of the query, repeats included (a multidict's ``items()``).
    """
    if len(query_string) > MAX_QUERY_CHARS:
        raise ValueError(f"query string too long ({len(query_string)} characters; at most {MAX_QUERY_CHARS})")
    allowed = set(allowed)
    seen: set[str] = set()
    for name, value in pairs:
        if name not in allowed:
            raise ValueError(f"unknown parameter {_show(name)}; allowed: {', '.join(sorted(allowed))}")
        if name in seen:
            raise ValueError(f"parameter {_show(name)} given more than once")
        if len(value) > MAX_VALUE_CHARS:
            raise ValueError(f"parameter {name} is too long ({len(value)} characters)")
        seen.add(name)


def parse_int(name: str, text: str | None, low: int, high: int) -> int:
    """An integer written as plain digits, within [low, high]."""
    if text is None:
        raise ValueError(f"missing parameter {name}")
    if not _INT.fullmatch(text):
        raise ValueError(f"{name} must be a whole number {low}..{high}, got {_show(text)}")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{name} must be within {low}..{high}, got {value}")
    return value


def parse_float(name: str, text: str | None, low: float, high: float, low_open: bool = False) -> float:
    """A plain decimal (``0.5``, ``2``, ``.75``) within [low, high] (or (low, high] with ``low_open``)."""
    if text is None:
        raise ValueError(f"missing parameter {name}")
    bounds = f"{'(' if low_open else '['}{low:g}, {high:g}]"
    if not text or text == "." or not _FLOAT.fullmatch(text):
        raise ValueError(f"{name} must be a decimal number in {bounds}, got {_show(text)}")
    value = float(text)
    if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
        raise ValueError(f"{name} must be in {bounds}, got {text}")
    return value


def parse_index_list(name: str, text: str | None, allowed: Iterable[int]) -> tuple[int, ...]:
    """Comma-separated distinct indices, each one of ``allowed`` (empty or absent: none), sorted."""
    if not text:
        return ()
    allowed = sorted(set(allowed))
    values = []
    for part in text.split(","):
        if not _INT.fullmatch(part) or int(part) not in allowed:
            choices = ", ".join(map(str, allowed)) or "none"
            raise ValueError(f"{name} takes layer indices from {choices} separated by commas, got {_show(text)}")
        values.append(int(part))
    if len(set(values)) != len(values):
        raise ValueError(f"{name} names a layer more than once: {_show(text)}")
    return tuple(sorted(values))


def parse_query(params: Mapping[str, str], num_classes: int, knockable: Iterable[int]) -> Query:
    """``cls`` (required when the generator is conditional, refused when not), ``seed``, optional ``truncation``
    and ``off`` of a request."""
    if num_classes:
        cls = parse_int("cls", params.get("cls"), 0, num_classes - 1)
    elif params.get("cls") is not None:
        raise ValueError("this generator is unconditional: leave out cls")
    else:
        cls = None
    seed = parse_int("seed", params.get("seed"), 0, SEED_MAX)
    text = params.get("truncation")
    truncation = None if text is None else parse_float("truncation", text, 0.0, TRUNCATION_MAX, low_open=True)
    return Query(cls, seed, truncation, parse_index_list("off", params.get("off"), knockable))


def _show(text: str) -> str:
    """``text`` quoted for a one-line error message: control characters escaped, long values cut."""
    shown = repr(text[:40])
    return shown + ("..." if len(text) > 40 else "")
