"""torch.hub entry points: trained sahit generators, from a folder or the Hugging Face hub.

    import torch
    G = torch.hub.load("path/to/sahit", "sagan", path="runs/quickstart", source="local")
    G = torch.hub.load("path/to/sahit", "generator", path="hf:ORG/NAME", source="local")
    G = torch.hub.load("path/to/sahit", "zoo", name="cifar10-sagan", source="local")
    images = G.sample(16, seed=0)  # (16, 3, R, R) in [-1, 1]

``path`` is an export folder, a run folder (its ``export/`` is read), ``zoo:NAME`` or ``hf:ORG/NAME[@REVISION]``
(needs ``huggingface_hub``). Without ``path``, ``sagan`` and ``hit`` return an untrained generator
of a model preset. The code that runs is this repository's own ``src/sahit``.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

dependencies = ["torch", "safetensors", "yaml", "numpy"]

# Names without "_" are entry points for torch.hub.list: imports are kept private.
_SRC = str(_Path(__file__).resolve().parent / "src")
if _SRC not in _sys.path:  # a checkout that is not pip-installed (torch.hub's own download of the repository)
    _sys.path.insert(0, _SRC)

import sahit


def generator(path: str, ema: bool = True, device: str = "cpu"):
    """The generator exported in ``path`` (any family), in eval mode; ``ema=False`` takes the raw weights."""
    return sahit.load(path, ema=ema, device=device)


def _family_entry(family: str, default_preset: str):
    def entry(path: str | None = None, ema: bool = True, device: str = "cpu", preset: str = default_preset,
              **model_options):
        if path is None:
            G, _ = sahit.build(preset, **model_options)
            return G.to(device).eval()
        if model_options:
            raise ValueError(f"model options ({', '.join(model_options)}) apply to untrained models only: "
                             "a loaded generator keeps the architecture it was trained with")
        G = generator(path, ema=ema, device=device)
        if G.config.get("family") != family:
            raise ValueError(f"{path} holds a {G.config.get('family')} generator, not {family}: "
                             f"use torch.hub.load(..., 'generator', path=...)")
        return G

    entry.__name__ = family
    entry.__doc__ = (f"A trained {family} generator from ``path`` (export or run folder, or hf:ORG/NAME), in eval "
                     f"mode; without ``path``, an untrained one of ``preset`` (default {default_preset}) built with "
                     "``model_options``.")
    return entry


def zoo(name: str, ema: bool = True, device: str = "cpu"):
    """A trained generator of sahit's model zoo by name (``sahit zoo`` lists them), e.g. ``"cifar10-sagan"``."""
    return generator(name if name.startswith("zoo:") else f"zoo:{name}", ema=ema, device=device)


sagan = _family_entry("sagan", "sagan-cifar10")
hit = _family_entry("hit", "hit-32")
