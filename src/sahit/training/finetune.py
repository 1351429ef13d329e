"""Fine-tuning: a new run (step 0, fresh optimisers) that starts from a trained model's G, EMA and D.

``init_from`` is resolved through the readers every other command uses: :func:`sahit.export.load` for G and
its EMA (a run folder, an export folder, ``hf:ID``, and ``zoo:NAME`` where those accept it) and
:func:`sahit.export.load_discriminator` for D (a run folder's newest checkpoint, or the D an export ships, as
the zoo's entries do; elsewhere D starts from random weights, and ``freeze_d`` is refused). The new run's model takes the source's options, then the run's own
``model.X=`` overrides; its model preset must be of the source's family.

``init_classes`` handles new data with other classes: the class tables (every ``nn.Embedding`` of G and D:
conditional batch norm's gains and biases, D's projection) are kept (null: the same classes), drawn afresh
("reinit"), or built from listed rows of the old ones ([3, 5]: new class 0 starts as old class 3, 1 as 5).
``freeze_d=K`` keeps D's first K blocks, and attention among them, as the source had them (FreezeD, Mo et
al. 2020): they get no optimiser.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..models.registry import family_of
from .config import ConfigError, TrainConfig

log = logging.getLogger(__name__)


@dataclass
class InitSource:
    """A trained model's options and weights, as ``init_from`` named it."""

    spec: str
    config: dict[str, Any]  # G.config: {"family": ..., options}
    G: dict[str, torch.Tensor]
    G_ema: dict[str, torch.Tensor]
    D: dict[str, torch.Tensor] | None


def load_init_source(spec: str) -> InitSource:
    """G, EMA and (from a run folder) D of ``spec``, through sahit.export.load and load_discriminator."""
    from ..export import load, load_discriminator

    G = load(spec, ema=False)
    ema = load(spec, ema=True)
    try:
        D = load_discriminator(spec).state_dict()
    except FileNotFoundError as exc:
        log.warning("init_from %s: no discriminator (%s); D starts from random weights", spec, exc)
        D = None
    return InitSource(spec, dict(G.config), G.state_dict(), ema.state_dict(), D)


def adopt_source_model(cfg: TrainConfig, source: InitSource) -> None:
    """The run's model takes the source's options, under the run's own ``model.X=`` overrides; with
    ``init_classes`` set, the number of classes is left to the data. ConfigError for another family."""
    options = dict(source.config)
    family = options.pop("family", None)
    run_family = family_of(cfg.model.name)
    if run_family is None or run_family.name != family:
        raise ConfigError(f"init_from {source.spec} is a {family} model; this run's model {cfg.model.name!r} is "
                          f"{run_family.name if run_family else 'unknown'}: train it with a {family} preset")
    if cfg.finetune.init_classes is not None:
        options.pop("num_classes", None)
    cfg.model.args = {**options, **cfg.model.args}


def check_init_classes(cfg: TrainConfig, data_classes: int, source_config: dict[str, Any]) -> None:
    """The run's classes against the source's: the same number unless ``init_classes`` says how to map them."""
    old = source_config.get("num_classes", 0)
    if cfg.finetune.init_classes is None and old and data_classes != old:
        raise ConfigError(f"the data has {data_classes} classes and init_from's model {old}: set init_classes=reinit "
                          f"or init_classes=[...] (for each new class, the old class it starts from)")
    if isinstance(cfg.finetune.init_classes, list) and len(cfg.finetune.init_classes) != data_classes:
        raise ConfigError(f"init_classes lists {len(cfg.finetune.init_classes)} old classes for the data's {data_classes}")


def class_tables(net: nn.Module) -> list[str]:
    """Module names of the class embeddings of ``net`` (every nn.Embedding: sahit uses them for classes only)."""
    return [name for name, m in net.named_modules() if isinstance(m, nn.Embedding)]


def _class_vector(net: nn.Module, table: str) -> str | None:
    """Which of spectral norm's vectors of class table ``table`` runs over the classes: "_u" when the table's
    rows (classes) are the normalised matrix's rows (dim 0), "_v" when its columns are (dim 1); None without."""
    parametrizations = getattr(net.get_submodule(table), "parametrizations", None)
    if parametrizations is None:
        return None
    return "_u" if parametrizations.weight[0].dim == 0 else "_v"


def _class_rows(leaf: str, value: torch.Tensor, rows: list[int], class_vector: str | None) -> torch.Tensor:
    """Entry ``leaf`` of a class table with only ``rows`` of the old classes: the table's rows, and spectral
    norm's vector over classes (renormalised); its vector over channels stays."""
    if leaf in ("weight", "parametrizations.weight.original"):
        return value[rows]
    if class_vector is not None and leaf.endswith(class_vector):
        return F.normalize(value[rows], dim=0, eps=1e-12)
    return value


def transplant(net: nn.Module, state: dict[str, torch.Tensor], init_classes: Any, what: str) -> None:
    """Load ``state`` into ``net`` strictly, except the class tables as ``init_classes`` says.

    ValueError (one line) naming the first layer whose shape differs, or a missing / extra layer.
    """
    target = net.state_dict()
    tables = class_tables(net)
    table_of = {k: t for k in target for t in tables if k.startswith(t + ".")}
    new_state = {}
    for key, value in target.items():
        if key not in state:
            raise ValueError(f"{what}: the source has no layer {key} (another architecture); "
                             "init_from needs the same model options")
        source = state[key]
        if key in table_of and init_classes == "reinit":
            new_state[key] = value  # this run's fresh initialisation
            continue
        if key in table_of and isinstance(init_classes, list):
            old_classes = state[f"{table_of[key]}.weight" if f"{table_of[key]}.weight" in state else
                                f"{table_of[key]}.parametrizations.weight.original"].shape[0]
            bad = [i for i in init_classes if i >= old_classes]
            if bad:
                raise ValueError(f"init_classes {init_classes}: the source model has {old_classes} classes "
                                 f"(0..{old_classes - 1}), no class {bad[0]}")
            table = table_of[key]
            source = _class_rows(key[len(table) + 1:], source, init_classes, _class_vector(net, table))
        if source.shape != value.shape:
            raise ValueError(f"{what}: layer {key} has shape {tuple(source.shape)} in the source and "
                             f"{tuple(value.shape)} in this run's model")
        new_state[key] = source
    extra = sorted(set(state) - set(target))
    if extra:
        raise ValueError(f"{what}: the source has a layer this run's model lacks ({extra[0]})")
    net.load_state_dict(new_state, strict=True)


def apply_init(trainer: Any, source: InitSource) -> None:
    """Put the source's weights into the trainer's G, EMA and D (a new run, before its first step)."""
    cfg = trainer.cfg
    spec = source.spec
    transplant(trainer.G, source.G, cfg.finetune.init_classes, f"init_from {spec} (G)")
    transplant(trainer.ema.net, source.G_ema, cfg.finetune.init_classes, f"init_from {spec} (EMA)")
    if source.D is not None:
        transplant(trainer.D, source.D, cfg.finetune.init_classes, f"init_from {spec} (D)")
    elif cfg.finetune.freeze_d:
        raise ValueError(f"freeze_d={cfg.finetune.freeze_d} freezes the source's D, but init_from {spec} has none "
                         "(D comes from a run folder's checkpoints)")


def frozen_d_parameters(D: nn.Module, k: int) -> set[int]:
    """ids of the parameters of D's first ``k`` blocks and of attention placed among them (FreezeD)."""
    if k == 0:
        return set()
    blocks = getattr(D, "blocks", None)
    if not isinstance(blocks, nn.ModuleList):
        raise ConfigError(f"freeze_d: this D ({type(D).__name__}) has no list of blocks to freeze")
    if k > len(blocks):
        raise ConfigError(f"freeze_d={k}: D has only {len(blocks)} blocks")
    frozen = [blocks[i] for i in range(k)]
    attention = getattr(D, "attention", None)
    if isinstance(attention, nn.ModuleDict):
        frozen += [m for name, m in attention.items() if name.isdigit() and int(name) < k]
    return {id(p) for m in frozen for p in m.parameters()}


def trainable_d_parameters(D: nn.Module, freeze_d: int) -> list[nn.Parameter]:
    """D's parameters its optimiser updates: all but those ``freeze_d`` freezes."""
    frozen = frozen_d_parameters(D, freeze_d)
    return [p for p in D.parameters() if id(p) not in frozen]
