"""A folder of images (class = subfolder, or unlabeled) that never dies on a bad file.

Files are listed by extension and their headers checked once when the data set is built;
zero-byte, truncated and non-image files are skipped with a counted warning that lists the
first few (``strict=True`` refuses them instead). Grayscale, RGBA, CMYK, palette and 16-bit
images are converted to RGB; mixed sizes are resized and centre-cropped. A file that fails
to decode later (e.g. truncated after its header) is replaced by the next good file and
counted, so training never stops half-way.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile
from torch.utils.data import Dataset
from torchvision.transforms import v2

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
Image.MAX_IMAGE_PIXELS = 20_000 * 20_000  # refuse decompression bombs beyond 400 MP


class DataError(ValueError):
    """A data set cannot be used as given; the message says why and what to do."""


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode (L, LA, P, RGBA, CMYK, I;16, I, F) to 8-bit RGB."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        lo, hi = float(array.min()), float(array.max())
        scaled = (array - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(array)
        image = Image.fromarray(scaled.astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def image_transform(resolution: int, crop: str = "center", crop_fraction: float = 1.0,
                    interpolation: str = "bilinear") -> v2.Compose:
    """Crop and resize to ``resolution``, scale to [-1, 1]. Flips happen in the trainer (seeded).

    The default resizes the short side (bilinear) and centre-crops. Otherwise a square of
    ``crop_fraction`` of the short side is cut (``crop="random"``: anywhere, ``"center"``: in the
    middle) and resized with ``interpolation``: HiT's ImageNet preprocessing is a random crop of
    0.875 resized bicubically for training, the centre crop for evaluation.
    """
    if crop == "center" and crop_fraction == 1.0 and interpolation == "bilinear":
        geometry = [v2.Resize(resolution, antialias=True), v2.CenterCrop(resolution)]
    else:
        mode = {"bilinear": v2.InterpolationMode.BILINEAR, "bicubic": v2.InterpolationMode.BICUBIC}[interpolation]
        geometry = [SquareCrop(crop_fraction, random=crop == "random"),
                    v2.Resize((resolution, resolution), interpolation=mode, antialias=True)]
    return v2.Compose(
        [
            v2.PILToTensor(),
            *geometry,
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
        ]
    )


class SquareCrop:
    """A square of ``fraction`` of the short side of a (C, H, W) image: centred, or at a random position."""

    def __init__(self, fraction: float, random: bool) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f"crop fraction must be in (0, 1], got {fraction}")
        self.fraction, self.random = fraction, random

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        side = max(1, round(self.fraction * min(h, w)))
        if self.random:
            top, left = (int(torch.randint(0, n - side + 1, ())) for n in (h, w))
        else:
            top, left = (h - side) // 2, (w - side) // 2
        return image[..., top : top + side, left : left + side]


def _check_header(path: Path) -> str | None:
    """None if the file looks like an image, else the reason it does not."""
    try:
        if path.stat().st_size == 0:
            return "empty file"
        with warnings.catch_warnings():  # PIL only warns between 1x and 2x the pixel limit: refuse those too
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"image too large (over {Image.MAX_IMAGE_PIXELS:,} pixels)"
    except Exception as exc:  # PIL raises many types for bad files
        return f"not a readable image ({type(exc).__name__})"
    return None


class ImageFolderDataset(Dataset):
    """Images under ``root``: ``root/<class>/*.png`` (labelled) or ``root/*.png`` (unlabeled, label 0)."""

    def __init__(self, root: str | os.PathLike, resolution: int, strict: bool = False,
                 transform: v2.Compose | None = None) -> None:
        self.root = Path(root)
        if not self.root.exists():
            raise DataError(f"data folder {str(self.root)!r} does not exist")
        if not self.root.is_dir():
            raise DataError(f"--data {str(self.root)!r} is a file, not a folder of images")
        subdirs = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if subdirs:
            self.classes = [d.name for d in subdirs]
            candidates = [(f, i) for i, d in enumerate(subdirs) for f in sorted(d.rglob("*")) if _is_image_name(f)]
            empty = [d.name for d in subdirs if not any(_is_image_name(f) for f in d.rglob("*"))]
            if empty and strict:
                raise DataError(f"class folders with no images in {self.root}: {', '.join(empty[:5])}")
            if empty:
                log.warning("ignoring %d empty class folder(s): %s", len(empty), ", ".join(empty[:5]))
                keep = [d.name for d in subdirs if d.name not in empty]
                remap = {self.classes.index(n): j for j, n in enumerate(keep)}
                candidates = [(f, remap[i]) for f, i in candidates]
                self.classes = keep
        else:
            self.classes = []
            candidates = [(f, 0) for f in sorted(self.root.iterdir()) if _is_image_name(f)]
        self.samples: list[tuple[Path, int]] = []
        self.skipped: list[tuple[Path, str]] = []
        for path, label in candidates:
            reason = _check_header(path)
            if reason is None:
                self.samples.append((path, label))
            else:
                self.skipped.append((path, reason))
        if self.skipped:
            listing = "; ".join(f"{p.name}: {why}" for p, why in self.skipped[:5])
            if strict:
                raise DataError(f"{len(self.skipped)} bad file(s) in {self.root}: {listing}")
            log.warning("skipped %d bad file(s) in %s, first: %s", len(self.skipped), self.root, listing)
        if not self.samples:
            raise DataError(
                f"no images found in {str(self.root)!r} (looked for {', '.join(IMAGE_EXTENSIONS)} "
                "directly inside it or in one subfolder per class)"
            )
        self.num_classes = len(self.classes)
        self.transform = transform if transform is not None else image_transform(resolution)
        self.decode_failures = 0

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> torch.Tensor:
        path, _ = self.samples[index]
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                return self.transform(to_rgb(im))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        for attempt in range(len(self.samples)):
            i = (index + attempt) % len(self.samples)
            try:
                return self.load(i), self.samples[i][1]
            except Exception as exc:  # a file that passed the header check but cannot be decoded
                self.decode_failures += 1
                log.warning("could not decode %s (%s); using the next image", self.samples[i][0], exc)
        raise DataError(f"no image in {self.root} could be decoded")


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file() and not path.name.startswith(".")


ImageFile.LOAD_TRUNCATED_IMAGES = False  # truncated files are errors, handled above
