"""experiments/reuse_fake.py's arithmetic: FID curves read at a step, equal-time comparison."""

from __future__ import annotations

import importlib

import pytest


@pytest.fixture(scope="module")
def reuse_fake():
    """The script as a module (the repository root is on sys.path: pytest's ``pythonpath``)."""
    return importlib.import_module("experiments.reuse_fake")


def test_fid_at_interpolates_linearly(reuse_fake):
    curve = [[200, 40.0], [400, 30.0], [600, 20.0]]
    assert reuse_fake.fid_at(curve, 300) == pytest.approx(35.0)
    assert reuse_fake.fid_at(curve, 600) == pytest.approx(20.0)
    assert reuse_fake.fid_at(curve, 100) is None


def test_equal_time_reads_the_slower_arm_where_the_faster_one_finished(reuse_fake):
    runs = {"fresh": [{"seed": 0, "status": "ok", "fid": 21.0, "fid_curve": [[200, 40.0], [400, 30.0], [800, 20.0]]}],
            "reuse": [{"seed": 0, "status": "ok", "fid": 26.0, "fid_curve": [[200, 42.0], [800, 25.0]]}]}
    payload = {"arms": {name: {"runs": r} for name, r in runs.items()}}
    out = reuse_fake.equal_time(payload, {"fresh": 1.0, "reuse": 0.75}, steps=800)
    assert out["faster_arm"] == "reuse" and out["fresh_steps"] == 600  # 800 steps x 0.75 s at 1 s per step
    assert out["per_seed"] == [{"seed": 0, "reuse_fid": 25.0, "fresh_fid": pytest.approx(25.0)}]
    assert out["seconds"] == pytest.approx(600.0)
