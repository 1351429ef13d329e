"""Stopping on SIGINT / SIGTERM after the current step, every process of a group together."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import torch

from .distributed import DistContext


class StopSignals:
    """Catches SIGINT and SIGTERM while :meth:`caught` is active: the loop asks :meth:`requested` after each step
    (a second signal gives up waiting: KeyboardInterrupt)."""

    def __init__(self, dist: DistContext, device: torch.device) -> None:
        self.dist, self.device = dist, device
        self.signum: int | None = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:  # second signal: give up waiting for the step to end
            raise KeyboardInterrupt
        self.signum = signum

    def requested(self) -> bool:
        """A signal reached this process or another of the group: all stop after the same step (saving is
        collective, so a process that stopped alone would leave the others waiting in a mismatched collective)."""
        if not self.dist.enabled:
            return self.signum is not None
        return not self.dist.all_true(torch.tensor(self.signum is None, device=self.device))

    @contextlib.contextmanager
    def caught(self) -> Iterator[None]:
        """SIGINT and SIGTERM only ask the loop to stop (see :meth:`requested`)."""
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
