"""A cached index of an image folder, so that a restart does not re-read every file's header.

The index records, for every image file, its size and modification time, and the reason each
bad file failed the header check. On the next start the folder is listed
again (names, sizes and times: one ``stat`` per file, no image is opened) and only files that
are new or whose size or time changed are checked again; files that disappeared drop out. A
stale index is therefore never trusted: it is a cache of per-file answers, each valid only for
the exact file it was computed from, and any re-check is logged.

The index lives in the user cache, never in the data folder (data sets are often shared, versioned
or mounted read-only): ``$SAHIT_CACHE/index`` (default ``~/.cache/sahit/index``), named by a hash of
the folder's absolute path. It is written only once the folder has opened as a data set, so a
folder that fails (no images, or bad files under ``strict``) leaves no index behind. An index that
sahit 0.2.0 wrote inside a folder (``.sahit-index.json``) is still read, never written or removed.
It is plain JSON, read with ``json.loads`` only.
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

INDEX_NAME = ".sahit-index.json"  # where sahit 0.2.0 kept the index: inside the folder (now only read)
FORMAT = 1
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


def cache_dir() -> Path:
    """The folder of the indexes: ``$SAHIT_CACHE/index`` (or ``$SAHIT_CACHE_DIR/index``, the name sahit
    0.2.0 read), default ``~/.cache/sahit/index``; read at each call, so the variable may change."""
    base = os.environ.get("SAHIT_CACHE") or os.environ.get("SAHIT_CACHE_DIR") or Path.home() / ".cache" / "sahit"
    return Path(base) / "index"


def index_path(root: Path) -> Path:
    """Where the index of folder ``root`` is written: the cache, keyed by the folder's absolute path."""
    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:24]
    return cache_dir() / f"{key}.json"


def index_locations(root: Path) -> list[Path]:
    """Where an index of ``root`` is looked for, in order: the cache, then the folder itself (0.2.0, read only)."""
    return [index_path(root), root / INDEX_NAME]


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


def save_index(root: Path, files: Listing, answers: Sequence[str | None]) -> Path | None:
    """Write the index of ``root`` (its ``files`` and their ``answers``) atomically to the cache; None if
    the cache cannot be written (then the next start reads every header again)."""
    rels, sizes, mtimes = files
    bad = {rel: a for rel, a in zip(rels, answers) if a is not None}
    text = json.dumps({"checker": _checker_version(), "files": rels, "sizes": sizes, "mtimes_ns": mtimes, "bad": bad},
                      separators=(",", ":"))
    path = index_path(root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_text_atomic(path, text)
    except OSError as exc:
        log.warning("could not write the folder index %s (%s); the next start will read every header again", path, exc)
        return None


def checked_files(root: Path, files: Listing, check: Callable[[Path], str | None],
                  use_cache: bool = True) -> list[str | None]:
    """The header-check answer for each of ``files`` (None = good image, else the reason it is not).

    Answers cached for a file of the same size and modification time are reused; the others are
    computed with ``check(root / rel)`` and the index is rewritten when anything changed. (A data set
    that may still refuse the folder calls :func:`check_files` and :func:`save_index` itself.)
    """
    answers, changed = check_files(root, files, check, use_cache)
    if use_cache and changed:
        save_index(root, files, answers)
    return answers


def check_files(root: Path, files: Listing, check: Callable[[Path], str | None],
                use_cache: bool = True) -> tuple[list[str | None], bool]:
    """(the header-check answer for each of ``files``, whether they differ from the index), writing nothing.

    Answers cached for a file of the same size and modification time are reused; the others are
    computed with ``check(root / rel)``. Pass them to :func:`save_index` when the second value is True.
    """
    rels, sizes, mtimes = files
    cached = next((d for d in map(_read, index_locations(root)) if d is not None), None) if use_cache else None
    if cached is not None and cached["files"] == rels and cached["sizes"] == sizes and cached["mtimes_ns"] == mtimes:
        bad = cached["bad"]  # the folder is exactly as indexed
        return [bad.get(rel) for rel in rels], False
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
    return answers, True
