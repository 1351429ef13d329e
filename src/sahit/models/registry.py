"""One registry of model families and named presets; ``build`` is the one factory.

A *family* (``sagan``, ``hit``) is a config dataclass plus functions that build G and D
from it, and the training recipe its training presets start from (``recipe``: TrainConfig keys, the
one place the family's values live). A *model preset* is a family plus keyword values, named
``FAMILY-RESOLUTION[-variant]`` (``sagan-16``, ``hit-L-256``) so that no training preset (named after
its data or purpose: ``quickstart``, ``hit-faces256``) shares its name. ``build(name, **overrides)``
accepts a preset or a family name; names that model presets had before (``quickstart``,
``sagan-cifar10``, ...) stay aliases, so that old run folders and code keep loading.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .._suggest import suggest


@dataclass(frozen=True)
class Family:
    """A model family: its config, how to build G and D, and what it can do.

    Everything outside ``models/`` asks the family (or the built networks) instead of testing its name:
    ``recipe`` is the training recipe its presets start from, ``bf16_faster_on_cpu`` says whether
    ``precision=auto`` picks bf16 on a CPU with native bf16 (measured with benchmarks/precision_auto.py),
    and a generator offers its attention maps through ``Generator.layer_attention`` (none by default).
    """

    name: str
    config_cls: type
    build_generator: Callable[[Any], nn.Module]
    build_discriminator: Callable[[Any], nn.Module]
    recipe: dict[str, Any] = field(default_factory=dict)  # TrainConfig values every preset of the family starts from
    recipe_name: str = ""  # where the recipe comes from, one line (shown by `sahit presets`)
    bf16_faster_on_cpu: bool = False  # precision=auto picks bf16 on CPUs with native bf16 (AMX / AVX512-BF16)


@dataclass(frozen=True)
class Preset:
    name: str
    family: str
    description: str
    kwargs: dict[str, Any] = field(default_factory=dict)


_FAMILIES: dict[str, Family] = {}
_PRESETS: dict[str, Preset] = {}
_ALIASES: dict[str, str] = {}  # a model preset's earlier name -> its name


def register_family(family: Family) -> Family:
    _FAMILIES[family.name] = family
    return family


def register_preset(name: str, family: str, description: str, **kwargs: Any) -> None:
    _PRESETS[name] = Preset(name, family, description, kwargs)


def register_alias(old: str, name: str) -> None:
    """Let ``old`` (a name the preset had before) keep meaning the model preset ``name``."""
    _ALIASES[old] = name


def canonical_model(name: str) -> str:
    """A model preset's current name for ``name`` (itself unless it is an earlier name)."""
    return _ALIASES.get(name, name)


def model_aliases() -> dict[str, str]:
    """Earlier names of model presets, each with the name it now has."""
    return dict(_ALIASES)


def unregister_family(name: str) -> None:
    """Remove a family and its presets (e.g. one a test registered for itself)."""
    _FAMILIES.pop(name, None)
    for preset in [p.name for p in _PRESETS.values() if p.family == name]:
        del _PRESETS[preset]


def presets() -> dict[str, Preset]:
    """All registered presets, by name."""
    return dict(_PRESETS)


def families() -> list[str]:
    """The registered family names."""
    return sorted(_FAMILIES)


def family_of(name: str) -> Family | None:
    """The family of a preset or family name (None if unknown)."""
    name = canonical_model(name)
    if name in _PRESETS:
        return _FAMILIES[_PRESETS[name].family]
    return _FAMILIES.get(name)


def _resolve(name: str) -> tuple[Family, dict[str, Any]]:
    name = canonical_model(name)
    if name in _PRESETS:
        preset = _PRESETS[name]
        return _FAMILIES[preset.family], dict(preset.kwargs)
    if name in _FAMILIES:
        return _FAMILIES[name], {}
    choices = sorted(_PRESETS) + sorted(_FAMILIES)
    hint = suggest(name, choices + sorted(_ALIASES))  # an earlier name still works, so it may be the nearest
    raise ValueError(f"unknown model {name!r}{hint} (available: {', '.join(choices)})")


def make_config(family: Family, kwargs: dict[str, Any]) -> Any:
    """Build the family's config dataclass, rejecting unknown keys with a suggestion."""
    valid = [f.name for f in dataclasses.fields(family.config_cls)]
    for key in kwargs:
        if key not in valid:
            raise ValueError(f"unknown {family.name} model option {key!r}{suggest(key, valid)}")
    return family.config_cls(**kwargs)


def model_config(name: str, **overrides: Any) -> Any:
    """The config dataclass a preset (or family) resolves to, with overrides applied."""
    family, kwargs = _resolve(name)
    kwargs.update(overrides)
    return make_config(family, kwargs)


def build(name: str, **overrides: Any) -> tuple[nn.Module, nn.Module]:
    """Build ``(G, D)`` for a preset or family name, e.g. ``build("sagan-32", num_classes=0)``."""
    family, kwargs = _resolve(name)
    kwargs.update(overrides)
    cfg = make_config(family, kwargs)
    return family.build_generator(cfg), family.build_discriminator(cfg)


def build_generator_from_config(config: dict[str, Any]) -> nn.Module:
    """Rebuild a generator from the JSON config it carries (``G.config``)."""
    family, cfg = _from_config(config)
    return family.build_generator(cfg)


def build_from_config(config: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    """Rebuild ``(G, D)`` (fresh weights) from a generator's JSON config (``G.config``)."""
    family, cfg = _from_config(config)
    return family.build_generator(cfg), family.build_discriminator(cfg)


def _from_config(config: dict[str, Any]) -> tuple[Family, Any]:
    config = dict(config)
    family_name = config.pop("family", None)
    if family_name not in _FAMILIES:
        raise ValueError(f"config names unknown model family {family_name!r} (known: {', '.join(sorted(_FAMILIES))})")
    family = _FAMILIES[family_name]
    return family, make_config(family, config)
