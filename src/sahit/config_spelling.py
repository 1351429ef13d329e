"""The flat names of the training config's keys (sahit 0.2.0's spelling), in one table that run-folder readers
use without importing the trainer: ``section.field`` is flat ``field`` unless :data:`RENAMED` says otherwise.

The config itself (``sahit.training.config``) builds every other spelling from this table.
"""

from __future__ import annotations

from typing import Any

SCHEMA_KEY = "schema"
RENAMED = {
    "model.name": "model", "model.args": "model_args",
    "data.source": "data", "data.root": "data_root", "data.strict": "strict_data", "data.length": "data_length",
    "data.holdout": "data_holdout", "data.in_memory": "data_in_memory", "data.crop": "data_crop",
    "data.crop_fraction": "data_crop_fraction", "data.interpolation": "data_interpolation",
    "ema.decay": "ema_decay", "ema.start": "ema_start", "ema.kimg": "ema_kimg", "ema.rampup": "ema_rampup",
    "ema.spectral_norm": "ema_spectral_norm",
}


def flat_name(section: str, field: str) -> str:
    """``data``, ``holdout`` -> ``data_holdout``; ``optim``, ``lr_g`` -> ``lr_g``."""
    return RENAMED.get(f"{section}.{field}", field)


def flat_view(values: dict[str, Any]) -> dict[str, Any]:
    """A config.yaml's values under their flat names: a sectioned one (with ``schema``) is flattened, a flat one
    (sahit 0.1.0, 0.2.0) returned as it is."""
    if SCHEMA_KEY not in values:
        return values
    return {flat_name(section, field): value for section, fields in values.items() if isinstance(fields, dict)
            for field, value in fields.items()}
