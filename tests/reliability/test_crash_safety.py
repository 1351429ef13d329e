"""Never lose work: SIGKILL at any moment, SIGINT/SIGTERM, half-written logs, a stop before the export."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sahit.training.checkpoint import list_checkpoints, load_checkpoint

TINY = ["model.g_width=16", "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false"]
ROOT = Path(__file__).resolve().parents[2]


def _kill_loop_module():
    spec = importlib.util.spec_from_file_location("kill_loop", ROOT / "tools" / "kill_loop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_kill_loop_loses_nothing(tmp_path):
    """Real processes: SIGINT/SIGTERM exit cleanly; 5 SIGKILLs (some mid-checkpoint) lose nothing, end bit-identical."""
    check_signals_in_subprocesses(tmp_path)
    result = _kill_loop_module().kill_loop(tmp_path / "kl", kills=5, seed=1, verbose=False)
    assert result["problems"] == []
    assert result["kills_survived"] == 5
    assert result["resumes_verified"] == result["resumes_checked"] >= 5
    assert result["corrupt_checkpoints"] == 0 and result["bytes_lost"] == 0 and result["log_lines_corrupt"] == 0
    assert result["bit_identical"] and result["ok"]


def test_compare_states_finds_any_difference():
    compare = _kill_loop_module().compare_states
    a = {"G": {"w": torch.zeros(3)}, "opt": {"state": {0: {"step": torch.tensor(1.0)}}}, "n": 2}
    b = {"G": {"w": torch.zeros(3)}, "opt": {"state": {0: {"step": torch.tensor(1.0)}}}, "n": 2}
    assert compare(a, b) == []
    b["G"]["w"] = torch.tensor([0.0, 0.0, 1e-30])
    b["n"] = 3
    assert compare(a, b) == ["G.w", "n"]


def _wait_for_first_step(run_dir: Path, procs, timeout: float = 150.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        log = run_dir / "log.jsonl"
        if log.is_file() and log.read_text().count("\n") >= 1:
            return
        assert all(p.poll() is None for p in procs), "training exited early"
        time.sleep(0.05)
    raise AssertionError(f"{run_dir} logged no step in {timeout}s")


def check_signals_in_subprocesses(tmp_path: Path) -> None:
    """`sahit train` in real processes: SIGINT -> exit 130, SIGTERM -> 143, a checkpoint, no traceback."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        out = tmp_path / sig.name
        cmd = [sys.executable, "-m", "sahit", "train", "--out", str(out), "steps=100000", "ckpt_every=100000",
               "log_every=1", "sample_every=100000", *TINY]
        procs[sig] = (out, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    for sig, (out, proc) in procs.items():
        _wait_for_first_step(out, [p for _, p in procs.values()])
        proc.send_signal(sig)
    for sig, (out, proc) in procs.items():
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 128 + sig, stderr
        assert "Traceback" not in stderr
        line = stderr.strip().splitlines()[-1]
        assert line.startswith(f"stopped by {sig.name} at step ")
        assert line.endswith("; checkpoint saved. Run the same command to resume.")
        step = int(line.split(" at step ")[1].split(";")[0])
        assert [s for s, _ in list_checkpoints(out / "checkpoints")] == [step]
        assert load_checkpoint(out / "checkpoints" / f"ckpt-{step:08d}.pt")["step"] == step


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_save_a_checkpoint_and_exit_cleanly(tmp_path, monkeypatch, capsys, sig):
    from sahit.cli import main
    from sahit.training import Trainer

    real_step = Trainer.train_step

    def step_then_signal(self, batches):
        stats = real_step(self, batches)
        if self.step == 1:  # during the second step: the signal arrives mid-step
            os.kill(os.getpid(), sig)
        return stats

    monkeypatch.setattr(Trainer, "train_step", step_then_signal)
    args = ["train", "--out", str(tmp_path / "r"), *TINY, "ckpt_every=1000", "sample_every=1000"]
    assert main([*args, "steps=1000"]) == 128 + sig
    err = capsys.readouterr().err
    assert err == f"stopped by {sig.name} at step 2; checkpoint saved. Run the same command to resume.\n"
    assert [s for s, _ in list_checkpoints(tmp_path / "r" / "checkpoints")] == [2]
    monkeypatch.undo()
    assert main([*args, "steps=3"]) == 0  # the same command (fewer steps, so the test ends) resumes
    assert "done: step 3 (1 this session" in capsys.readouterr().out


def test_half_written_log_and_missing_export_are_repaired_by_the_rerun(tmp_path, train_run):
    """A kill after the last checkpoint but before the export (and in the middle of a log line)."""
    run_dir = tmp_path / "r"
    train_run(run_dir, "steps=2", "log_every=1")
    for name in ("export/generator.safetensors", "export/generator_ema.safetensors", "export/config.json",
                 "summary.json"):
        (run_dir / name).unlink()
    with open(run_dir / "log.jsonl", "a") as f:
        f.write('{"step": 3, "loss_d": 0.12')  # half a record
    summary = train_run(run_dir, "steps=2", "log_every=1")
    assert not summary["finished_before"] and summary["steps_this_session"] == 0
    assert (run_dir / "export" / "generator_ema.safetensors").is_file() and (run_dir / "summary.json").is_file()
    assert train_run(run_dir, "steps=2")["finished_before"]
    train_run(run_dir, "steps=3", "log_every=1")
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]


def test_resume_with_global_rng_users_is_bit_identical(tmp_path, train_run):
    """bCR draws from torch's global RNG: a resumed session must continue the same random stream."""
    common = ["bcr_weight=1.0", "ckpt_every=1", "ema_start=0"]
    train_run(tmp_path / "whole", "steps=2", *common)
    train_run(tmp_path / "split", "steps=1", *common)
    train_run(tmp_path / "split", "steps=2", *common)
    a = load_checkpoint(tmp_path / "whole" / "checkpoints" / "ckpt-00000002.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoints" / "ckpt-00000002.pt")
    assert _kill_loop_module().compare_states(a, b) == []
