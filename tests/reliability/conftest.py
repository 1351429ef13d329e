"""Helpers for the reliability tests: tiny runs and snapshots of run folders."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

TINY = ["model.g_width=16", "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false"]


def _trainer(out: Path, *overrides: str, data: str | None = None):
    from sahit.training import Trainer, prepare_run

    cfg, run_dir = prepare_run("quickstart", out=out, data=data,
                               overrides=[*TINY, "sample_every=100000", *overrides])
    return Trainer(cfg, run_dir)


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """Every reliability test runs its tiny models on one thread (tests/conftest.py)."""


@pytest.fixture
def make_trainer():
    """make_trainer(out, *overrides, data=None) -> Trainer of a tiny quickstart model."""
    return _trainer


@pytest.fixture
def train_run():
    """train_run(out, *overrides, data=None) -> summary of a tiny run trained to its end."""
    return lambda out, *overrides, data=None: _trainer(out, *overrides, data=data).fit()


@pytest.fixture
def snapshot():
    """snapshot(folder) -> {relative path: sha256} of every file under it (to prove nothing changed)."""
    def take(folder: Path) -> dict[str, str]:
        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(Path(folder).rglob("*")) if p.is_file()}
    return take
