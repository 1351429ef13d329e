"""Image sets to score that sahit did not necessarily make: a folder of images or an ``.npz``.

Layouts read by :func:`load_images` (and written by ``sahit sample --format png|npz``):

* a folder of images flat inside it (``*.png``, ``*.jpg``, ...), unlabelled, or labelled by the
  ``labels`` list of a sahit ``manifest.json`` beside them (image ``000123.png`` has ``labels[123]``);
  torch-fidelity (``--input1 DIR``, non-recursive) and clean-fid (``compute_fid(DIR, ...)``,
  recursive) read the same folders;
* a folder with one subfolder per class (labels = subfolder order, as ``sahit train --data`` reads it);
* an ``.npz`` with ``arr_0``: (N, H, W, 3) uint8 RGB (the layout of OpenAI's guided-diffusion
  evaluator and of ``np.savez(path, images)``), and optionally ``labels``: (N,) integers.
  torch-fidelity takes it through a small Dataset returning ``torch.from_numpy(arr_0[i]).permute(2, 0, 1)``;
  clean-fid through ``compute_fid(gen=...)`` or a folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

MANIFEST = "manifest.json"
NPZ_NAME = "samples.npz"
IMAGES_KEY = "arr_0"
LABELS_KEY = "labels"


class ArrayImages(Dataset):
    """(N, H, W, 3) uint8 images (and optional labels) as ``(uint8 (3, H, W), label or -1)`` items."""

    def __init__(self, images: np.ndarray, labels: np.ndarray | None = None, name: str = "") -> None:
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"{name or 'images'} must be (N, H, W, 3) uint8 RGB, got {images.shape} {images.dtype}")
        if labels is not None and labels.shape != (len(images),):
            raise ValueError(f"{name or 'labels'}: {labels.shape} labels for {len(images)} images")
        self.images, self.labels = images, labels
        self.num_classes = 0 if labels is None else int(labels.max()) + 1
        self.resolution = int(images.shape[1])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = torch.from_numpy(np.ascontiguousarray(self.images[i])).permute(2, 0, 1)
        return image, -1 if self.labels is None else int(self.labels[i])


def load_images(path: str | Path) -> Dataset:
    """The image set at ``path`` (folder or ``.npz``, see the module docstring).

    Items are ``(image (3, H, W), label)``: uint8 for ``.npz``, float in [-1, 1] for folders;
    the data set's ``num_classes`` is 0 when there are no labels (then labels are meaningless).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--images {str(path)!r} does not exist")
    if path.is_dir() and (path / NPZ_NAME).is_file():
        path = path / NPZ_NAME  # a `sahit sample --format npz` folder
    if path.is_file():
        if path.suffix != ".npz":
            raise ValueError(f"--images {str(path)!r} must be a folder of images or an .npz file")
        with np.load(path, allow_pickle=False) as data:
            if IMAGES_KEY not in data.files:
                raise ValueError(f"{str(path)!r} has no {IMAGES_KEY!r} array of (N, H, W, 3) uint8 images")
            labels = data[LABELS_KEY].astype(np.int64) if LABELS_KEY in data.files else None
            return ArrayImages(data[IMAGES_KEY], labels, name=str(path))
    return _folder_images(path)


def _folder_images(path: Path) -> Dataset:
    from ..data.folder import IMAGE_EXTENSIONS, ImageFolderDataset

    files = sorted(f for f in path.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file())
    if not files:
        raise ValueError(f"no images found in {str(path)!r}")
    with Image.open(files[0]) as first:
        resolution = min(first.size)
    dataset = ImageFolderDataset(path, resolution, strict=True)
    manifest = path / MANIFEST
    if dataset.num_classes == 0 and manifest.is_file():
        labels = json.loads(manifest.read_text()).get("labels")
        if labels is not None:
            try:
                dataset.samples = [(f, int(labels[int(f.stem)])) for f, _ in dataset.samples]
            except (ValueError, IndexError) as exc:
                raise ValueError(f"{manifest} does not match the images beside it ({exc})") from None
            dataset.num_classes = max(labels) + 1
    return dataset
