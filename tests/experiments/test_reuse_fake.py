"""experiments/reuse_fake.py's arithmetic: FID curves read at a step, equal-time comparison."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "reuse_fake.py"


@pytest.fixture(scope="module")
def reuse_fake():
    """Import the script (and its ``common``) without leaving ``common`` in sys.modules."""
    saved = sys.modules.pop("common", None)
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec = importlib.util.spec_from_file_location("experiments_reuse_fake", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(SCRIPT.parent))
        sys.modules.pop("common", None)
        if saved is not None:
            sys.modules["common"] = saved


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
