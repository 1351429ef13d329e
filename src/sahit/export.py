"""Generators as safetensors weights plus a JSON config: rebuilt without the training code.

Layout of an export folder::

    config.json                 {"format": ..., "model": G.config, "has_ema": true, "sahit_version": "0.2.0"}
    generator.safetensors       the trained generator
    generator_ema.safetensors   its exponential moving average (when trained with one)
    README.md                   the model card (see :mod:`sahit.model_card`)

``load`` takes such a folder, a run folder holding one in ``export/``, or ``hf:ORG/NAME[@REVISION]``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ._version import __version__
from .model_card import DEFAULT_LICENSE, TrainingRecord, model_card
from .models.registry import build_from_config, build_generator_from_config
from .runs import (
    CHECKPOINTS,
    DISCRIMINATOR_WEIGHTS,
    EXPORT,
    EXPORT_CONFIG,
    atomic_path,
    export_folder,
    latest_checkpoint,
    read_export_config,
    run_folder,
    write_text_atomic,
)

FORMAT = "sahit-generator-1"
CONFIG_NAME = EXPORT_CONFIG
CARD_NAME = "README.md"  # the model card


def save_generator(folder: str | Path, generator: nn.Module, ema: nn.Module | None = None,
                   training: TrainingRecord | None = None, license: str = DEFAULT_LICENSE) -> Path:
    """Write ``generator`` (and ``ema``) with its config and model card to ``folder``; returns the folder.

    ``training`` (see :func:`sahit.model_card.training_record`) fills the card's data, steps, recipe,
    metrics and command; without it the card says they are unknown. ``license`` goes into the card's
    front matter (a Hugging Face licence id such as ``apache-2.0``, ``mit``, ``cc-by-nc-4.0``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, net in (("generator", generator), ("generator_ema", ema)):
        if net is None:
            continue
        tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
        with atomic_path(folder / f"{name}.safetensors") as tmp:
            save_file(tensors, str(tmp), metadata={"format": FORMAT})
    card = model_card(generator, training, license=license, has_ema=ema is not None)
    write_text_atomic(folder / CARD_NAME, card)
    config = {"format": FORMAT, "model": generator.config, "has_ema": ema is not None, "sahit_version": __version__}
    write_text_atomic(folder / CONFIG_NAME, json.dumps(config, indent=2))  # last: a folder with a config is whole
    return folder


def load(path: str | Path, ema: bool = True, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a generator from a run folder, an export folder, ``zoo:NAME`` or ``hf:ORG/NAME[@REVISION]``, in eval mode.

    ``ema=True`` takes the EMA weights when the run has them. Only safetensors and JSON are
    read, so loading runs no code from the files. ``hf:`` ids need ``pip install sahit[hf]``.
    """
    folder = export_folder(path)
    try:
        config = json.loads((folder / CONFIG_NAME).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{folder / CONFIG_NAME} is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT or not isinstance(config.get("model"), dict):
        raise ValueError(f"{folder / CONFIG_NAME} is not a sahit generator export")
    generator = build_generator_from_config(config["model"])
    name = "generator_ema" if ema and config.get("has_ema") else "generator"
    weights = folder / f"{name}.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} does not exist")
    try:  # safetensors holds tensors only: nothing in the file can run code
        state = load_file(str(weights))
    except Exception as exc:  # noqa: BLE001 - SafetensorError: truncated, corrupt, not safetensors (a pickle)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{weights} is not a valid safetensors file ({first})") from None
    missing, unexpected = generator.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{name}.safetensors does not match its config: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return generator.to(device).eval()


def load_discriminator(run: str | Path, device: str = "cpu") -> nn.Module:
    """D of a run (or ``zoo:NAME``), rebuilt from the export's model config.

    Its weights come from the newest checkpoint, else from ``export/discriminator.safetensors`` (zoo entries
    and converted models ship D that way, without optimiser state).
    """
    from .models import build

    folder = run_folder(run)
    if not (folder / EXPORT / EXPORT_CONFIG).is_file():
        raise FileNotFoundError(f"{folder} has no export/config.json: the discriminator needs a training run folder")
    config = read_export_config(folder)
    if config is None or not isinstance(config.get("model"), dict):
        raise ValueError(f"{folder / EXPORT / EXPORT_CONFIG} is not a sahit generator export")
    model = dict(config["model"])
    family = model.pop("family")
    _, D = build(family, **model)
    state = latest_checkpoint(folder / CHECKPOINTS)
    shipped = folder / EXPORT / DISCRIMINATOR_WEIGHTS
    if state is not None:
        D.load_state_dict(state["D"])
    elif shipped.is_file():
        D.load_state_dict(load_file(str(shipped)))
    else:
        raise FileNotFoundError(f"{folder / CHECKPOINTS} holds no checkpoint and {folder / EXPORT} no "
                                f"{DISCRIMINATOR_WEIGHTS}: --d needs the discriminator's weights")
    return D.to(device).eval()


def discriminator_has_attention(config: dict) -> bool:
    """Whether the discriminator of a generator's model config has attention layers (built on the meta device)."""
    with torch.device("meta"):
        _, D = build_from_config(config)
    return bool(D.attention_layer_names())
