"""Data sets: the built-in shapes, folders of images and torchvision's data sets.

``make_dataset(spec, resolution)`` is the one entry point: ``spec`` is ``"builtin"``, a
torchvision name (``cifar10``, ``cifar100``, ``stl10``, ``celeba``, ``lsun:<class>``,
``imagenet:<root>``), a path to a folder or a ``.zip`` of images (``sahit data pack``). Every data set yields
``(image (3, R, R) float32 in [-1, 1], label int)`` and has ``num_classes`` (0 = unlabeled).
``holdout=N`` sets N training images apart (class-balanced, fixed seed) for reference statistics.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from .builtin import CLASS_NAMES, BuiltinShapes, symmetry_error
from .folder import DataError, ImageFolderDataset, image_transform, to_rgb
from .holdout import SPLITS, DataSplit, holdout_indices, split_dataset, split_name
from .pack import ZipImageDataset, pack_folder

TORCHVISION_SETS = ("cifar10", "cifar100", "stl10", "celeba", "lsun", "imagenet")
DEFAULT_ROOT = Path(os.environ.get("SAHIT_DATA_ROOT", Path.home() / ".cache" / "sahit" / "data"))

__all__ = [
    "CLASS_NAMES",
    "TORCHVISION_SETS",
    "BuiltinShapes",
    "DataError",
    "DataSplit",
    "ImageFolderDataset",
    "ZipImageDataset",
    "holdout_indices",
    "make_dataset",
    "pack_folder",
    "split_dataset",
    "split_name",
    "symmetry_error",
]


class _TorchvisionAdapter(Dataset):
    """Wraps a torchvision data set: RGB conversion, resize/crop to [-1, 1], integer labels."""

    def __init__(self, base: Dataset, resolution: int, num_classes: int, classes: list[str],
                 transform=None) -> None:
        self.base, self.num_classes, self.classes = base, num_classes, classes
        self.transform = transform if transform is not None else image_transform(resolution)

    def __len__(self) -> int:
        return len(self.base)

    @property
    def labels(self) -> list[int] | None:
        """The label of every image when torchvision lists them (``targets`` or ``labels``), else None."""
        listed = getattr(self.base, "targets", None)
        listed = getattr(self.base, "labels", None) if listed is None else listed
        return None if listed is None else [max(int(y), 0) for y in listed]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.base[index]
        label = int(label[0]) if torch.is_tensor(label) and label.dim() else int(label) if label is not None else 0
        return self.transform(to_rgb(image)), max(label, 0)


def _torchvision_dataset(name: str, arg: str | None, resolution: int, train: bool, root: Path, download: bool,
                         transform=None):
    import torchvision.datasets as tvd

    if download:  # only a download needs the folder; a failed look-up leaves no empty one behind
        root.mkdir(parents=True, exist_ok=True)
    try:
        if name == "cifar10":
            base = tvd.CIFAR10(root, train=train, download=download)
        elif name == "cifar100":
            base = tvd.CIFAR100(root, train=train, download=download)
        elif name == "stl10":
            base = tvd.STL10(root, split="train+unlabeled" if train else "test", download=download)
        elif name == "celeba":
            base = tvd.CelebA(root, split="train" if train else "test", target_type=[], download=download)
            return _TorchvisionAdapter(_NoLabel(base), resolution, 0, [], transform)
        elif name == "lsun":
            _require_lmdb()
            base = tvd.LSUN(str(root), classes=[f"{arg or 'bedroom'}_{'train' if train else 'val'}"])
            return _TorchvisionAdapter(base, resolution, 0, [], transform)
        elif name == "imagenet":
            base = tvd.ImageNet(arg or str(root), split="train" if train else "val")
        else:  # pragma: no cover - guarded by TORCHVISION_SETS
            raise AssertionError(name)
    except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted. You can use download=True"
        hint = "" if download else " (pass download=True / --download on a machine with a network)"
        raise DataError(f"{name} is not available under {root}: {exc}{hint}") from None
    classes = list(getattr(base, "classes", []))
    return _TorchvisionAdapter(base, resolution, len(classes), classes, transform)


def _require_lmdb() -> None:
    """LSUN comes as LMDB databases, which torchvision reads through the optional ``lmdb`` package."""
    try:
        import lmdb  # noqa: F401
    except ImportError:
        raise DataError("LSUN is read from LMDB databases, which needs the lmdb package: "
                        "pip install 'sahit[lsun]' (or pip install lmdb)") from None


class _NoLabel(Dataset):
    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int):
        image, _ = self.base[index]
        return image, 0


# How a data set is read, as the training config's data section names them (``cfg.data``), with their defaults.
OPTIONS = {"root": "", "download": False, "length": 50_000, "strict": False, "crop": "center", "crop_fraction": 1.0,
           "interpolation": "bilinear", "holdout": 0}


def make_dataset(data: Any, resolution: int, train: bool = True, seed: int = 0, split: str = "train",
                 **options: Any) -> Dataset:
    """Build the data set ``data`` names at ``resolution`` (see the module docstring).

    ``data``: the training config's data section (``cfg.data``: ``source`` and the :data:`OPTIONS`), or a
    spec string with any of the :data:`OPTIONS` as keywords (``make_dataset("cifar10", 32, holdout=5000)``).
    ``crop``, ``crop_fraction``, ``interpolation``: how images are cut to a square and resized
    (``image_transform``; the built-in shapes are drawn at ``resolution`` and ignore them).
    ``holdout``: set that many training images apart, the same number of each class, chosen from the
    labels with a fixed seed (:mod:`sahit.data.holdout`); ``split="train"`` returns the rest,
    ``"holdout"`` the held-out images. 0: the whole data set, as it is.
    """
    if isinstance(data, (str, os.PathLike)):
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise TypeError(f"make_dataset got unknown options {unknown} (known: {', '.join(OPTIONS)})")
        spec, opts = str(data), {**OPTIONS, **options}
    else:
        if options:
            raise TypeError("make_dataset takes a data section or a spec with keyword options, not both")
        spec, opts = data.source, {name: getattr(data, name) for name in OPTIONS}
    holdout = opts["holdout"]
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if isinstance(holdout, bool) or not isinstance(holdout, int) or holdout < 0:
        raise DataError(f"holdout must be a number of images >= 0, got {holdout!r}")
    if not holdout and split == "holdout":
        raise DataError("split='holdout' needs holdout > 0: the number of images held out of training")
    if holdout and not train:
        raise DataError("holdout sets images of the training set apart; the test set (train=False) has none")
    dataset = _whole_dataset(spec, resolution, train, seed, opts)
    return split_dataset(dataset, holdout, split) if holdout else dataset


# A data source: ``build(arg, resolution, train, seed, options) -> Dataset`` for ``--data NAME[:ARG]`` (``options``:
# the :data:`OPTIONS`). A name a path of the same spelling shadows (``--data cifar10`` with a folder ``cifar10``
# in the working directory reads the folder) unless the source says otherwise.
@dataclass(frozen=True)
class Source:
    build: Callable[[str, int, bool, int, dict[str, Any]], Dataset]
    paths_first: bool = True


SOURCES: dict[str, Source] = {}


def register_source(name: str, build: Callable[[str, int, bool, int, dict[str, Any]], Dataset],
                    paths_first: bool = True) -> None:
    """Make ``--data NAME`` (or ``NAME:ARG``) build a data set with ``build`` (see :data:`SOURCES`)."""
    SOURCES[name] = Source(build, paths_first)


def _builtin(arg: str, resolution: int, train: bool, seed: int, options: dict[str, Any]) -> Dataset:
    return BuiltinShapes(resolution, length=options["length"], seed=seed if train else seed + 1_000_003)


def _torchvision(name: str) -> Callable[[str, int, bool, int, dict[str, Any]], Dataset]:
    def build(arg: str, resolution: int, train: bool, seed: int, options: dict[str, Any]) -> Dataset:
        transform = image_transform(resolution, options["crop"], options["crop_fraction"], options["interpolation"])
        return _torchvision_dataset(name, arg or None, resolution, train, Path(options["root"] or DEFAULT_ROOT),
                                    options["download"], transform)

    return build


register_source("builtin", _builtin, paths_first=False)
for _name in TORCHVISION_SETS:
    register_source(_name, _torchvision(_name))


def _whole_dataset(spec: str, resolution: int, train: bool, seed: int, options: dict[str, Any]) -> Dataset:
    if not spec:
        raise DataError("--data is empty: use 'builtin', a torchvision name or a folder path")
    name, _, arg = spec.partition(":")
    source = SOURCES.get(spec) or SOURCES.get(name.lower())
    if source is not None and (not source.paths_first or not Path(spec).exists()):
        return source.build(arg, resolution, train, seed, options)
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(
            f"--data {spec!r} is neither 'builtin', a torchvision data set ({', '.join(TORCHVISION_SETS)}) "
            "nor an existing folder"
        )
    transform = image_transform(resolution, options["crop"], options["crop_fraction"], options["interpolation"])
    if path.is_file() and path.suffix.lower() == ".zip":
        return ZipImageDataset(path, resolution, strict=options["strict"], transform=transform)
    return ImageFolderDataset(path, resolution, strict=options["strict"], transform=transform)
