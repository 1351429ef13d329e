"""From a preset, data and overrides to a run folder: start a new run or resume one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..runs import CONFIG
from .config import (
    DATA_NEEDED,
    RESUMABLE_CHANGES,
    ConfigError,
    TrainConfig,
    config_from_dict,
    differences,
    load_preset,
    merge,
    parse_overrides,
    read_yaml,
    stored_config,
    unused_keys,
)
from .loop import Trainer


def prepare_run(preset: str, out: str | Path | None = None, data: str | None = None,
                overrides: list[str] | dict[str, Any] | None = None) -> tuple[TrainConfig, Path]:
    """Resolve the config of ``preset`` + ``data`` + ``overrides``; check it against a run already in ``out``."""
    values = load_preset(preset)
    needed = values.pop(DATA_NEEDED, None)
    if data is not None:
        values["data"] = data
    extra = parse_overrides(overrides) if isinstance(overrides, list) else dict(overrides or {})
    if needed and not extra.get("data", values.get("data")):
        raise ConfigError(f"preset {preset!r} trains on {needed}: pass --data PATH")
    cfg = config_from_dict(merge(values, extra))
    if cfg.finetune.init_from:  # the source's model options, as the trainer will take them (compared on resume below)
        from .finetune import adopt_source_model, load_init_source

        adopt_source_model(cfg, load_init_source(cfg.finetune.init_from))
    for key, why in unused_keys(cfg).items():  # a value the command line sets that would do nothing
        if key in extra:
            raise ConfigError(f"{key} has no effect: {why}")
    run_dir = Path(out) if out else Path("runs") / Path(preset).stem
    stored_path = run_dir / CONFIG
    if stored_path.is_file():
        stored = stored_config(read_yaml(stored_path))
        if "num_classes" not in cfg.model.args and "num_classes" in stored.model_args:
            cfg.model.args["num_classes"] = stored.model_args["num_classes"]  # adapted to the data last time
        changed = differences(stored, cfg)
        if changed:
            raise ConfigError(
                f"{run_dir} holds a run with other settings ({'; '.join(changed[:4])}); "
                "resume it with the same settings or choose a new --out"
            )
        resumable = {k: getattr(cfg, k) for k in RESUMABLE_CHANGES}
        cfg = config_from_dict({**stored.flat(), **resumable})
    elif run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--out {run_dir} exists and is not a folder")
    return cfg, run_dir


def train(preset: str, out: str | Path | None = None, data: str | None = None,
          overrides: list[str] | dict[str, Any] | None = None) -> dict[str, Any]:
    """Train (or resume) a run; returns the summary dict of ``Trainer.fit``."""
    cfg, run_dir = prepare_run(preset, out, data, overrides)
    trainer = Trainer(cfg, run_dir)
    try:
        return trainer.fit()
    finally:
        trainer.dist.close()
