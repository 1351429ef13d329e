"""Training configuration: one dataclass, YAML presets, ``key=value`` overrides.

YAML is parsed with ``yaml.safe_load`` (data only; nothing in a config is ever executed).
A training preset is ``src/sahit/configs/<name>.yaml`` shipped with the package or a path to a YAML file.
It names its ``base``: a model family (``sagan``, ``hit``: the family's recipe, ``Family.recipe`` in the
model registry, the one place its values live) or another training preset, and states only the values that
differ from it. docs/faithfulness.md shows each preset's resolved recipe against the papers and official code.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..models.registry import family_of, model_config, suggest

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
# Keys that may differ when a run is resumed: they change how long or how chattily it runs,
# not what it computes.
RESUMABLE_CHANGES = {"data_in_memory", "steps", "ckpt_every", "sample_every", "log_every", "keep_ckpts", "device", "num_workers",
                     "eval_every", "progress", "license"}
PRECISIONS = ("fp32", "bf16", "fp16", "auto")
# A preset file's key (not a config key) naming the data it needs when it has no default (`data:` left empty);
# `sahit train` refuses to start without --data.
DATA_NEEDED = "data_needed"
# A preset file's key naming what it starts from: a model family (its recipe) or another training preset.
BASE = "base"
PRESET_ONLY_KEYS = (DATA_NEEDED, BASE)
# The family whose recipe gives TrainConfig's defaults (a config built without a preset trains its model with it).
DEFAULT_FAMILY = "sagan"
# Names training presets had before model and training presets got names of their own (model presets kept
# these); `--preset OLD` still means the training preset.
LEGACY_PRESETS = {"hit-32": "hit-quickstart", "hit-64": "hit-imagenet64", "hit-128": "hit-imagenet128",
                  "hit-256": "hit-faces256", "hit-L-256": "hit-L-faces256", "hit-1024": "hit-faces1024"}
UPDATES = ("alternating", "simultaneous")
CROPS = ("center", "random")
INTERPOLATIONS = ("bilinear", "bicubic")
EMA_SPECTRAL_NORM = ("power_iteration", "copy")
# Keys that a config.yaml written by sahit 0.1.0 lacks, with the behaviour 0.1.0 had without them:
# such a run resumes as it started.
DEFAULTS_FOR_0_1_0_RUNS = {"update": "alternating", "d_sn_in_g_step": True, "ema_spectral_norm": "copy",
                           "class_conditional": True, "data_crop": "center", "data_crop_fraction": 1.0,
                           "data_interpolation": "bilinear"}
PRE_ISSUE_18 = DEFAULTS_FOR_0_1_0_RUNS  # the name this table had before; kept for code that imports it


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message says which and what is allowed."""


def _recipe(key: str) -> Any:
    """A field default from the default family's recipe (a factory: lists are fresh copies)."""
    return field(default_factory=lambda: copy.deepcopy(family_of(DEFAULT_FAMILY).recipe[key]))


@dataclass
class TrainConfig:
    """Everything a training run depends on. The recipe's values default to the ``sagan`` family's recipe
    (``Family.recipe``, :data:`DEFAULT_FAMILY`); a training preset starts from its own family's."""

    model: str = "sagan-16"  # a model preset or family (sahit presets)
    model_args: dict[str, Any] = field(default_factory=dict)  # overrides of the model preset: model.X=V
    data: str = "builtin"  # builtin | torchvision name | folder path
    data_root: str = ""  # where torchvision data sets live ("" = ~/.cache/sahit/data)
    download: bool = False  # let torchvision download a data set (needs a network)
    strict_data: bool = False  # refuse bad image files instead of skipping them
    data_length: int = 50_000  # size of the built-in data set
    # hold out this many training images (the same number of each class, fixed seed): training never sees
    # them and evaluation during training compares with them (0: train on all, compare with all)
    data_holdout: int = 0
    data_in_memory: bool = False  # keep decoded images in memory after their first read (not with data_crop=random)
    steps: int = _recipe("steps")  # generator updates
    batch_size: int = _recipe("batch_size")  # global batch, split across processes
    # each process's share of the batch in this many micro-batches, gradients summed (BigGAN's
    # num_D_accumulations): less memory, the same D gradient; G's batch norm sees micro-batches in the G step
    accum_steps: int = 1
    seed: int = 0
    n_dis: int = _recipe("n_dis")  # D steps per G step
    loss: str = _recipe("loss")
    lr_g: float = _recipe("lr_g")
    lr_d: float = _recipe("lr_d")
    betas_g: list[float] = _recipe("betas_g")
    betas_d: list[float] = _recipe("betas_d")
    adam_eps: float = 1e-8
    lr_decay_start: float = 1.0  # fraction of steps after which both lrs fall linearly to 0 at `steps` (1: constant)
    ema_decay: float = _recipe("ema_decay")
    ema_start: int = _recipe("ema_start")  # before this step the EMA copy just follows G
    # > 0: the EMA's half-life in thousands of images (steps x batch_size), StyleGAN2-ADA's schedule; replaces
    # ema_decay and ema_start. ema_rampup > 0 caps the half-life at ema_rampup x the images seen so far
    ema_kimg: float = 0.0
    ema_rampup: float = 0.0
    # power_iteration: the EMA copy runs spectral norm's power iteration on its averaged weights (its layers
    # keep largest singular value ~1); copy: it takes the live G's u, v (sahit 0.1.0)
    ema_spectral_norm: str = _recipe("ema_spectral_norm")
    r1_gamma: float = _recipe("r1_gamma")  # weight on mean(sum(grad_x D(x)^2)) over reals
    r1_every: int = 1  # R1 on every k-th D step only, weighted by k (StyleGAN2's lazy regularisation)
    bcr_weight: float = _recipe("bcr_weight")  # balanced consistency regularisation weight (DiffAugment inside bCR only)
    bcr_policy: str = "color,translation,cutout"
    augment: str = ""  # diffaug:color,translation,cutout = DiffAugment on every image D sees ("" = none)
    # The G step draws fresh z, y (every reference does). true: it back-propagates through the last D step's
    # fakes instead, saving one G forward per step: a speed option, not the reference (what it costs and
    # buys, measured: docs/faithfulness.md)
    reuse_fake: bool = _recipe("reuse_fake")
    # alternating: D step(s), then a G step (SAGAN, BigGAN, StudioGAN). simultaneous: one G forward and one
    # D pass per step, G and D updated from the same logits (HiT's official trainer); needs n_dis 1
    update: str = _recipe("update")
    # D's spectral-norm power iteration also advances in the G step's D pass (true: twice per iteration, as
    # BigGAN and StudioGAN); false: once, in the D step, as the official SAGAN code ("NO_OPS" on fakes)
    d_sn_in_g_step: bool = _recipe("d_sn_in_g_step")
    class_conditional: bool | None = None  # condition on the data's labels (None: the model family decides)
    flip: bool = _recipe("flip")  # random horizontal flips of real images (HiT: yes; the official SAGAN code: no)
    data_crop: str = _recipe("data_crop")  # center | random: square crop of data_crop_fraction of the short side
    data_crop_fraction: float = _recipe("data_crop_fraction")  # 0.875 with random: HiT's ImageNet preprocessing (evaluation crops centre)
    data_interpolation: str = _recipe("data_interpolation")  # bilinear | bicubic (HiT) resize to the model's resolution
    precision: str = "fp32"  # fp32 | bf16 | fp16 | auto (bf16 on GPUs that support it)
    channels_last: bool = False
    compile: bool = False
    sync_bn: bool = False  # synchronise G's batch-norm statistics across processes
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    num_workers: int = -1  # data-loading processes (-1: 0 on CPU, up to 8 on GPU)
    ckpt_every: int = 1000
    keep_ckpts: int = 3
    sample_every: int = 500
    sample_cols: int = 8
    license: str = "apache-2.0"  # licence id in the export's model card (Hugging Face ids: mit, cc-by-nc-4.0, ...)
    log_every: int = 50
    eval_every: int = 0  # 0 = no metrics during training
    eval_n: int = 5000
    eval_features: str = ""  # inception | PATH of a domain extractor ("" = none)
    max_bad_steps: int = 20  # consecutive non-finite steps before rolling back
    max_rollbacks: int = 3
    progress: bool = True
    # Fine-tuning (docs/starting-from-a-model.md): start at step 0 with fresh optimisers from the G, EMA and D
    # of a run folder, an export (G and EMA only), zoo:NAME or hf:ID ("" = random initialisation)
    init_from: str = ""
    # when the new data has other classes: null keeps the source's class rows (same number of classes needed),
    # "reinit" draws fresh ones, or a list of the source's class indices, one per new class ([3, 5])
    init_classes: Any = None
    freeze_d: int = 0  # FreezeD: D's first K blocks (and attention among them) are not trained

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _field_types() -> dict[str, Any]:
    return {f.name: f for f in dataclasses.fields(TrainConfig)}


def validate(cfg: TrainConfig) -> None:
    if isinstance(cfg.model, str):  # a model preset's earlier name (run folders of 0.2.0 and before)
        from ..models.registry import canonical_model

        cfg.model = canonical_model(cfg.model)
    positive_int = ("steps", "batch_size", "accum_steps", "n_dis", "r1_every", "ckpt_every", "keep_ckpts", "sample_every",
                    "sample_cols", "log_every", "eval_n", "max_bad_steps", "data_length")
    for name in positive_int:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    for name in ("lr_g", "lr_d"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"{name} must be a positive number, got {value!r}")
    for name in ("betas_g", "betas_d"):
        value = getattr(cfg, name)
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in value)):
            raise ConfigError(f"{name} must be two numbers in [0, 1), got {value!r}")
        setattr(cfg, name, [float(b) for b in value])  # Adam refuses a mix of ints and floats ([0, 0.99])
    if not (isinstance(cfg.lr_decay_start, (int, float)) and 0 <= cfg.lr_decay_start <= 1):
        raise ConfigError(f"lr_decay_start must be a fraction of the run in [0, 1], got {cfg.lr_decay_start!r}")
    if not cfg.adam_eps > 0:
        raise ConfigError(f"adam_eps must be a positive number, got {cfg.adam_eps!r}")
    if not 0 <= cfg.ema_decay < 1:
        raise ConfigError(f"ema_decay must be in [0, 1), got {cfg.ema_decay!r}")
    for name in ("r1_gamma", "bcr_weight", "ema_start", "ema_kimg", "ema_rampup", "eval_every", "max_rollbacks",
                 "data_holdout"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"{name} must be >= 0, got {getattr(cfg, name)!r}")
    if cfg.ema_rampup > 0 and not cfg.ema_kimg > 0:
        raise ConfigError(f"ema_rampup={cfg.ema_rampup!r} ramps up the half-life ema_kimg: set ema_kimg > 0 "
                          "(or ema_rampup=0 for a fixed ema_decay)")
    if cfg.eval_every and not cfg.eval_features:
        raise ConfigError("eval_every needs eval_features=inception or the path of a domain extractor "
                          "(make one with `sahit features fit`)")
    for name, choices in (("update", UPDATES), ("data_crop", CROPS), ("data_interpolation", INTERPOLATIONS),
                          ("ema_spectral_norm", EMA_SPECTRAL_NORM)):
        if getattr(cfg, name) not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {getattr(cfg, name)!r}")
    if cfg.update == "simultaneous" and cfg.n_dis != 1:
        raise ConfigError(f"update=simultaneous updates G and D from one pass: it needs n_dis=1, got {cfg.n_dis}")
    if cfg.batch_size % cfg.accum_steps:
        raise ConfigError(f"batch_size {cfg.batch_size} does not split into accum_steps={cfg.accum_steps} equal micro-batches")
    if cfg.accum_steps > 1 and (cfg.update != "alternating" or cfg.reuse_fake):
        raise ConfigError("accum_steps > 1 needs update=alternating and reuse_fake=false "
                          "(the G step draws its own micro-batches)")
    if isinstance(cfg.freeze_d, bool) or not isinstance(cfg.freeze_d, int) or cfg.freeze_d < 0:
        raise ConfigError(f"freeze_d must be an integer >= 0 (D blocks to freeze), got {cfg.freeze_d!r}")
    if not isinstance(cfg.init_from, str):
        raise ConfigError(f"init_from must be a run folder, an export, zoo:NAME or hf:ID, got {cfg.init_from!r}")
    _check_init_classes(cfg)
    if cfg.data_in_memory and cfg.data_crop == "random":
        raise ConfigError("data_in_memory keeps each image as first read: it would freeze data_crop=random's crops")
    if not 0 < cfg.data_crop_fraction <= 1:
        raise ConfigError(f"data_crop_fraction must be in (0, 1], got {cfg.data_crop_fraction!r}")
    if cfg.class_conditional is not None and not isinstance(cfg.class_conditional, bool):
        raise ConfigError(f"class_conditional must be true, false or null, got {cfg.class_conditional!r}")
    if cfg.precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {cfg.precision!r}")
    from ..augment import parse_augment

    try:
        parse_augment(cfg.augment)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not isinstance(cfg.model_args, dict):
        raise ConfigError(f"model_args must be a mapping, got {cfg.model_args!r}")
    from ..losses import get_loss

    try:
        get_loss(cfg.loss)
        model_config(cfg.model, **cfg.model_args)  # validates the model name and its options
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _check_init_classes(cfg: TrainConfig) -> None:
    value = cfg.init_classes
    if value == "":
        cfg.init_classes = value = None
    if value not in (None, "reinit") and not (
            isinstance(value, list) and value and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                                                       for i in value)):
        raise ConfigError(f"init_classes must be null, reinit, or a list of the source model's class indices "
                          f"(one per new class, e.g. [3, 5]), got {value!r}")
    if value is not None and not cfg.init_from:
        raise ConfigError("init_classes chooses the class rows of init_from's model: set init_from too")


_YAML11_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _coerce(name: str, value: Any) -> Any:
    """Check a value against the field's type; ints are accepted where floats are expected."""
    f = _field_types()[name]
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    if default is None:  # optional booleans (class_conditional), init_classes: checked by validate
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
        if value is None:
            value = ""
        if not isinstance(value, str):
            value = str(value)
    elif isinstance(default, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        value = list(value)
    elif isinstance(default, dict) and not isinstance(value, dict):
        raise ConfigError(f"{name} must be a mapping, got {value!r}")
    return value


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build a config from plain data, rejecting unknown keys with the nearest valid one.

    Keys of preset files that are not config keys (:data:`PRESET_ONLY_KEYS`) are ignored here.
    """
    fields = _field_types()
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if key in PRESET_ONLY_KEYS:
            continue
        if key not in fields:
            raise ConfigError(f"unknown config key {key!r}{suggest(key, list(fields))}")
        clean[key] = _coerce(key, value)
    return TrainConfig(**clean)


def stored_config(values: dict[str, Any]) -> TrainConfig:
    """The config of a run folder's config.yaml (every key; a run older than a key keeps the behaviour it had)."""
    return config_from_dict({**DEFAULTS_FOR_0_1_0_RUNS, **values})


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
    own = preset_yaml(name)
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
    from ..models.registry import families

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
    from ..models import presets as model_presets
    from ..models.registry import canonical_model

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


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["steps=100", "model.attn_res=[8]"]`` -> ``{"steps": 100, "model_args": {"attn_res": [8]}}``."""
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
        if key.startswith("model."):
            out.setdefault("model_args", {})[key[len("model."):]] = value
        else:
            out[key] = value
    return out


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if key == "model_args":
            if not isinstance(value, dict) or not isinstance(merged.get("model_args", {}), dict):
                raise ConfigError(f"model_args must be a mapping (or use model.KEY=VALUE), got {value!r}")
            merged["model_args"] = {**merged.get("model_args", {}), **value}
        else:
            merged[key] = value
    return merged


def unused_keys(cfg: TrainConfig) -> dict[str, str]:
    """Keys whose value has no effect under ``cfg``, each with the reason (ema_kimg > 0 replaces the fixed
    EMA decay and start)."""
    if not cfg.ema_kimg > 0:
        return {}
    why = (f"ema_kimg={cfg.ema_kimg:g} sets the EMA's decay (ema_kimg=0"
           + (" ema_rampup=0" if cfg.ema_rampup else "") + " restores a fixed ema_decay from ema_start)")
    return {"ema_decay": why, "ema_start": why}


def differences(old: TrainConfig, new: TrainConfig) -> list[str]:
    """Human-readable differences that matter for resuming (ignores RESUMABLE_CHANGES and keys unused in both)."""
    a, b = old.to_dict(), new.to_dict()
    ignored = RESUMABLE_CHANGES | (unused_keys(old).keys() & unused_keys(new).keys())
    return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a if k not in ignored and a[k] != b[k]]
