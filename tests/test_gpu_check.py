"""benchmarks/gpu_check.py: says so and exits 0 without CUDA; its measuring code runs (on the CPU, tiny)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def run(*args: str, cuda_visible: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if cuda_visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = cuda_visible
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, env=env)


def test_without_cuda_it_says_so_and_exits_0(tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = run("--out", str(out), cuda_visible="")  # no GPU visible, whatever the machine has
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no CUDA GPU" in proc.stdout
    assert not out.exists()


@pytest.mark.slow
def test_trainings_and_throughput_table_on_cpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = run("--device", "cpu", "--models", "sagan-cifar10", "--steps", "2", "--batch", "4", "--variants", "fp32",
               "--precision", "fp32", "--no-compile", "--skip-tests", "--repeats", "1", "--out", str(out),
               "--set", "model.g_width=8", "model.d_width=8", "model.z_dim=8")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    (training,) = result["training"]
    assert training["ok"] and training["steps"] == 2 and training["batch"] == 4
    (row,) = result["throughput"]
    assert row["variant"] == "fp32" and row["d_img_s"] > 0 and row["g_img_s"] > 0 and "error" not in row
