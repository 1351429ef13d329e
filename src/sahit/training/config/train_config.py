"""TrainConfig: the sections of a training run, built from values in any spelling, stored with a schema.

config.yaml holds ``schema: 2`` and one mapping per section. A config.yaml without ``schema`` is flat
(schema 1: sahit 0.1.0 and 0.2.0) and is read as those versions ran it (:func:`stored_config`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from . import sections
from .sections import SECTIONS, ConfigError
from .spelling import PATHS, PRESET_ONLY_KEYS, SCHEMA_KEY, coerce, dotted, flatten

SCHEMA = 2
# Keys a flat (schema 1) config.yaml of sahit 0.1.0 lacks, with the behaviour 0.1.0 had without them:
# such a run resumes as it started.
SCHEMA_1_MISSING = {"update": "alternating", "d_sn_in_g_step": True, "ema_spectral_norm": "copy",
                    "class_conditional": True, "data_crop": "center", "data_crop_fraction": 1.0,
                    "data_interpolation": "bilinear"}
# Flat names of the values that may differ when a run is resumed: they change how long or how chattily it
# runs, not what it computes.
RESUMABLE_CHANGES = {"data_in_memory", "steps", "ckpt_every", "sample_every", "log_every", "keep_ckpts", "device",
                     "num_workers", "eval_every", "progress", "license"}


@dataclass(init=False)
class TrainConfig:
    """Everything a training run depends on, in sections (``cfg.optim.lr_g``, ``cfg.data.holdout``).

    ``TrainConfig(optim=OptimConfig(...))`` takes sections; ``TrainConfig(model="sagan-16", batch_size=8)``
    takes the flat names of sahit 0.2.0, as :func:`config_from_dict` does. Those names still read and set the
    field they name (``cfg.lr_g``, ``cfg.data_holdout``), except ``data`` and ``model``, now the sections
    (``cfg.data.source``, ``cfg.model.name``).
    """

    model: sections.ModelSection = field(default_factory=sections.ModelSection)
    data: sections.DataConfig = field(default_factory=sections.DataConfig)
    optim: sections.OptimConfig = field(default_factory=sections.OptimConfig)
    objective: sections.ObjectiveConfig = field(default_factory=sections.ObjectiveConfig)
    ema: sections.EMAConfig = field(default_factory=sections.EMAConfig)
    runtime: sections.RuntimeConfig = field(default_factory=sections.RuntimeConfig)
    log: sections.LogConfig = field(default_factory=sections.LogConfig)
    finetune: sections.FinetuneConfig = field(default_factory=sections.FinetuneConfig)

    def __init__(self, **values: Any) -> None:
        given = {name: values.pop(name) for name, cls in SECTIONS.items() if isinstance(values.get(name), cls)}
        parts: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        for key, value in flatten(values).items():
            if key in PRESET_ONLY_KEYS:
                continue
            section, name = PATHS[key]
            if section in given:
                raise ConfigError(f"{dotted(key)} given beside a whole {section} section")
            parts[section][name] = coerce(key, value)
        for name, cls in SECTIONS.items():
            object.__setattr__(self, name, given[name] if name in given else cls(**parts[name]))
        self.__post_init__()

    def __post_init__(self) -> None:
        if self.objective.update == "simultaneous" and self.optim.n_dis != 1:
            raise ConfigError("objective.update=simultaneous updates G and D from one pass: it needs optim.n_dis=1, "
                              f"got {self.optim.n_dis}")
        if self.optim.accum_steps > 1 and (self.objective.update != "alternating" or self.objective.reuse_fake):
            raise ConfigError("optim.accum_steps > 1 needs update=alternating and reuse_fake=false "
                              "(the G step draws its own micro-batches)")

    def __getattr__(self, name: str) -> Any:  # only for names that are not attributes: the flat ones
        path = PATHS.get(name)
        if path is None or name in SECTIONS:
            raise AttributeError(f"TrainConfig has no {name!r}")
        return getattr(object.__getattribute__(self, path[0]), path[1])

    def __setattr__(self, name: str, value: Any) -> None:
        if name in PATHS and name not in SECTIONS:
            section, leaf = PATHS[name]
            setattr(getattr(self, section), leaf, value)
        else:
            object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """What config.yaml holds: the schema version and one mapping per section."""
        return {SCHEMA_KEY: SCHEMA, **{name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}}

    def flat(self) -> dict[str, Any]:
        """Every value under its flat name (sahit 0.2.0's spelling; the model card and run readers use it)."""
        return {flat: getattr(getattr(self, section), name) for flat, (section, name) in PATHS.items()}


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build a config from plain data in any spelling, rejecting unknown keys with the nearest valid one.

    Keys of preset files that are not config keys (:data:`PRESET_ONLY_KEYS`) are ignored here.
    """
    return TrainConfig(**flatten(values))


def stored_config(values: dict[str, Any]) -> TrainConfig:
    """The config of a run folder's config.yaml; a flat one (no schema: sahit 0.1.0, 0.2.0) is migrated, a run
    older than a key keeping the behaviour it had."""
    schema = values.get(SCHEMA_KEY, 1)
    if schema == 1:
        return config_from_dict({**SCHEMA_1_MISSING, **values})
    if schema != SCHEMA:
        raise ConfigError(f"config.yaml has schema {schema!r}; this sahit reads schemas 1 and {SCHEMA} "
                          "(a newer sahit wrote it?)")
    return config_from_dict(values)


def unused_keys(cfg: TrainConfig) -> dict[str, str]:
    """Flat names of values that have no effect under ``cfg``, each with the reason."""
    return {flat: why for flat, (section, name) in PATHS.items() if section == "ema"
            for key, why in cfg.ema.unused().items() if key == name}


def differences(old: TrainConfig, new: TrainConfig) -> list[str]:
    """Human-readable differences that matter for resuming (ignores RESUMABLE_CHANGES and keys unused in both)."""
    a, b = old.flat(), new.flat()
    ignored = RESUMABLE_CHANGES | (unused_keys(old).keys() & unused_keys(new).keys())
    return [f"{dotted(k)}: {a[k]!r} -> {b[k]!r}" for k in a if k not in ignored and a[k] != b[k]]
