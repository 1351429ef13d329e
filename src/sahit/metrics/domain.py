"""A domain feature extractor: a small conv classifier trained on the user's labelled images.

Inception features describe ImageNet photos; on other data (medical scans, the built-in
shapes) a classifier trained on that data gives features that see what matters there. Its
pooled penultimate layer gives the features (FID, KID, precision/recall) and its softmax the
class probabilities (Inception Score). Saved as ``config.json`` + ``model.safetensors``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..progress import progress as progress_bar
from .extractor import FeatureExtractor, state_dict_sha256, to_uint8

FAMILY = "sahit-domain-cnn"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass
class DomainConfig:
    """Architecture of a domain extractor (everything needed to rebuild it)."""

    num_classes: int
    resolution: int
    width: int = 16
    layout: str = "plain"  # "plain": six conv layers from a stride-2 stem; "resnet": full-resolution stem, residual

    def __post_init__(self) -> None:
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ValueError(
                f"a domain extractor needs a labelled data set with >= 2 classes, got {self.num_classes!r}"
            )
        if not isinstance(self.resolution, int) or self.resolution < 16 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 16, got {self.resolution!r}")
        if not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"width must be a positive integer, got {self.width!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")

    @property
    def stages(self) -> int:
        return int(math.log2(self.resolution)) - 3  # the stem halves once, each stage halves down to 4x4

    @property
    def feature_dim(self) -> int:
        if self.layout == "resnet":
            return 8 * self.width
        return self.width * 2 ** min(self.stages + 1, 3)


LAYOUTS = ("plain", "resnet")


def _conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class _Residual(nn.Module):
    """x + two 3x3 conv-BN-ReLU layers of x."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn_relu(channels, channels), _conv_bn_relu(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _plain_body(config: DomainConfig) -> tuple[list[nn.Module], int]:
    """Stride-2 stem, then one stride-2 stage per halving down to 4x4 (cheap; the first layout)."""
    w = config.width
    layers: list[nn.Module] = [_conv_bn_relu(3, w, stride=2), _conv_bn_relu(w, 2 * w)]  # (B, 2w, R/2, R/2)
    c = 2 * w
    for i in range(config.stages):
        c_out = w * 2 ** min(i + 2, 3)
        layers += [_conv_bn_relu(c, c_out, stride=2), _conv_bn_relu(c_out, c_out)]
        c = c_out
    return layers, c


def _resnet_body(config: DomainConfig) -> tuple[list[nn.Module], int]:
    """A full-resolution stem and max-pooled stages with two residual blocks, down to 4x4 (the small
    ResNets of fast CIFAR-10 training): much more accurate than ``plain`` for about 4x its compute."""
    w = config.width
    layers: list[nn.Module] = [
        _conv_bn_relu(3, w), _conv_bn_relu(w, 2 * w), nn.MaxPool2d(2), _Residual(2 * w),  # (B, 2w, R/2, R/2)
        _conv_bn_relu(2 * w, 4 * w), nn.MaxPool2d(2),  # (B, 4w, R/4, R/4)
        _conv_bn_relu(4 * w, 8 * w), nn.MaxPool2d(2),  # (B, 8w, R/8, R/8)
    ]
    for _ in range(config.stages - 2):  # above 32 px: one more halving per doubling, down to 4x4
        layers += [_conv_bn_relu(8 * w, 8 * w), nn.MaxPool2d(2)]
    return [*layers, _Residual(8 * w)], 8 * w


class DomainNet(nn.Module):
    """Convolutions down to 4x4 (``config.layout``), global average pool, linear head."""

    def __init__(self, config: DomainConfig) -> None:
        super().__init__()
        layers, c = (_resnet_body if config.layout == "resnet" else _plain_body)(config)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c, config.num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x).mean(dim=(2, 3))  # (B, C): the penultimate layer
        return features, self.head(features)  # (B, C), (B, K)


class DomainExtractor(FeatureExtractor):
    """A trained :class:`DomainNet` as a :class:`FeatureExtractor` (resizes input to its resolution)."""

    name = "domain-cnn"

    def __init__(self, config: DomainConfig, info: dict[str, Any] | None = None, spec: str = "<in memory>") -> None:
        super().__init__()
        self.config = config
        self.net = DomainNet(config)
        self.info = dict(info or {})  # how it was trained: data, steps, seed, accuracy
        self.spec = spec
        self.feature_dim = config.feature_dim
        self.num_classes = config.num_classes
        self.eval()

    @property
    def weights_hash(self) -> str:  # type: ignore[override]
        return state_dict_sha256(self.net.state_dict())

    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = images.to(self.device).float() / 127.5 - 1  # uint8 -> [-1, 1]
        if x.shape[-1] != self.config.resolution or x.shape[-2] != self.config.resolution:
            size = (self.config.resolution, self.config.resolution)
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        return self.net(x)

    def train(self, mode: bool = True) -> DomainExtractor:
        return super().train(False)  # always an evaluator; fit_domain_extractor trains self.net directly


def fit_domain_extractor(
    dataset: Dataset,
    num_classes: int,
    resolution: int,
    steps: int = 200,
    batch_size: int = 32,
    lr: float = 3e-3,
    width: int = 16,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    data_name: str = "",
    layout: str = "plain",
    augment: bool = False,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    precision: str = "fp32",
) -> DomainExtractor:
    """Train a domain extractor on ``(image in [-1, 1], label)`` pairs for ``steps`` optimiser steps.

    One-cycle learning rate, cross-entropy loss; images are quantized to uint8 like at evaluation
    time. ``augment``: random flips and 4-pixel (at 32 px) reflect-padded random crops, the usual
    CIFAR augmentation. ``optimizer``: ``adam`` or ``sgd`` (Nesterov momentum 0.9). ``precision``:
    ``fp32`` or ``bf16`` (autocast while training; the saved extractor evaluates in fp32).
    The defaults take about a minute on 2 CPU cores at 32x32; ``docs/metrics.md`` gives the recipe
    of the zoo's CIFAR-10 extractor.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if len(dataset) < 2:  # type: ignore[arg-type]
        raise ValueError("the data set is empty or has a single image")
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
    config = DomainConfig(num_classes=num_classes, resolution=resolution, width=width, layout=layout)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        extractor = DomainExtractor(config).to(device)
    net = extractor.net
    loader = DataLoader(
        dataset,
        batch_size=min(batch_size, len(dataset)),  # type: ignore[arg-type]
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    opt = _optimizer(optimizer, net, lr, weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    flips_and_crops = torch.Generator().manual_seed(seed + 1) if augment else None
    net.to(memory_format=torch.channels_last)  # faster convolutions on CPUs (oneDNN) and GPUs
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")
    net.train()
    start, correct, seen, loss_value = time.perf_counter(), 0, 0, float("nan")
    with progress_bar(total=steps, desc="fit domain extractor", disable=not progress, leave=False) as bar:
        for step, (images, labels) in enumerate(_batches(loader, steps), 1):
            labels = torch.as_tensor(labels, dtype=torch.long, device=device)
            if flips_and_crops is not None:
                images = flip_and_crop(images, flips_and_crops)
            images = images.contiguous(memory_format=torch.channels_last)
            with autocast:
                logits, loss_value = _fit_step(extractor, opt, images, labels, num_classes)
            schedule.step()
            if step > steps * 3 // 4:  # accuracy over the last quarter of training
                correct += int((logits.argmax(1) == labels).sum())
                seen += len(labels)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}")
    net.to(memory_format=torch.contiguous_format)  # evaluation as every extractor: the layout it was saved in
    extractor.eval()
    extractor.info = {
        "data": data_name, "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "layout": layout,
        "augment": augment, "optimizer": optimizer, "weight_decay": weight_decay, "precision": precision,
        "final_loss": loss_value,
        "train_accuracy": correct / max(seen, 1),
        "seconds": round(time.perf_counter() - start, 1),
    }
    return extractor


def _optimizer(name: str, net: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be adam or sgd, got {name!r}")


def flip_and_crop(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image of (B, C, H, W) flipped left-right with probability 1/2, then cut at a random offset out of
    itself reflect-padded by H/8 on every side (4 pixels at 32 px): the standard CIFAR augmentation."""
    b, c, h, w = images.shape
    pad = max(1, h // 8)
    flip = torch.rand(b, generator=generator) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(3), images)
    padded = F.pad(images, (pad, pad, pad, pad), mode="reflect")  # (B, C, H + 2p, W + 2p)
    top = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    left = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (top[:, None] + torch.arange(h))[:, None, :, None].expand(b, c, h, w + 2 * pad)
    padded = padded.gather(2, rows)  # (B, C, H, W + 2p)
    cols = (left[:, None] + torch.arange(w))[:, None, None, :].expand(b, c, h, w)
    return padded.gather(3, cols)  # (B, C, H, W)


@torch.no_grad()
def classification_accuracy(extractor: DomainExtractor, dataset: Dataset, batch_size: int = 250,
                            progress: bool = True) -> float:
    """The fraction of ``(image in [-1, 1], label)`` pairs of ``dataset`` whose class the extractor predicts."""
    loader = DataLoader(dataset, batch_size=batch_size)
    correct = 0
    for images, labels in progress_bar(loader, desc="accuracy", disable=not progress, leave=False):
        logits = extractor.extract(to_uint8(images))[1]  # the pre-processing of training and evaluation
        correct += int((logits.argmax(1).cpu() == torch.as_tensor(labels)).sum())
    return correct / max(len(dataset), 1)  # type: ignore[arg-type]


def _batches(loader: DataLoader, steps: int) -> Iterator[Any]:
    """``steps`` batches of ``loader``, starting a new epoch whenever one ends."""
    step = 0
    while True:
        for batch in loader:
            yield batch
            step += 1
            if step == steps:
                return


def _fit_step(
    extractor: DomainExtractor, optimizer: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor,
    num_classes: int,
) -> tuple[torch.Tensor, float]:
    """One cross-entropy step of the extractor's classifier; returns (logits, loss)."""
    if labels.min() < 0 or labels.max() >= num_classes:
        lo, hi = int(labels.min()), int(labels.max())
        raise ValueError(f"labels must be in 0..{num_classes - 1}, got {lo}..{hi}")
    logits = extractor.extract(to_uint8(images))[1]  # resize + same pre-processing as evaluation
    loss = F.cross_entropy(logits.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return logits, loss.item()


def save_domain_extractor(extractor: DomainExtractor, path: str | Path) -> Path:
    """Write ``path/config.json`` and ``path/model.safetensors``; returns the folder."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in extractor.net.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_NAME))
    config = {"family": FAMILY, **dataclasses.asdict(extractor.config), "info": extractor.info}
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return folder


def load_domain_extractor(path: str | Path) -> DomainExtractor:
    """Rebuild a domain extractor from its folder (or either file in it); safetensors only, no pickles."""
    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    for p in (config_path, weights_path):
        if not p.is_file():
            raise FileNotFoundError(f"{str(folder)!r} is not a saved domain extractor: {p.name} is missing")
    raw = json.loads(config_path.read_text())
    if raw.pop("family", None) != FAMILY:
        raise ValueError(f"{str(config_path)!r} does not describe a {FAMILY} extractor")
    info = raw.pop("info", {})
    fields = {f.name for f in dataclasses.fields(DomainConfig)}
    unknown = set(raw) - fields
    if unknown:
        raise ValueError(f"{str(config_path)!r} has unknown keys {sorted(unknown)}")
    extractor = DomainExtractor(DomainConfig(**raw), info=info, spec=str(folder))
    extractor.net.load_state_dict(load_file(str(weights_path)))
    return extractor
