"""The sections of a training config: each a small dataclass that checks its own values.

Every field has a flat name too (:mod:`sahit.config_spelling`, the spelling of sahit 0.2.0 and before:
``data_holdout`` for ``data.holdout``, ``lr_g`` for ``optim.lr_g``); overrides, presets and old run
folders may use it. Fields whose value is a family's recipe default to the default family's recipe
(:func:`recipe`), the one place those values live.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ...models.registry import canonical_model, family_of, model_config

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
UPDATES = ("alternating", "simultaneous")
CROPS = ("center", "random")
INTERPOLATIONS = ("bilinear", "bicubic")
EMA_SPECTRAL_NORM = ("power_iteration", "copy")
# The family whose recipe gives the recipe fields' defaults (a config built without a preset trains with it).
DEFAULT_FAMILY = "sagan"


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message says which and what is allowed."""


def recipe(flat: str) -> Any:
    """A recipe field: its default is the default family's recipe value (a fresh copy for lists)."""
    return field(default_factory=lambda: copy.deepcopy(family_of(DEFAULT_FAMILY).recipe[flat]), metadata={"recipe": flat})


def _label(section: Any, name: str) -> str:
    return f"{section.SECTION}.{name}"


def positive_ints(section: Any, *names: str) -> None:
    for name in names:
        value = getattr(section, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{_label(section, name)} must be a positive integer, got {value!r}")


def non_negative(section: Any, *names: str) -> None:
    for name in names:
        if getattr(section, name) < 0:
            raise ConfigError(f"{_label(section, name)} must be >= 0, got {getattr(section, name)!r}")


def one_of(section: Any, name: str, choices: tuple[str, ...]) -> None:
    if getattr(section, name) not in choices:
        raise ConfigError(f"{_label(section, name)} must be one of {', '.join(choices)}, got {getattr(section, name)!r}")


@dataclass
class DataConfig:
    """What the model learns from and how images reach it."""

    SECTION = "data"
    source: str = "builtin"  # builtin | torchvision name | folder path
    root: str = ""  # where torchvision data sets live ("" = ~/.cache/sahit/data)
    download: bool = False  # let torchvision download a data set (needs a network)
    strict: bool = False  # refuse bad image files instead of skipping them
    length: int = 50_000  # size of the built-in data set
    # hold out this many training images (the same number of each class, fixed seed): training never sees
    # them and evaluation during training compares with them (0: train on all, compare with all)
    holdout: int = 0
    in_memory: bool = False  # keep decoded images in memory after their first read
    crop: str = recipe("data_crop")  # center | random: square crop of crop_fraction of the short side
    crop_fraction: float = recipe("data_crop_fraction")  # 0.875 with random: HiT's ImageNet preprocessing
    interpolation: str = recipe("data_interpolation")  # bilinear | bicubic: resize to the model's resolution
    flip: bool = recipe("flip")  # random horizontal flips of real images
    class_conditional: bool | None = None  # condition on the data's labels (None: the model family decides)

    def __post_init__(self) -> None:
        positive_ints(self, "length")
        non_negative(self, "holdout")
        one_of(self, "crop", CROPS)
        one_of(self, "interpolation", INTERPOLATIONS)
        if self.in_memory and self.crop == "random":
            raise ConfigError("data.in_memory keeps each image as first read: it would freeze data.crop=random's crops")
        if not 0 < self.crop_fraction <= 1:
            raise ConfigError(f"data.crop_fraction must be in (0, 1], got {self.crop_fraction!r}")
        if self.class_conditional is not None and not isinstance(self.class_conditional, bool):
            raise ConfigError(f"data.class_conditional must be true, false or null, got {self.class_conditional!r}")


@dataclass
class ModelSection:
    """The model preset (or family) trained, and overrides of its options (``model.X=V``)."""

    SECTION = "model"
    name: str = "sagan-16"  # a model preset or family (sahit presets)
    args: dict[str, Any] = field(default_factory=dict)  # overrides of the model preset's options

    def __post_init__(self) -> None:
        if not isinstance(self.args, dict):
            raise ConfigError(f"model.args must be a mapping (or use model.KEY=VALUE), got {self.args!r}")
        if isinstance(self.name, str):
            self.name = canonical_model(self.name)  # a model preset's earlier name (run folders of 0.2.0)
        try:
            model_config(self.name, **self.args)  # validates the model name and its options
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


@dataclass
class OptimConfig:
    """How long, on how much data per step, and how the optimisers step."""

    SECTION = "optim"
    steps: int = recipe("steps")  # generator updates
    batch_size: int = recipe("batch_size")  # global batch, split across processes
    # each process's share of the batch in this many micro-batches, gradients summed (BigGAN's
    # num_D_accumulations): less memory, the same D gradient; G's batch norm sees micro-batches in the G step
    accum_steps: int = 1
    n_dis: int = recipe("n_dis")  # D steps per G step
    lr_g: float = recipe("lr_g")
    lr_d: float = recipe("lr_d")
    betas_g: list[float] = recipe("betas_g")  # noqa: RUF009 (a field with a default factory)
    betas_d: list[float] = recipe("betas_d")  # noqa: RUF009
    adam_eps: float = 1e-8
    lr_decay_start: float = 1.0  # fraction of steps after which both lrs fall linearly to 0 at `steps` (1: constant)

    def __post_init__(self) -> None:
        positive_ints(self, "steps", "batch_size", "accum_steps", "n_dis")
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"optim.{name} must be a positive number, got {value!r}")
        for name in ("betas_g", "betas_d"):
            value = getattr(self, name)
            if (not isinstance(value, (list, tuple)) or len(value) != 2
                    or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in value)):
                raise ConfigError(f"optim.{name} must be two numbers in [0, 1), got {value!r}")
            setattr(self, name, [float(b) for b in value])  # Adam refuses a mix of ints and floats ([0, 0.99])
        if not (isinstance(self.lr_decay_start, (int, float)) and 0 <= self.lr_decay_start <= 1):
            raise ConfigError(f"optim.lr_decay_start must be a fraction of the run in [0, 1], got {self.lr_decay_start!r}")
        if not self.adam_eps > 0:
            raise ConfigError(f"optim.adam_eps must be a positive number, got {self.adam_eps!r}")
        if self.batch_size % self.accum_steps:
            raise ConfigError(f"optim.batch_size {self.batch_size} does not split into accum_steps={self.accum_steps} "
                              "equal micro-batches")


@dataclass
class ObjectiveConfig:
    """What G and D minimise: the loss, its regularisers and augmentation, and how one step updates both."""

    SECTION = "objective"
    loss: str = recipe("loss")  # hinge | logistic (losses.LOSSES)
    r1_gamma: float = recipe("r1_gamma")  # weight on mean(sum(grad_x D(x)^2)) over reals
    r1_every: int = 1  # R1 on every k-th D step only, weighted by k (StyleGAN2's lazy regularisation)
    bcr_weight: float = recipe("bcr_weight")  # balanced consistency regularisation weight
    bcr_policy: str = "color,translation,cutout"  # bCR's DiffAugment policy
    augment: str = ""  # diffaug:color,translation,cutout = DiffAugment on every image D sees ("" = none)
    # alternating: D step(s), then a G step (SAGAN, BigGAN, StudioGAN). simultaneous: one G forward and one
    # D pass per step, G and D updated from the same logits (HiT's official trainer); needs n_dis 1
    update: str = recipe("update")
    # The G step draws fresh z, y (every reference does). true: it back-propagates through the last D step's
    # fakes instead, saving one G forward per step: a speed option, not the reference (measured:
    # docs/faithfulness.md)
    reuse_fake: bool = recipe("reuse_fake")
    # D's spectral-norm power iteration also advances in the G step's D pass (true: twice per iteration, as
    # BigGAN and StudioGAN); false: once, in the D step, as the official SAGAN code ("NO_OPS" on fakes)
    d_sn_in_g_step: bool = recipe("d_sn_in_g_step")

    def __post_init__(self) -> None:
        positive_ints(self, "r1_every")
        non_negative(self, "r1_gamma", "bcr_weight")
        one_of(self, "update", UPDATES)
        from ...augment import parse_augment
        from ...losses import get_loss

        try:
            parse_augment(self.augment)
            get_loss(self.loss)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


@dataclass
class EMAConfig:
    """The averaged copy of G that samples, evaluation and the export use."""

    SECTION = "ema"
    decay: float = recipe("ema_decay")
    start: int = recipe("ema_start")  # before this step the EMA copy just follows G
    # > 0: the EMA's half-life in thousands of images (steps x batch_size), StyleGAN2-ADA's schedule; replaces
    # decay and start. rampup > 0 caps the half-life at rampup x the images seen so far
    kimg: float = 0.0
    rampup: float = 0.0
    # power_iteration: the EMA copy runs spectral norm's power iteration on its averaged weights (its layers
    # keep largest singular value ~1); copy: it takes the live G's u, v (sahit 0.1.0)
    spectral_norm: str = recipe("ema_spectral_norm")

    def __post_init__(self) -> None:
        if not 0 <= self.decay < 1:
            raise ConfigError(f"ema.decay must be in [0, 1), got {self.decay!r}")
        non_negative(self, "start", "kimg", "rampup")
        if self.rampup > 0 and not self.kimg > 0:
            raise ConfigError(f"ema.rampup={self.rampup!r} ramps up the half-life ema.kimg: set ema.kimg > 0 "
                              "(or ema.rampup=0 for a fixed ema.decay)")
        one_of(self, "spectral_norm", EMA_SPECTRAL_NORM)

    def unused(self) -> dict[str, str]:
        """Fields whose value has no effect, each with the reason (kimg > 0 replaces the fixed decay and start)."""
        if not self.kimg > 0:
            return {}
        why = (f"ema.kimg={self.kimg:g} sets the EMA's decay (ema.kimg=0"
               + (" ema.rampup=0" if self.rampup else "") + " restores a fixed ema.decay from ema.start)")
        return {"decay": why, "start": why}


@dataclass
class RuntimeConfig:
    """Where and how fast it runs; none of it changes what a step computes, except the seed."""

    SECTION = "runtime"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: str = "fp32"  # fp32 | bf16 | fp16 | auto (bf16 where the family and the hardware gain from it)
    channels_last: bool = False
    compile: bool = False
    sync_bn: bool = False  # synchronise G's batch-norm statistics across processes
    num_workers: int = -1  # data-loading processes (-1: 0 on CPU, up to 8 on GPU)
    max_bad_steps: int = 20  # consecutive non-finite steps before rolling back
    max_rollbacks: int = 3

    def __post_init__(self) -> None:
        positive_ints(self, "max_bad_steps")
        non_negative(self, "max_rollbacks")
        one_of(self, "precision", PRECISIONS)


@dataclass
class LogConfig:
    """What the run writes down, and how often: logs, samples, checkpoints, evaluation, the export's card."""

    SECTION = "log"
    log_every: int = 50
    sample_every: int = 500
    sample_cols: int = 8
    ckpt_every: int = 1000
    keep_ckpts: int = 3
    eval_every: int = 0  # 0 = no metrics during training
    eval_n: int = 5000
    eval_features: str = ""  # inception | PATH of a domain extractor ("" = none)
    progress: bool = True
    license: str = "apache-2.0"  # licence id in the export's model card (Hugging Face ids: mit, cc-by-nc-4.0, ...)

    def __post_init__(self) -> None:
        positive_ints(self, "log_every", "sample_every", "sample_cols", "ckpt_every", "keep_ckpts", "eval_n")
        non_negative(self, "eval_every")
        if self.eval_every and not self.eval_features:
            raise ConfigError("log.eval_every needs log.eval_features=inception or the path of a domain extractor "
                              "(make one with `sahit features fit`)")


@dataclass
class FinetuneConfig:
    """Starting from a trained model instead of random weights (docs/starting-from-a-model.md)."""

    SECTION = "finetune"
    # start at step 0 with fresh optimisers from the G, EMA and D of a run folder, an export (G and EMA only),
    # zoo:NAME or hf:ID ("" = random initialisation)
    init_from: str = ""
    # when the new data has other classes: null keeps the source's class rows (same number of classes needed),
    # "reinit" draws fresh ones, or a list of the source's class indices, one per new class ([3, 5])
    init_classes: Any = None
    freeze_d: int = 0  # FreezeD: D's first K blocks (and attention among them) are not trained

    def __post_init__(self) -> None:
        if isinstance(self.freeze_d, bool) or not isinstance(self.freeze_d, int) or self.freeze_d < 0:
            raise ConfigError(f"finetune.freeze_d must be an integer >= 0 (D blocks to freeze), got {self.freeze_d!r}")
        if not isinstance(self.init_from, str):
            raise ConfigError(f"finetune.init_from must be a run folder, an export, zoo:NAME or hf:ID, "
                              f"got {self.init_from!r}")
        value = self.init_classes
        if value == "":
            self.init_classes = value = None
        if value not in (None, "reinit") and not (
                isinstance(value, list) and value and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                                                           for i in value)):
            raise ConfigError(f"finetune.init_classes must be null, reinit, or a list of the source model's class "
                              f"indices (one per new class, e.g. [3, 5]), got {value!r}")
        if value is not None and not self.init_from:
            raise ConfigError("finetune.init_classes chooses the class rows of init_from's model: set init_from too")


# The sections in the order config.yaml lists them.
SECTIONS: dict[str, type] = {cls.SECTION: cls for cls in (  # type: ignore[attr-defined]
    ModelSection, DataConfig, OptimConfig, ObjectiveConfig, EMAConfig, RuntimeConfig, LogConfig, FinetuneConfig)}
