"""benchmarks/gpu_check.py: says so and exits 0 without CUDA; its measuring code runs (on the CPU, tiny)."""

from __future__ import annotations

import importlib
import json

import pytest
import torch


@pytest.fixture(scope="module")
def gpu_check():
    return importlib.import_module("benchmarks.gpu_check")


def test_without_cuda_it_says_so_and_exits_0(gpu_check, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "gpu_check.json"
    assert gpu_check.main(["--out", str(out)]) == 0
    assert "no CUDA GPU" in capsys.readouterr().out
    assert not out.exists()


@pytest.mark.slow
def test_trainings_and_throughput_table_on_cpu(gpu_check, tmp_path, single_thread):
    out = tmp_path / "gpu_check.json"
    status = gpu_check.main(["--device", "cpu", "--models", "sagan-cifar10", "--steps", "2", "--batch", "4",
                             "--variants", "fp32", "--precision", "fp32", "--no-compile", "--skip-tests",
                             "--repeats", "1", "--out", str(out),
                             "--set", "model.g_width=8", "model.d_width=8", "model.z_dim=8"])
    result = json.loads(out.read_text())
    assert status == 0, result
    (training,) = result["training"]
    assert training["ok"] and training["steps"] == 2 and training["batch"] == 4
    (row,) = result["throughput"]
    assert row["variant"] == "fp32" and row["d_img_s"] > 0 and row["g_img_s"] > 0 and "error" not in row
