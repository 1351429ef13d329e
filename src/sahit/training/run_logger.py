"""What a training session reports: JSON lines in ``log.jsonl``, TensorBoard scalars and images, a progress bar.

Only the main process writes; on the others every method is a no-op (the bar is disabled).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..progress import progress
from ..runs import LOG, TENSORBOARD, trim_partial_line


class RunLogger:
    """The log file, the TensorBoard writer and the bar of one session, started at ``initial`` of ``total`` steps."""

    def __init__(self, run_dir: Path, main: bool, show_progress: bool, total: int, initial: int) -> None:
        self.main = main
        self.writer = None
        if main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / TENSORBOARD))
        self.file = open(trim_partial_line(run_dir / LOG), "a") if main else None  # noqa: SIM115 (closed in end_steps)
        self.bar = progress(total=total, initial=initial, disable=not (main and show_progress), unit="it", desc="train")
        self.t0 = self.t_log = time.perf_counter()
        self.step_log = initial

    def seconds(self) -> float:
        """Seconds since this session started."""
        return time.perf_counter() - self.t0

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` to log.jsonl, flushed (so a kill loses at most the line being written)."""
        if self.file is not None:
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()

    def log_step(self, step: int, stats: dict[str, Any], extra: dict[str, Any], batch_size: int,
                 attention: Callable[[], dict[str, float]] | None = None) -> dict[str, Any]:
        """Log the training ``stats`` of ``step`` with ``extra`` (lr, skipped steps) and the speed since the last.

        ``attention`` (main process only) returns the ``attention/...`` values of the step (training/attention_log.py),
        added to the record; the time it takes is left out of the throughput.
        """
        now = time.perf_counter()
        rate = (step - self.step_log) / max(now - self.t_log, 1e-9)
        self.t_log, self.step_log = now, step
        record = {"step": step, "time": round(now - self.t0, 3), **{k: float(v) for k, v in stats.items()},
                  "lr_g": extra["lr_g"], "lr_d": extra["lr_d"], "it_per_s": rate, "img_per_s": rate * batch_size,
                  "skipped_steps": extra["skipped_steps"]}
        if self.main and attention is not None:
            weights = attention()
            self.t_log = time.perf_counter()
        else:
            weights = {}
        self.write({**record, **weights})
        if self.writer is not None:
            for k, v in record.items():
                if k != "step":
                    self.writer.add_scalar(f"train/{k}", v, step)
            for k, v in weights.items():  # attention/NET/LAYER/WHAT: one TensorBoard chart per layer and value
                self.writer.add_scalar(k, v, step)
        self.bar.set_postfix(loss_d=f"{record['loss_d']:.3f}", loss_g=f"{record['loss_g']:.3f}")
        return record

    def log_eval(self, record: dict[str, Any]) -> None:
        """Log an evaluation record (``{"step", "fid", ...}``)."""
        self.write(record)
        if self.writer is not None:
            self.writer.add_scalar("eval/fid", record["fid"], record["step"])

    def log_grid(self, images: torch.Tensor, nrow: int, step: int) -> None:
        """Show a sample grid (images in [-1, 1]) in TensorBoard."""
        if self.writer is not None:
            import torchvision

            grid = torchvision.utils.make_grid(images.float().cpu() * 0.5 + 0.5, nrow=nrow)
            self.writer.add_image("samples", grid.clamp(0, 1), step)

    def end_steps(self) -> None:
        """Close the bar and the log file (the session's steps are over)."""
        self.bar.close()
        if self.file is not None:
            self.file.close()
            self.file = None

    def close(self) -> None:
        """Close everything (TensorBoard last: the final grid goes there)."""
        self.end_steps()
        if self.writer is not None:
            self.writer.close()
