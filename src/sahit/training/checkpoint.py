"""Checkpoints: one file per save, written atomically, the last K kept, loaded safely.

A checkpoint is written to a temporary file in the same folder, flushed and fsync'ed, then
renamed over its final name (atomic on POSIX), and the folder is fsync'ed. A crash at any
moment leaves either the old set of checkpoints or the old set plus a complete new one;
stray ``*.tmp`` files are removed at the next start. Loading uses ``weights_only=True``,
so a checkpoint cannot run code.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)
PATTERN = re.compile(r"^ckpt-(\d{8})\.pt$")
FORMAT = "sahit-checkpoint-1"


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or read; the message says which file and why."""


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"ckpt-{step:08d}.pt"


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of every complete-looking checkpoint, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := PATTERN.match(p.name))]
    return sorted(found)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: Path) -> None:
    """Write ``obj`` to ``path`` so that ``path`` is always either absent, old, or complete."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise CheckpointError(
                f"could not write checkpoint {path}: {exc.strerror or exc}; the earlier checkpoints are untouched "
                "(free some space or fix the folder's permissions, then run the same command to resume)"
            ) from None
        raise
    _fsync_dir(path.parent)


def save_checkpoint(state: dict[str, Any], folder: Path, step: int, keep: int) -> Path:
    """Save ``state`` as the checkpoint of ``step`` and delete all but the newest ``keep``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"could not create the checkpoint folder {folder}: {exc.strerror or exc}") from None
    path = checkpoint_path(folder, step)
    atomic_torch_save({"format": FORMAT, "step": step, **state}, path)
    for _, old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; a corrupt or foreign file raises CheckpointError."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except pickle.UnpicklingError:  # weights_only refused an object (or the pickle is damaged): never retry unsafely
        raise CheckpointError(f"checkpoint {path} cannot be loaded safely: it holds objects other than tensors and "
                              "plain data (loading them could run code) or it is damaged; it was not loaded") from None
    except Exception as exc:  # truncated or corrupt zip container, ...
        first = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} cannot be loaded safely: truncated or corrupt ({first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a sahit checkpoint")
    return state


def clean_temporaries(folder: Path) -> None:
    if folder.is_dir():
        for tmp in folder.glob("*.tmp"):
            tmp.unlink(missing_ok=True)


def latest_checkpoint(folder: Path, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
    """The newest checkpoint that loads; unreadable ones are reported and skipped."""
    clean_temporaries(folder)
    for step, path in reversed(list_checkpoints(folder)):
        try:
            return load_checkpoint(path, map_location)
        except CheckpointError as exc:
            log.warning("%s; trying an older one", exc)
    return None
