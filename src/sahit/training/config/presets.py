"""Training presets: YAML files that name a ``base`` and state only what differs from it.

A preset is ``src/sahit/configs/<name>.yaml`` shipped with the package or a path to a YAML file. Its
``base`` is a model family (the family's recipe, ``Family.recipe`` in the model registry, the one place its
values live) or another training preset. YAML is parsed with ``yaml.safe_load`` (data only; nothing in a
config is ever executed). docs/faithfulness.md shows each preset's resolved recipe against the papers and
official code.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from ..._suggest import suggest
from ...models.registry import family_of
from .sections import ConfigError
from .spelling import BASE, flatten, merge

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
# Names training presets had before model and training presets got names of their own (model presets kept
# these); `--preset OLD` still means the training preset.
LEGACY_PRESETS = {"hit-32": "hit-quickstart", "hit-64": "hit-imagenet64", "hit-128": "hit-imagenet128",
                  "hit-256": "hit-faces256", "hit-L-256": "hit-L-faces256", "hit-1024": "hit-faces1024"}


def available_presets() -> list[str]:
    """The shipped training presets (src/sahit/configs/*.yaml)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """A training preset's values: its base's (a family's recipe or another preset's, resolved), overridden
    by the values it states itself. ``name`` is a shipped preset, a YAML path, or a model preset (trained
    with its family's recipe)."""
    return _resolve_preset(name, ())


def _resolve_preset(name: str, seen: tuple[str, ...]) -> dict[str, Any]:
    if name in seen:
        raise ConfigError(f"preset {seen[0]!r} has a cycle of bases: {' -> '.join([*seen, name])}")
    own = flatten(preset_yaml(name))
    return merge(base_values(own.pop(BASE, None), own.get("model"), (*seen, name)), own)


def base_values(base: Any, model: Any = None, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """What a preset with ``base:`` starts from: a family's recipe (with the family as its model), another
    training preset's resolved values, or (no base: a YAML written before bases) the recipe of its model's family."""
    if base is None:
        family = family_of(model) if isinstance(model, str) else None
        return copy.deepcopy(family.recipe) if family is not None else {}
    if not isinstance(base, str) or not base:
        raise ConfigError(f"base must name a model family or a training preset, got {base!r}")
    if is_family(base):
        return {**copy.deepcopy(family_of(base).recipe), "model": base}
    if base in available_presets() or base in LEGACY_PRESETS or Path(base).suffix in (".yaml", ".yml"):
        return _resolve_preset(base, seen)
    from ...models.registry import families

    choices = available_presets() + families()
    raise ConfigError(f"unknown base {base!r}{suggest(base, choices)} (a model family or a training preset)")


def preset_chain(name: str) -> list[str]:
    """``name`` and the training presets it is built on, nearest first (``["hit-faces1024", "hit-faces256"]``)."""
    chain = [LEGACY_PRESETS.get(name, name)]
    base = preset_yaml(name).get(BASE)
    while isinstance(base, str) and base and not is_family(base) and base not in chain:  # load_preset reports cycles
        chain.append(LEGACY_PRESETS.get(base, base))
        base = preset_yaml(base).get(BASE)
    return chain


def is_family(name: str) -> bool:
    """Whether ``name`` is a model family (a base whose values are the family's recipe)."""
    family = family_of(name)
    return family is not None and family.name == name


def preset_yaml(name: str) -> dict[str, Any]:
    """The values a preset states itself: its YAML, or ``{"model": name}`` for a model preset without one."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"config file {name!r} does not exist")
        return read_yaml(path)
    shipped = CONFIG_DIR / f"{LEGACY_PRESETS.get(name, name)}.yaml"
    if shipped.is_file():
        return read_yaml(shipped)
    from ...models import presets as model_presets
    from ...models.registry import canonical_model

    if canonical_model(name) in model_presets():
        return {"model": name}
    choices = available_presets() + sorted(model_presets())
    raise ConfigError(f"unknown preset {name!r}{suggest(name, choices)} (see `sahit presets`)")


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.constructor.ConstructorError as exc:  # e.g. !!python/object/apply:os.system: never executed
        raise ConfigError(f"{path} uses a YAML tag that is not plain data ({exc.problem}); "
                          "configs may hold only mappings, lists, strings, numbers and booleans") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, got {type(values).__name__}")
    return values
