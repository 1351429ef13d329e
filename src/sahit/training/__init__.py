"""Training: the loop, its configuration, checkpoints, EMA and distributed setup."""

from .config import ConfigError, TrainConfig, config_from_dict, load_preset, parse_overrides
from .loop import Interrupted, Trainer, TrainingError
from .run import prepare_run, train

__all__ = [
           "ConfigError",
           "Interrupted",
           "TrainConfig",
           "Trainer",
           "TrainingError",
           "config_from_dict",
           "load_preset",
           "parse_overrides",
           "prepare_run",
           "train",
]
