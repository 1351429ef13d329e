"""A cached index of an image folder, so that a restart does not re-read every file's header.

The index records, for every image file, its size and modification time, and the reason each
bad file failed the header check. On the next start the folder is listed
again (names, sizes and times: one ``stat`` per file, no image is opened) and only files that
are new or whose size or time changed are checked again; files that disappeared drop out. A
stale index is therefore never trusted: it is a cache of per-file answers, each valid only for
the exact file it was computed from, and any re-check is logged.

The index lives in the folder (``.sahit-index.json``, which the folder listing ignores) when the
folder is writable, else under ``$SAHIT_CACHE_DIR`` (default ``~/.cache/sahit/index``), named by
a hash of the folder's absolute path. It is plain JSON, read with ``json.loads`` only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import PIL
from PIL import Image

from ..progress import progress as progress_bar
from ..runs import write_text_atomic

log = logging.getLogger(__name__)

INDEX_NAME = ".sahit-index.json"
FORMAT = 1
CACHE_DIR = Path(os.environ.get("SAHIT_CACHE_DIR", Path.home() / ".cache" / "sahit")) / "index"
PROGRESS_FROM = 2000  # show a progress bar when at least this many headers must be read


class Listing(NamedTuple):
    """Files of a folder as parallel lists: paths relative to the folder (``/``-separated), sizes in
    bytes, modification times in ns. (Parallel lists, not one object per file: a restart on a
    million files should not build a million objects.)"""

    rels: list[str]
    sizes: list[int]
    mtimes_ns: list[int]


def _checker_version() -> dict[str, object]:
    """What the answers depend on besides the file: a change invalidates the whole index."""
    return {"format": FORMAT, "pillow": PIL.__version__, "max_pixels": Image.MAX_IMAGE_PIXELS}


def index_locations(root: Path) -> list[Path]:
    """Where the index of ``root`` may live, in order of preference: in the folder, then the cache."""
    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:24]
    return [root / INDEX_NAME, CACHE_DIR / f"{key}.json"]


def _read(path: Path) -> dict[str, Any] | None:
    """The index at ``path``, or None if it is missing, unreadable or of another version."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable folder index %s (%s); re-indexing", path, exc)
        return None
    fields = ("files", "sizes", "mtimes_ns")
    if (not isinstance(data, dict) or data.get("checker") != _checker_version() or not isinstance(data.get("bad"), dict)
            or not all(isinstance(data.get(k), list) and len(data[k]) == len(data["files"]) for k in fields)):
        log.info("folder index %s was written by another version; re-indexing", path)
        return None
    return data


def _write(paths: Sequence[Path], data: dict[str, Any]) -> Path | None:
    """Write the index atomically to the first writable location; None if none is."""
    text = json.dumps({"checker": _checker_version(), **data}, separators=(",", ":"))
    for path in paths:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return write_text_atomic(path, text)
        except OSError:
            continue
    log.warning("could not write a folder index to %s; the next start will read every header again",
                " or ".join(str(p) for p in paths))
    return None


def checked_files(root: Path, files: Listing, check: Callable[[Path], str | None],
                  use_cache: bool = True) -> list[str | None]:
    """The header-check answer for each of ``files`` (None = good image, else the reason it is not).

    Answers cached for a file of the same size and modification time are reused; the others are
    computed with ``check(root / rel)`` and the index is rewritten when anything changed.
    """
    locations = index_locations(root)
    rels, sizes, mtimes = files
    cached = next((d for d in map(_read, locations) if d is not None), None) if use_cache else None
    if cached is not None and cached["files"] == rels and cached["sizes"] == sizes and cached["mtimes_ns"] == mtimes:
        bad = cached["bad"]  # the folder is exactly as indexed
        return [bad.get(rel) for rel in rels]
    answers: list[str | None] = [None] * len(rels)
    todo = list(range(len(rels)))
    if cached is not None:  # reuse the answers for files that did not change
        position = {rel: i for i, rel in enumerate(cached["files"])}
        old_sizes, old_mtimes, old_bad = cached["sizes"], cached["mtimes_ns"], cached["bad"]
        todo = []
        for i, rel in enumerate(rels):
            j = position.get(rel)
            if j is not None and old_sizes[j] == sizes[i] and old_mtimes[j] == mtimes[i]:
                answers[i] = old_bad.get(rel)
            else:
                todo.append(i)
        log.info("%d of %d file(s) in %s are new or changed since its index was written; checking them",
                 len(todo), len(rels), root)
    for i in progress_bar(todo, desc=f"indexing {root.name}", unit="file", disable=len(todo) < PROGRESS_FROM):
        answers[i] = check(root / rels[i])
    if use_cache:
        bad = {rel: a for rel, a in zip(rels, answers) if a is not None}
        _write(locations, {"files": rels, "sizes": sizes, "mtimes_ns": mtimes, "bad": bad})
    return answers
