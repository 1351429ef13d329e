"""Write a generator's samples to disk, one PNG per image or one ``.npz``, resumably.

Image ``i`` is image ``i`` of ``G.sample(n, classes, seed, batch_size, truncation)`` quantised to
uint8 (``round((x + 1) * 127.5)``, as a PNG would store it). Work goes in chunks of whole batches,
each written atomically, so an interrupted job rerun with the same arguments skips the chunks
already on disk and ends with the same files as an uninterrupted one.

Layout of ``out/`` (see :mod:`sahit.metrics.images` for what other tools read):

* ``manifest.json``: the job (format, n, seed, truncation, batch size, generator fingerprint),
  ``labels`` (class of each image, or null) and ``complete``;
* ``png``: ``000000.png``, ``000001.png``, ... flat in ``out/`` (torch-fidelity and clean-fid read such folders);
* ``npz``: ``samples.npz`` with ``arr_0`` (N, H, W, 3) uint8 and ``labels`` (N,) int64 when conditional;
  chunks wait in ``out/chunks/`` until the last one is written.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .metrics.extractor import state_dict_sha256, to_uint8
from .metrics.images import IMAGES_KEY, LABELS_KEY, MANIFEST, NPZ_NAME
from .progress import progress as progress_bar
from .runs import atomic_path, write_json_atomic

FORMATS = ("png", "npz")
CHUNK_IMAGES = 2048  # images per chunk (rounded to whole batches)


@dataclass
class SampleJob:
    """What was written: the folder, how many images, and how many this call generated."""

    out: Path
    n: int
    generated: int
    format: str
    labels: list[int] | None


def write_samples(
    G: Any,
    n: int,
    out: str | Path,
    *,
    format: str = "png",
    classes: int | Sequence[int] | torch.Tensor | None = None,
    seed: int = 0,
    truncation: float | None = None,
    batch_size: int = 256,
    chunk_images: int = CHUNK_IMAGES,
    progress: bool = True,
    meta: dict[str, Any] | None = None,
) -> SampleJob:
    """Write ``n`` samples of generator ``G`` to the folder ``out``; resumes an interrupted identical job.

    Raises ``ValueError`` if ``out`` holds another job's samples (other arguments or another
    generator) or files that are not samples. ``meta`` (e.g. the run folder) is recorded in the
    manifest but not compared on resume.
    """
    if format not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"--n must be a positive integer, got {n!r}")
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    z = G.sample_noise(n, seed, truncation)  # the whole z, so image i is the same for any chunking
    y = G.sample_labels(n, classes)
    labels = None if y is None else y.tolist()
    job = {
        "format": format, "n": n, "seed": seed, "truncation": truncation, "batch_size": batch_size,
        "resolution": int(G.resolution), "generator_sha256": state_dict_sha256(G.state_dict()),
    }
    out = Path(out)
    _claim(out, job, labels, meta or {})
    chunk = max(1, chunk_images // batch_size) * batch_size
    starts = [s for s in range(0, n, chunk) if not _chunk_done(out, format, s, min(s + chunk, n), n)]
    generated = 0
    with progress_bar(total=n, initial=n - sum(min(chunk, n - s) for s in starts), desc="samples", unit="img",
              disable=not progress) as bar:
        for start in starts:
            stop = min(start + chunk, n)
            images = G.sample_from(z[start:stop], None if y is None else y[start:stop], batch_size)
            write_chunk(out, format, start, to_uint8(images).permute(0, 2, 3, 1).cpu().numpy(), n)
            generated += stop - start
            bar.update(stop - start)
    if format == "npz":
        _assemble_npz(out, n, chunk, labels)
    manifest = json.loads((out / MANIFEST).read_text())
    write_json_atomic(out / MANIFEST, {**manifest, "complete": True})
    return SampleJob(out, n, generated, format, labels)


def png_name(index: int, n: int) -> str:
    """File name of image ``index`` of ``n``: zero-padded so that sorting the names sorts the images."""
    return f"{index:0{max(6, len(str(n - 1)))}d}.png"


def write_chunk(out: Path, format: str, start: int, images: np.ndarray, n: int) -> None:
    """Write images ``start .. start + len(images)`` (uint8 (B, H, W, 3)), each file atomically."""
    if format == "png":
        for i, image in enumerate(images):
            path = out / png_name(start + i, n)
            with atomic_path(path, keep_suffix=True) as tmp:
                Image.fromarray(image).save(tmp)
    else:
        path = _chunk_path(out, start)
        path.parent.mkdir(exist_ok=True)
        with atomic_path(path, keep_suffix=True) as tmp:
            np.save(tmp, images)


def _chunk_path(out: Path, start: int) -> Path:
    return out / "chunks" / f"{start:09d}.npy"


def _chunk_done(out: Path, format: str, start: int, stop: int, n: int) -> bool:
    if format == "png":
        return all((out / png_name(i, n)).is_file() for i in range(start, stop))
    if (out / NPZ_NAME).is_file() and json.loads((out / MANIFEST).read_text()).get("complete"):
        return True
    path = _chunk_path(out, start)
    return path.is_file() and np.load(path, mmap_mode="r").shape[0] == stop - start


def _assemble_npz(out: Path, n: int, chunk: int, labels: list[int] | None) -> None:
    """Stream the chunks into ``samples.npz`` (uncompressed, as ``np.savez``), never holding all images in memory."""
    parts = [_chunk_path(out, s) for s in range(0, n, chunk)]
    if not all(p.is_file() for p in parts):  # already assembled by an earlier run
        return
    first = np.load(parts[0], mmap_mode="r")
    header = {"descr": np.lib.format.dtype_to_descr(first.dtype), "fortran_order": False,
              "shape": (n, *first.shape[1:])}
    with atomic_path(out / NPZ_NAME) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open(IMAGES_KEY + ".npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, header)
            for p in parts:
                f.write(np.ascontiguousarray(np.load(p)).tobytes())
        if labels is not None:
            with archive.open(LABELS_KEY + ".npy", "w") as f:
                np.lib.format.write_array(f, np.asarray(labels, dtype=np.int64))
    for p in parts:
        p.unlink()
    (out / "chunks").rmdir()


def _claim(out: Path, job: dict[str, Any], labels: list[int] | None, meta: dict[str, Any]) -> None:
    """Create ``out`` with its manifest, or check that the manifest there describes this same job."""
    manifest_path = out / MANIFEST
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text())
        differ = sorted(k for k in set(job) | set(old.get("job", {})) if old.get("job", {}).get(k) != job.get(k))
        if not differ and old.get("labels") != labels:
            differ = ["classes"]
        if differ:
            raise ValueError(
                f"{out} holds a different sampling job (differs in {', '.join(differ)}): "
                "use another --out or delete the folder"
            )
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not a sahit samples folder: use a new or empty --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(manifest_path, {"format_version": 1, "job": job, "meta": meta, "labels": labels, "complete": False})
