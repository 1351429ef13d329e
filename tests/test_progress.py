"""Progress for people and machines: tqdm in a terminal, a plain line every N seconds in a log."""

from __future__ import annotations

import io

import pytest
from tqdm.auto import tqdm

from sahit.progress import LineProgress, default_interval, progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_are_periodic_and_have_no_carriage_returns():
    out, clock = io.StringIO(), FakeClock()
    bar = LineProgress(total=23, desc="train", file=out, interval=5.0, clock=clock)
    for _ in range(23):
        clock.now += 1.0  # one step a second: a line every 5 steps
        bar.set_postfix(loss=f"{(bar.n + 1) / 10:.1f}")
        bar.update(1)
    bar.close()
    bar.close()  # a second close prints nothing more
    text = out.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert [int(line.split(": ")[1].split("/")[0]) for line in lines] == [0, 5, 10, 15, 20, 23]
    assert lines[0].startswith("train: 0/23 (0%)")
    assert lines[2] == "train: 10/23 (43%), elapsed 00:10, eta 00:13, 1 it/s, loss=1.0"
    assert lines[-1].startswith("train: 23/23 (100%), elapsed 00:23") and lines[-1].endswith("loss=2.3")


def test_iterating_and_resuming_from_a_count():
    out, clock = io.StringIO(), FakeClock()
    bar = LineProgress(range(4), desc="eval", initial=0, file=out, interval=60.0, clock=clock)
    assert list(bar) == [0, 1, 2, 3]
    assert out.getvalue().splitlines()[-1].startswith("eval: 4/4 (100%)")  # the end is always printed
    resumed = LineProgress(total=10, initial=7, file=io.StringIO(), interval=1.0, clock=clock)
    assert resumed.n == 7


def test_progress_picks_tqdm_only_for_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(progress(total=3, file=Terminal()), tqdm)
    plain = progress(total=3, file=io.StringIO(), interval=7.0)
    assert isinstance(plain, LineProgress) and plain.interval == 7.0
    monkeypatch.setenv("SAHIT_PROGRESS_SECONDS", "2.5")
    assert default_interval() == 2.5 and progress(total=3, file=io.StringIO()).interval == 2.5
    monkeypatch.setenv("SAHIT_PROGRESS_SECONDS", "soon")
    with pytest.raises(ValueError, match="SAHIT_PROGRESS_SECONDS"):
        default_interval()


def test_long_jobs_other_than_training_print_plain_lines_off_a_terminal(tmp_path, capsys):
    """features fit, its accuracy pass and feature extraction go through sahit.progress (no carriage returns)."""
    from sahit.cli import main

    assert main(["features", "fit", "--data", "builtin", "--out", str(tmp_path / "ext"), "--steps", "3",
                 "--resolution", "16"]) == 0
    err = capsys.readouterr().err
    assert "fit domain extractor" in err and "\r" not in err
