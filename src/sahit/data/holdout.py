"""Hold out part of a data set: a class-balanced, deterministic split into the rest and a held-out part.

FID against the images a generator trained on rewards memorising them; against images it never saw it
does not. ``holdout_indices(labels, holdout)`` picks ``holdout`` images, the same number from every class,
from the labels alone (no image is opened), with a fixed seed: the same data and ``holdout`` give the
same split on every machine, whatever the seed of training. ``split_dataset`` wraps the data set in a
view of either part that still answers for the whole one's attributes (``num_classes``, ``classes``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset, Subset

from .folder import DataError

SPLITS = ("train", "holdout")
SPLIT_SEED = 0  # fixed: the split belongs to the data, not to a training run


def _hash_order(size: int, seed: int) -> np.ndarray:
    """A pseudo-random permutation of ``range(size)`` made by sorting splitmix64 hashes of the indices.

    Defined by this arithmetic alone, unlike numpy's or torch's generators (whose streams may change
    between versions): a held-out set must never drift into the training set after an upgrade.
    """
    gamma = 0x9E3779B97F4A7C15
    x = np.arange(1, size + 1, dtype=np.uint64) * np.uint64(gamma) + np.uint64(seed * gamma % 2**64)  # mod 2**64
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return np.argsort(x, kind="stable")


def holdout_indices(labels: Sequence[int] | np.ndarray | None, holdout: int, size: int | None = None,
                    num_classes: int | None = None, class_names: Sequence[str] | None = None,
                    seed: int = SPLIT_SEED) -> np.ndarray:
    """Sorted indices of the ``holdout`` held-out items: ``holdout / num_classes`` of every class.

    ``labels``: the class of every item (``None``: unlabelled, then ``holdout`` items of ``size`` are
    picked at random). Every class keeps at least one item for training. Raises ``DataError`` when
    ``holdout`` does not divide over the classes or asks for more than a class has.
    """
    if isinstance(holdout, bool) or not isinstance(holdout, int) or holdout < 1:
        raise DataError(f"holdout must be a positive number of images, got {holdout!r}")
    if labels is None:
        if size is None:
            raise ValueError("unlabelled data: pass size")
        if holdout >= size:
            raise DataError(f"holdout={holdout} leaves nothing to train on: the data set has {size} images")
        return np.sort(_hash_order(size, seed)[:holdout])
    y = np.asarray(labels, dtype=np.int64)
    k = int(num_classes if num_classes is not None else y.max() + 1)
    if holdout % k:
        raise DataError(f"holdout={holdout} does not divide over the {k} classes: use a multiple of {k} "
                        f"(e.g. {max(k, holdout - holdout % k)})")
    per = holdout // k
    counts = np.bincount(y, minlength=k)
    small = int(np.argmin(counts))
    if per >= counts[small]:
        name = class_names[small] if class_names is not None and small < len(class_names) else str(small)
        raise DataError(f"holdout={holdout} takes {per} images of each class but class {name!r} has "
                        f"{counts[small]}: hold out at most {(counts[small] - 1) * k} images")
    order = _hash_order(len(y), seed)
    by_class = order[np.argsort(y[order], kind="stable")]  # grouped by class, each group in hashed order
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.sort(by_class[(starts[:, None] + np.arange(per)).ravel()])


class DataSplit(Subset):
    """One part of a data set (``split``: train or holdout); other attributes are the whole data set's."""

    def __init__(self, dataset: Dataset, indices: Sequence[int], split: str, holdout: int) -> None:
        super().__init__(dataset, list(indices))
        self.split, self.holdout = split, holdout

    def __getattr__(self, name: str) -> Any:  # only called for attributes the view does not have itself
        if name.startswith("__") or name in ("dataset", "indices"):  # unpickling asks before __dict__ is set
            raise AttributeError(name)
        return getattr(self.dataset, name)

    @property
    def labels(self) -> list[int]:
        """The label of every item of this part."""
        whole = self.dataset.labels  # type: ignore[attr-defined]
        return [whole[i] for i in self.indices]


def dataset_labels(dataset: Dataset) -> list[int] | None:
    """The class of every item from the data set's listing (``None`` when it is unlabelled)."""
    if not getattr(dataset, "num_classes", 0):
        return None
    labels = getattr(dataset, "labels", None)
    if labels is None:
        raise DataError(f"cannot hold out images of {type(dataset).__name__}: its labels are not known "
                        "without reading every image")
    return list(labels)


def split_dataset(dataset: Dataset, holdout: int, split: str = "train") -> DataSplit:
    """The ``split`` part ("train": all but the held-out images, "holdout": those) of ``dataset``."""
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    size = len(dataset)  # type: ignore[arg-type]
    labels = dataset_labels(dataset)
    held = holdout_indices(labels, holdout, size=size, num_classes=getattr(dataset, "num_classes", None) or None,
                           class_names=getattr(dataset, "classes", None))
    if split == "holdout":
        return DataSplit(dataset, held.tolist(), split, holdout)
    keep = np.ones(size, dtype=bool)
    keep[held] = False
    return DataSplit(dataset, np.flatnonzero(keep).tolist(), split, holdout)


def split_name(train: bool, holdout: int = 0, split: str = "train") -> str:
    """How a part of a data set is named in statistics and their cache files: ``train``, ``test``,
    ``holdout5000`` or ``train-without-holdout5000``."""
    if not holdout:
        return "train" if train else "test"
    return f"holdout{holdout}" if split == "holdout" else f"train-without-holdout{holdout}"
