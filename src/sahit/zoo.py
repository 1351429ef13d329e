"""The model zoo: trained models shipped inside the package, loaded by name as ``zoo:NAME``.

Each entry is a folder ``sahit/zoo_models/NAME/`` laid out as a finished run folder (see
:mod:`sahit.runs`), so every reader of runs takes it as it is::

    card.json        name, description, data, recipe, steps, training time and machine, the
                     command that made it, and its scores (FID, class accuracy, intra-FID)
    config.yaml      the training config
    log.jsonl        the training log (losses, attention weights, evaluations)
    summary.json     the step it finished at
    export/          G and EMA G (safetensors), D (``discriminator.safetensors``), config.json, model card

The zoo also ships the feature extractors its scores are measured with, ``features/DATA/`` (a domain
extractor, :mod:`sahit.metrics.domain`), named ``zoo:DATA`` where a feature extractor is asked for
(``--features zoo:cifar10``).

Entries are written by ``tools/zoo.py`` from a training run; nothing here reaches the network.
This module imports nothing of sahit, so the lowest layers (:mod:`sahit.runs`) can resolve names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PREFIX = "zoo:"
ROOT = Path(__file__).resolve().parent / "zoo_models"
FEATURES = ROOT / "features"
CARD = "card.json"


def is_zoo(spec: str | Path) -> bool:
    """True for ``zoo:NAME`` (a ``Path`` is always local)."""
    return isinstance(spec, str) and spec.startswith(PREFIX)


def names() -> list[str]:
    """The names of the zoo's entries, sorted."""
    if not ROOT.is_dir():
        return []
    return sorted(p.name for p in ROOT.iterdir() if (p / CARD).is_file())


def entry_folder(spec: str) -> Path:
    """The folder of ``zoo:NAME``; ValueError naming the zoo's entries when there is no such entry."""
    name = spec[len(PREFIX):] if is_zoo(spec) else spec
    available = names()
    if name not in available:
        listed = ", ".join(available) if available else "none (this installation has no zoo models)"
        raise ValueError(f"no zoo model named {name!r}; the zoo has: {listed}")
    return ROOT / name


def card(name: str) -> dict[str, Any]:
    """The card of entry ``name`` (``zoo:`` prefix optional): what it is, how it was made, its scores."""
    path = entry_folder(name) / CARD
    return json.loads(path.read_text())


def cards() -> list[dict[str, Any]]:
    """The cards of every entry, by name."""
    return [card(name) for name in names()]


def features_folder(spec: str | Path) -> Path:
    """The folder of the zoo's feature extractor ``zoo:DATA``; any other spec is returned as a path."""
    if not is_zoo(spec):
        return Path(spec)
    name = str(spec)[len(PREFIX):]
    available = sorted(p.name for p in FEATURES.iterdir()) if FEATURES.is_dir() else []
    if name not in available:
        raise ValueError(f"no zoo feature extractor named {name!r}; the zoo has: {', '.join(available) or 'none'}")
    return FEATURES / name
