"""The model's number of classes, matched to the data's."""

from __future__ import annotations

from ..models import model_config
from ..models.registry import family_of
from .config import TrainConfig
from .errors import TrainingError


def adapt_num_classes(cfg: TrainConfig, data_classes: int) -> None:
    """Match the model's classes to the data's (0 when not ``class_conditional``) unless the user set
    ``model.num_classes`` themselves. ``class_conditional`` None: the model family's recipe decides."""
    conditional = cfg.data.class_conditional
    if conditional is None:
        family = family_of(cfg.model.name)
        conditional = family.recipe.get("class_conditional", True) if family is not None else True
    wanted = data_classes if conditional else 0
    if "num_classes" not in cfg.model.args and model_config(cfg.model.name).num_classes != wanted:
        cfg.model.args["num_classes"] = wanted
    model_classes = model_config(cfg.model.name, **cfg.model.args).num_classes
    if 0 < model_classes < data_classes:
        raise TrainingError(f"the data has {data_classes} classes but model.num_classes={model_classes}")
