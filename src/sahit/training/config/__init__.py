"""Training configuration: a config in sections, presets as differences from a base, ``key=value`` overrides.

- :mod:`.sections`: one small dataclass per section (data, model, optim, objective, ema, runtime, log,
  finetune), each checking its own values with one-line :class:`ConfigError` messages.
- :mod:`.spelling`: the ways a key may be written (``optim.lr_g``, a section mapping, the flat ``lr_g``).
- :mod:`.train_config`: :class:`TrainConfig`, built from values in any spelling; config.yaml's schema.
- :mod:`.presets`: training presets (``base:`` plus what differs) and the family recipes they start from.
"""

from .presets import (
    CONFIG_DIR,
    LEGACY_PRESETS,
    available_presets,
    base_values,
    is_family,
    load_preset,
    preset_chain,
    preset_yaml,
    read_yaml,
)
from .sections import (
    DEFAULT_FAMILY,
    PRECISIONS,
    SECTIONS,
    ConfigError,
    DataConfig,
    EMAConfig,
    FinetuneConfig,
    LogConfig,
    ModelSection,
    ObjectiveConfig,
    OptimConfig,
    RuntimeConfig,
)
from .spelling import BASE, DATA_NEEDED, PRESET_ONLY_KEYS, dotted, flatten, merge, parse_overrides
from .train_config import (
    RESUMABLE_CHANGES,
    SCHEMA,
    SCHEMA_1_MISSING,
    TrainConfig,
    config_from_dict,
    differences,
    stored_config,
    unused_keys,
)

__all__ = [
    "BASE", "CONFIG_DIR", "DATA_NEEDED", "DEFAULT_FAMILY", "LEGACY_PRESETS", "PRECISIONS", "PRESET_ONLY_KEYS",
    "RESUMABLE_CHANGES", "SCHEMA", "SCHEMA_1_MISSING", "SECTIONS", "ConfigError", "DataConfig", "EMAConfig",
    "FinetuneConfig", "LogConfig", "ModelSection", "ObjectiveConfig", "OptimConfig", "RuntimeConfig", "TrainConfig",
    "available_presets", "base_values", "config_from_dict", "differences", "dotted", "flatten", "is_family",
    "load_preset", "merge", "parse_overrides", "preset_chain", "preset_yaml", "read_yaml", "stored_config",
    "unused_keys",
]
