"""Images kept in memory once decoded: a data set read from files pays for decoding once, not every epoch."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

_TO_UNIT_RANGE = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])])


class InMemory(Dataset):
    """``dataset`` with every item kept after its first read.

    Images are kept as uint8 (a quarter of float32: CIFAR-10 takes 150 MB) when converting them back
    reproduces the item bit for bit, as for every image file sahit reads (its transform ends in
    uint8 -> [-1, 1]); other items are kept as they are. Only for deterministic transforms: a random
    crop would be frozen at its first draw. Each data-loading process keeps its own copy.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._items: dict[int, tuple[torch.Tensor, Any]] = {}

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        kept = self._items.get(index)
        if kept is not None:
            image, label = kept
            return (_TO_UNIT_RANGE(image) if image.dtype == torch.uint8 else image.clone()), label
        image, label = self.dataset[index]
        quantised = ((image + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        exact = image.dtype == torch.float32 and torch.equal(_TO_UNIT_RANGE(quantised), image)
        self._items[index] = (quantised if exact else image.clone(), label)
        return image, label

    def __getattr__(self, name: str) -> Any:  # num_classes, classes, labels, ... of the wrapped data set
        if name.startswith("__") or name in ("dataset", "_items"):
            raise AttributeError(name)
        return getattr(self.dataset, name)
