"""Checkpoint keeping: one file per save, the newest K kept, the best by a metric kept apart.

The file format, atomic writing and safe loading belong to the run folder (:mod:`sahit.runs`);
their names are re-exported here for code that imported them from this module.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import torch

from ..runs import (
    BEST_CHECKPOINT,
    CHECKPOINT_FORMAT,
    CHECKPOINT_PATTERN,
    CheckpointError,
    checkpoint_path,
    clean_temporaries,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_torch_atomic,
)

log = logging.getLogger(__name__)
FORMAT = CHECKPOINT_FORMAT
PATTERN = CHECKPOINT_PATTERN
atomic_torch_save = save_torch_atomic

__all__ = ["FORMAT", "PATTERN", "CheckpointError", "CheckpointKeeper", "atomic_torch_save", "checkpoint_path",
           "clean_temporaries", "latest_checkpoint", "list_checkpoints", "load_checkpoint", "save_checkpoint"]


def save_checkpoint(state: dict[str, Any], folder: Path, step: int, keep: int) -> Path:
    """Save ``state`` as the checkpoint of ``step`` and delete all but the newest ``keep``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"could not create the checkpoint folder {folder}: {exc.strerror or exc}") from None
    path = checkpoint_path(folder, step)
    save_torch_atomic({"format": FORMAT, "step": step, **state}, path)
    for _, old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


class CheckpointKeeper:
    """The checkpoints of one run: periodic ones (the newest ``keep``) and ``best.pt``, lowest ``metric`` so far."""

    def __init__(self, folder: Path, keep: int, metric: str = "fid") -> None:
        self.folder, self.keep, self.metric = folder, keep, metric
        self.best = math.inf

    def save(self, state: dict[str, Any], step: int) -> Path | None:
        """Write the checkpoint of ``step``, unless a weight of G, D or G_ema is not finite (then None)."""
        bad = non_finite(state)
        if bad:
            log.warning("non-finite values in %s at step %d: checkpoint not written", ", ".join(bad[:3]), step)
            return None
        return save_checkpoint(state, self.folder, step, self.keep)

    def improves(self, value: float) -> bool:
        """Whether ``value`` beats the best so far; it becomes the best when it does."""
        improved = value < self.best
        self.best = min(self.best, value)
        return improved

    def save_best(self, state: dict[str, Any], step: int, value: float) -> Path:
        """Write ``state`` as ``best.pt`` (call when :meth:`improves` said so)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / BEST_CHECKPOINT
        save_torch_atomic({"format": FORMAT, "step": step, self.metric: value, **state}, path)
        return path

    def newest(self) -> Path | None:
        """The newest periodic checkpoint, if any."""
        found = list_checkpoints(self.folder)
        return found[-1][1] if found else None


def non_finite(state: dict[str, Any]) -> list[str]:
    """Names of the floating tensors of G, D and G_ema (weights and buffers) holding NaN or inf."""
    return [f"{net}.{name}" for net in ("G", "D", "G_ema") for name, t in state[net].items()
            if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def first_mismatches(message: str) -> str:
    """The first few lines of a state-dict load error that name the mismatched layers."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    detail = [ln for ln in lines if "size mismatch" in ln or "Missing key" in ln or "Unexpected key" in ln]
    text = "; ".join(detail[:3]) if detail else (lines[0] if lines else message)
    return text[:600] + (" ..." if len(text) > 600 else "")
