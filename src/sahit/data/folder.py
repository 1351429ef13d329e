"""A folder of images (class = subfolder, or unlabeled) that never dies on a bad file.

Files are listed by extension and their headers checked once when the data set is built (the
answers are cached in an index, see ``sahit.data.index``, so a restart re-reads only new or changed
files); zero-byte, truncated and non-image files are skipped with a counted warning that lists the
first few (``strict=True`` refuses them instead). Grayscale, RGBA, CMYK, palette and 16-bit
images are converted to RGB; mixed sizes are resized and centre-cropped. A file that fails
to decode later (e.g. truncated after its header) is replaced by the next good file and
counted, so training never stops half-way.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image, ImageFile
from torch.utils.data import Dataset
from torchvision.transforms import v2

from .index import Listing, check_files, save_index

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
_EXTENSIONS = frozenset(IMAGE_EXTENSIONS)
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


def check_header(source: Path | Callable[[], BinaryIO], size: int | None = None) -> str | None:
    """None if the file (a path, or a function opening it, of ``size`` bytes) looks like an image, else why not."""
    try:
        if (source.stat().st_size if size is None else size) == 0:
            return "empty file"
        with warnings.catch_warnings():  # PIL only warns between 1x and 2x the pixel limit: refuse those too
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source if isinstance(source, Path) else source()) as im:
                im.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"image too large (over {Image.MAX_IMAGE_PIXELS:,} pixels)"
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for bad files
        return f"not a readable image ({type(exc).__name__})"
    return None


class ImageFiles(Dataset):
    """Base of the image-file data sets: ``samples`` [(file, label)] decoded by ``open_image``.

    A file that fails to decode is replaced by the next good one and counted in ``decode_failures``.
    """

    samples: list[tuple[Any, int]]
    source: str  # names the data set in messages

    def __init__(self, resolution: int, transform: v2.Compose | None = None) -> None:
        self.transform = transform if transform is not None else image_transform(resolution)
        self.decode_failures = 0

    def open_image(self, index: int) -> Image.Image:
        """The PIL image of sample ``index`` (not yet loaded)."""
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> list[int]:
        """The label of every image, from the listing (no image is opened)."""
        samples = self.samples
        return list(samples.labels) if isinstance(samples, FileSamples) else [label for _, label in samples]

    def load(self, index: int) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with self.open_image(index) as im:
                im.load()
                return self.transform(to_rgb(im))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        for attempt in range(len(self.samples)):
            i = (index + attempt) % len(self.samples)
            try:
                return self.load(i), self.samples[i][1]
            except Exception as exc:  # noqa: BLE001 - a file that passed the header check but cannot be decoded
                self.decode_failures += 1
                log.warning("could not decode %s (%s); using the next image", self.samples[i][0], exc)
        raise DataError(f"no image in {self.source} could be decoded")


def report_skipped(skipped: list[tuple[Any, str]], source: str, strict: bool) -> None:
    """Warn about (or, when ``strict``, refuse) files that failed the header check."""
    if not skipped:
        return
    listing = "; ".join(f"{PurePosixPath(str(p)).name}: {why}" for p, why in skipped[:5])
    if strict:
        raise DataError(f"{len(skipped)} bad file(s) in {source}: {listing}")
    log.warning("skipped %d bad file(s) in %s, first: %s", len(skipped), source, listing)


class ImageFolderDataset(ImageFiles):
    """Images under ``root``: ``root/<class>/*.png`` (labelled) or ``root/*.png`` (unlabeled, label 0).

    Header checks are cached in an index in the user cache (``sahit.data.index``): a restart lists
    the folder but reads only the headers of files that are new or changed. ``use_index=False`` reads
    all. Nothing is ever written into ``root``; the index is written only once the folder is accepted.
    """

    def __init__(self, root: str | os.PathLike, resolution: int, strict: bool = False,
                 use_index: bool = True, transform: v2.Compose | None = None) -> None:
        super().__init__(resolution, transform)
        self.root = Path(root)
        self.source = str(self.root)
        if not self.root.exists():
            raise DataError(f"data folder {str(self.root)!r} does not exist")
        if not self.root.is_dir():
            raise DataError(f"--data {str(self.root)!r} is a file, not a folder of images")
        with _gc_paused():
            self.classes, files, labels = list_folder(self.root, strict)
            answers, changed = check_files(self.root, files, check_header, use_cache=use_index)
            if any(reason is not None for reason in answers):
                keep = [reason is None for reason in answers]
                rels = [rel for rel, k in zip(files.rels, keep) if k]
                labels = [label for label, k in zip(labels, keep) if k]
            else:
                rels = files.rels
        self.samples = FileSamples(self.root, rels, labels)
        self.skipped: list[tuple[Path, str]] = [
            (self.root / rel, reason) for rel, reason in zip(files.rels, answers) if reason is not None]
        report_skipped(self.skipped, str(self.root), strict)
        if not self.samples:
            raise DataError(
                f"no images found in {str(self.root)!r} (looked for {', '.join(IMAGE_EXTENSIONS)} "
                "directly inside it or in one subfolder per class)"
            )
        self.num_classes = len(self.classes)
        if use_index and changed:
            save_index(self.root, files, answers)

    def open_image(self, index: int) -> Image.Image:
        return Image.open(self.samples[index][0])


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Listing a large folder makes hundreds of thousands of small tuples, none in a reference
    cycle; without this the cyclic garbage collector runs over them again and again, a large share of a restart."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def list_folder(root: Path, strict: bool = False) -> tuple[list[str], Listing, list[int]]:
    """(class names, image files, their labels) of an image folder, in sorted order, opening no image.

    Class folders are the non-hidden subfolders (searched recursively); without any, the images
    directly in ``root`` are one unlabeled set. Empty class folders are dropped with a warning
    (refused when ``strict``).
    """
    subdirs = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not subdirs:
        files = _image_files(root, "", recursive=False)
        return [], Listing(*files), [0] * len(files[0])
    per_class = {name: _image_files(root / name, name, recursive=True) for name in subdirs}
    empty = [name for name in subdirs if not per_class[name][0]]
    if empty and strict:
        raise DataError(f"class folders with no images in {root}: {', '.join(empty[:5])}")
    if empty:
        log.warning("ignoring %d empty class folder(s): %s", len(empty), ", ".join(empty[:5]))
    classes = [name for name in subdirs if per_class[name][0]]
    listing = Listing([], [], [])
    labels: list[int] = []
    for label, name in enumerate(classes):
        for whole, part in zip(listing, per_class[name]):
            whole.extend(part)
        labels += [label] * len(per_class[name][0])
    return classes, listing, labels


def _image_files(folder: Path, prefix: str, recursive: bool) -> tuple[list[str], list[int], list[int]]:
    """(relative paths ``prefix/...``, sizes, mtimes) of the image files under ``folder``, sorted by
    path components (as ``sorted(Path.rglob(...))``)."""
    found: list[tuple[str, int, int]] = []
    stack = [(folder, prefix)]
    nested = False
    while stack:
        directory, rel = stack.pop()
        nested |= rel != prefix
        base = f"{rel}/" if rel else ""
        with os.scandir(directory) as entries:
            for e in entries:
                name = e.name
                dot = name.rfind(".")
                if dot > 0 and name[dot:].lower() in _EXTENSIONS and e.is_file():
                    st = e.stat()
                    found.append((base + name, st.st_size, st.st_mtime_ns))
                elif recursive and e.is_dir():
                    stack.append((Path(e.path), base + name))
    if nested:
        found.sort(key=lambda f: f[0].split("/"))
    else:
        found.sort()  # one folder: plain string order is path order (names are unique, sizes never compared)
    rels, sizes, mtimes = (list(column) for column in zip(*found)) if found else ([], [], [])
    return rels, sizes, mtimes


class FileSamples(Sequence):
    """``(root / rel, label)`` pairs, each path made when asked for: building a million ``Path``
    objects up front would cost seconds at every start."""

    def __init__(self, root: Path, rels: list[str], labels: list[int]) -> None:
        self.root, self.rels, self.labels = root, rels, labels

    def __len__(self) -> int:
        return len(self.rels)

    def __getitem__(self, index):  # int or slice, as for a list
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self.root / self.rels[index], self.labels[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)


ImageFile.LOAD_TRUNCATED_IMAGES = False  # truncated files are errors, handled above
