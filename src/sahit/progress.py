"""Progress bars for long jobs that read well both in a terminal and in a log file.

In a terminal, :func:`progress` is a tqdm bar. When its stream is not a terminal (a job's output
redirected to a file, a cluster's log, CI), carriage-return redraws would pile up into one huge
line, so it prints a plain line every ``interval`` seconds instead (and one at the start and end)::

    train: 1200/5000 (24%) elapsed 01:30, eta 04:45, 13.3 it/s, loss_d=1.204, loss_g=0.871

The interval defaults to 30 s; ``SAHIT_PROGRESS_SECONDS`` changes it for every job.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from tqdm.auto import tqdm

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11

DEFAULT_INTERVAL = 30.0
INTERVAL_ENV = "SAHIT_PROGRESS_SECONDS"


def default_interval() -> float:
    """Seconds between plain progress lines: ``$SAHIT_PROGRESS_SECONDS``, else 30."""
    raw = os.environ.get(INTERVAL_ENV, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_INTERVAL
    except ValueError:
        raise ValueError(f"{INTERVAL_ENV}={raw!r} is not a number of seconds") from None
    if not value >= 0:
        raise ValueError(f"{INTERVAL_ENV}={raw!r} must be >= 0 seconds")
    return value


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "", initial: int = 0,
             unit: str = "it", disable: bool = False, leave: bool = True, file: TextIO | None = None,
             interval: float | None = None) -> Any:
    """A progress bar over ``iterable`` (or updated by hand): tqdm in a terminal, :class:`LineProgress` elsewhere.

    Both offer iteration, ``update(n)``, ``set_postfix(**values)``, ``close()``, the ``n`` counter and
    ``with``. ``file`` defaults to stderr; ``interval`` to :func:`default_interval`.
    """
    stream = file if file is not None else sys.stderr
    if disable or _is_terminal(stream):
        return tqdm(iterable, total=total, desc=desc, initial=initial, unit=unit, disable=disable, leave=leave,
                    file=file, dynamic_ncols=True)
    return LineProgress(iterable, total=total, desc=desc, initial=initial, unit=unit, file=stream,
                        interval=default_interval() if interval is None else interval)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class LineProgress:
    """Counts steps and prints one plain line (no ``\\r``) at the start, every ``interval`` seconds and at the end."""

    def __init__(self, iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
                 initial: int = 0, unit: str = "it", file: TextIO | None = None, interval: float = DEFAULT_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n = initial
        self.file = file if file is not None else sys.stderr
        self.interval, self.clock = interval, clock
        self.postfix: dict[str, Any] = {}
        self.start = self.last_time = clock()
        self.start_n = self.last_n = initial
        self.closed = False
        self._print(self.start)

    def __iter__(self) -> Iterator:
        if self.iterable is None:
            raise TypeError("this progress bar was made without an iterable")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        self._maybe_print()

    def set_postfix(self, **values: Any) -> None:
        """Values shown at the end of the next line (``loss_d=1.204``); does not print by itself."""
        self.postfix = values

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.n != self.last_n:
                self._print(self.clock())

    def _maybe_print(self) -> None:
        now = self.clock()
        if now - self.last_time >= self.interval:
            self._print(now)

    def _print(self, now: float) -> None:
        self.last_time, self.last_n = now, self.n
        self.file.write(self.format(now) + "\n")
        self.file.flush()

    def format(self, now: float) -> str:
        """``desc: n/total (pct%) elapsed MM:SS, eta MM:SS, R it/s, key=value, ...``"""
        elapsed = now - self.start
        done = self.n - self.start_n
        rate = done / elapsed if elapsed > 0 and done > 0 else None
        parts = [f"{self.n}/{self.total} ({100 * self.n / self.total:.0f}%)" if self.total else f"{self.n}",
                 f"elapsed {tqdm.format_interval(elapsed)}"]
        if rate and self.total and self.n < self.total:
            parts.append(f"eta {tqdm.format_interval(max(self.total - self.n, 0) / rate)}")
        if rate:
            parts.append(f"{rate:.3g} {self.unit}/s")
        parts += [f"{k}={v}" for k, v in self.postfix.items()]
        return (f"{self.desc}: " if self.desc else "") + ", ".join(parts)
