"""How config keys may be written: ``section.field`` (``optim.lr_g``), a section mapping in YAML
(``optim: {lr_g: 2e-4}``), or the flat name of sahit 0.2.0 (``lr_g``, ``data_holdout``, ``model_args``).

Everything is read into one flat dict keyed by flat names (the form presets merge in), which
:class:`~sahit.training.config.TrainConfig` takes apart into its sections. ``model.X`` for any X that is
not a field of the model section is an option of the model preset (``model.g_attn_res=[]``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import yaml

from ..._suggest import suggest
from ...config_spelling import SCHEMA_KEY, flat_name
from .sections import SECTIONS, ConfigError

# A preset file's key (not a config key) naming the data it needs when it has no default (`data:` left empty);
# `sahit train` refuses to start without --data.
DATA_NEEDED = "data_needed"
# A preset file's key naming what it starts from: a model family (its recipe) or another training preset.
BASE = "base"
PRESET_ONLY_KEYS = (DATA_NEEDED, BASE)
MODEL_ARGS = "model_args"


def _paths() -> dict[str, tuple[str, str]]:
    """flat name -> (section, field) for every field."""
    out = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            out[flat_name(section, f.name)] = (section, f.name)
    return out


PATHS = _paths()
FLAT = {f"{section}.{name}": flat for flat, (section, name) in PATHS.items()}  # "optim.lr_g" -> "lr_g"


def dotted(flat: str) -> str:
    """The new spelling of a flat name (``data_holdout`` -> ``data.holdout``)."""
    section, name = PATHS[flat]
    return f"{section}.{name}"


def field_of(flat: str) -> dataclasses.Field:
    section, name = PATHS[flat]
    return next(f for f in dataclasses.fields(SECTIONS[section]) if f.name == name)


def _unknown(key: str) -> ConfigError:
    return ConfigError(f"unknown config key {key!r}{suggest(key, sorted(PATHS) + sorted(FLAT))}")


def flatten(values: dict[str, Any]) -> dict[str, Any]:
    """Any spelling -> flat names, in order (a later key wins; ``model_args`` mappings are merged).

    Keys of preset files that are not config keys (:data:`PRESET_ONLY_KEYS`) are kept; ``schema`` is dropped.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise _unknown(str(key))
        if key in PRESET_ONLY_KEYS:
            out[key] = value
        elif key == SCHEMA_KEY:
            continue
        elif key in SECTIONS and isinstance(value, dict) and key != MODEL_ARGS:
            for name, v in value.items():
                _put_dotted(out, f"{key}.{name}", v)
        elif "." in key:
            _put_dotted(out, key, value)
        elif key in PATHS:
            _put(out, key, value)
        else:
            raise _unknown(key)
    return out


def _put_dotted(out: dict[str, Any], key: str, value: Any) -> None:
    section, _, name = key.partition(".")
    if key in FLAT:
        _put(out, FLAT[key], value)
    elif section == "model" and name:  # an option of the model preset
        _put(out, MODEL_ARGS, {name: value})
    else:
        raise _unknown(key)


def _put(out: dict[str, Any], flat: str, value: Any) -> None:
    if flat == MODEL_ARGS:
        if not isinstance(value, dict) or not isinstance(out.get(MODEL_ARGS, {}), dict):
            raise ConfigError(f"model.args must be a mapping (or use model.KEY=VALUE), got {value!r}")
        out[MODEL_ARGS] = {**out.get(MODEL_ARGS, {}), **value}
    else:
        out[flat] = value


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` (any spelling) over ``base``: flat names, model options merged."""
    merged = flatten(base)
    for key, value in flatten(overrides).items():
        if key in PATHS:
            _put(merged, key, value)
        else:  # a preset file's own key
            merged[key] = value
    return merged


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["optim.steps=100", "model.attn_res=[8]"]`` -> ``{"steps": 100, "model_args": {"attn_res": [8]}}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        for flat, v in flatten({key: value}).items():
            _put(out, flat, v)
    return out


_YAML11_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def coerce(flat: str, value: Any) -> Any:
    """Check a value against the field's type; ints are accepted where floats are expected."""
    f, name = field_of(flat), dotted(flat)
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    if default is None:  # optional booleans (class_conditional), init_classes: checked by their section
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, str) and _YAML11_EXPONENT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string; users mean the number
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        value = float(value)
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
    elif isinstance(default, str):
        value = "" if value is None else value
        value = value if isinstance(value, str) else str(value)
    elif isinstance(default, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        value = list(value)
    elif isinstance(default, dict) and not isinstance(value, dict):
        raise ConfigError(f"{name} must be a mapping, got {value!r}")
    return value
