"""A packed data set: one zip of images, read in place (StyleGAN's ``dataset_tool`` layout).

``pack_folder(src, out)`` writes the good images of an image folder, in the folder data set's
order and byte for byte (no re-encoding), as ``00000/img00000000.png``, ... with ZIP_STORED,
plus a ``dataset.json``: ``{"labels": [[name, label], ...] or null, "classes": [names]}``.
``ZipImageDataset`` reads such a zip (or any zip of images: labels from its ``dataset.json``
as in StyleGAN, else from top-level class folders inside the zip, else unlabeled) without
unpacking it. Its samples come in the same order as the folder's, so training on the zip is
the same computation as training on the folder it was packed from.

The zip is opened lazily, once per process, so the data set can be handed to DataLoader
workers (a zip handle must not be shared across a fork).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image
from torchvision.transforms import v2

from ..progress import progress as progress_bar
from ..runs import atomic_path
from .folder import IMAGE_EXTENSIONS, DataError, ImageFiles, ImageFolderDataset, check_header, report_skipped

LABELS_NAME = "dataset.json"


def _parts(name: str) -> list[str]:
    return name.split("/")


class ZipImageDataset(ImageFiles):
    """Images inside a zip file; ``strict=True`` checks every header when built (else bad files are
    replaced by the next good one when they fail to decode)."""

    def __init__(self, path: str | os.PathLike, resolution: int, strict: bool = False,
                 transform: v2.Compose | None = None) -> None:
        super().__init__(resolution, transform)
        self.path = Path(path)
        self.source = str(self.path)
        self._zip: zipfile.ZipFile | None = None
        self._pid = -1
        try:
            with zipfile.ZipFile(self.path) as zf:
                infos = {i.filename: i for i in zf.infolist() if not i.is_dir()}
                meta = json.loads(zf.read(LABELS_NAME)) if LABELS_NAME in infos else None
        except FileNotFoundError:
            raise DataError(f"data file {str(self.path)!r} does not exist") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"{str(self.path)!r} is not a readable zip file ({exc})") from None
        except ValueError as exc:
            raise DataError(f"{LABELS_NAME} in {self.path} is not valid JSON ({exc})") from None
        names = sorted((n for n in infos if _is_image_member(n, infos[n])), key=_parts)
        empty = [n for n in infos if PurePosixPath(n).suffix.lower() in IMAGE_EXTENSIONS and infos[n].file_size == 0]
        self.skipped: list[tuple[str, str]] = [(n, "empty file") for n in sorted(empty, key=_parts)]
        self.classes, labels = self._labels(names, meta)
        if strict:
            reasons = {n: check_header(lambda n=n: self.zip.open(n), infos[n].file_size) for n in names}
            self.skipped += [(n, why) for n, why in reasons.items() if why is not None]
            names = [n for n in names if reasons[n] is None]
        report_skipped(self.skipped, self.source, strict)
        self.samples: list[tuple[str, int]] = [(n, labels[n]) for n in names]
        if not self.samples:
            raise DataError(f"no images found in {str(self.path)!r} (looked for {', '.join(IMAGE_EXTENSIONS)})")
        self.num_classes = len(self.classes)

    def _labels(self, names: list[str], meta: Any) -> tuple[list[str], dict[str, int]]:
        """(class names, {member: label}) from dataset.json, else from top-level folders."""
        if meta is not None:
            raw = meta.get("labels") if isinstance(meta, dict) else None
            if raw is None:
                return [], dict.fromkeys(names, 0)
            try:
                table = {str(n): int(y) for n, y in raw}
            except (TypeError, ValueError):
                raise DataError(f"{LABELS_NAME} in {self.path}: 'labels' must be [[file, class index], ...] "
                                "(vector labels are not supported)") from None
            missing = [n for n in names if n not in table]
            if missing or any(y < 0 for y in table.values()):
                why = f"no label for {missing[0]}" if missing else "negative class index"
                raise DataError(f"{LABELS_NAME} in {self.path}: {why}")
            count = max((table[n] for n in names), default=-1) + 1
            classes = meta.get("classes") if isinstance(meta.get("classes"), list) else None
            if classes is None or len(classes) < count:
                classes = [str(i) for i in range(count)]
            return [str(c) for c in classes], {n: table[n] for n in names}
        folders = sorted({n.split("/", 1)[0] for n in names if "/" in n})
        if not folders:
            return [], dict.fromkeys(names, 0)
        loose = [n for n in names if "/" not in n]
        if loose:
            raise DataError(f"{self.path} mixes class folders with loose images (e.g. {loose[0]}); "
                            f"put every image in a class folder or add a {LABELS_NAME}")
        label = {c: i for i, c in enumerate(folders)}
        return folders, {n: label[n.split("/", 1)[0]] for n in names}

    @property
    def zip(self) -> zipfile.ZipFile:
        """This process's handle on the zip (opened on first use, again after a fork)."""
        if self._zip is None or self._pid != os.getpid():
            self._zip, self._pid = zipfile.ZipFile(self.path), os.getpid()
        return self._zip

    def open_image(self, index: int) -> Image.Image:
        return Image.open(self.zip.open(self.samples[index][0]))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_zip"], state["_pid"] = None, -1  # each worker opens its own handle
        return state


def _is_image_member(name: str, info: zipfile.ZipInfo) -> bool:
    base = PurePosixPath(name)
    return (base.suffix.lower() in IMAGE_EXTENSIONS and info.file_size > 0
            and not any(part.startswith(".") or part == "__MACOSX" for part in base.parts))


def pack_folder(src: str | os.PathLike, out: str | os.PathLike, strict: bool = False,
                progress: bool = True) -> dict[str, Any]:
    """Pack the good images of folder ``src`` into the zip ``out``; returns a summary dict.

    Bad files are skipped with a warning (refused when ``strict``), as when training on the folder.
    """
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise DataError(f"the packed data set must be a .zip file, got {str(out)!r}")
    if out.exists():
        raise DataError(f"{str(out)!r} exists already; remove it or pick another name")
    data = ImageFolderDataset(src, resolution=8, strict=strict)
    labelled = data.num_classes > 0
    labels, members = [], []
    for i, (path, label) in enumerate(data.samples):
        name = f"{i // 1000:05d}/img{i:08d}{path.suffix.lower()}"
        members.append((path, name))
        labels.append([name, label])
    meta = {"labels": labels if labelled else None, "classes": data.classes}
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for path, name in progress_bar(members, desc=f"packing {out.name}", unit="file", disable=not progress):
            zf.write(path, name)
        zf.writestr(LABELS_NAME, json.dumps(meta))
    return {"images": len(members), "classes": len(data.classes), "skipped": len(data.skipped),
            "bytes": out.stat().st_size, "out": str(out)}

