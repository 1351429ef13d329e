"""Training on a CUDA GPU: mixed precision, compile with R1, resume, the device of each process.

Marked ``cuda``: skipped without a GPU (``benchmarks/gpu_check.py`` runs them on a GPU machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sahit.training import Trainer, prepare_run
from sahit.training.checkpoint import latest_checkpoint
from sahit.training.loop import select_device

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
TINY = ["batch_size=16", "progress=false", "device=cuda"]
SMALL_MODEL = {"quickstart": ["model.g_width=16", "model.d_width=16", "model.z_dim=16"], "hit-32": []}


def run(out: Path, *overrides: str, preset: str = "quickstart") -> Trainer:
    cfg, run_dir = prepare_run(preset, out=out, overrides=[*TINY, *SMALL_MODEL[preset], *overrides])
    trainer = Trainer(cfg, run_dir)
    trainer.fit()
    return trainer


def all_finite(trainer: Trainer) -> bool:
    tensors = [*trainer.G.state_dict().values(), *trainer.D.state_dict().values()]
    return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("preset", ["quickstart", "hit-32"])
def test_mixed_precision_steps_are_finite(tmp_path, precision, preset):
    trainer = run(tmp_path / "r", f"precision={precision}", "steps=6", "log_every=1", preset=preset)
    assert trainer.device.type == "cuda"
    assert trainer.amp_dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    records = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 7)) and trainer.skipped_steps <= 2  # fp16's scaler may skip
    assert all(torch.isfinite(torch.tensor([r["loss_d"], r["loss_g"]])).all() for r in records[-3:])
    assert all_finite(trainer)


def test_compiled_g_and_d_with_lazy_r1_train_in_bf16(tmp_path):
    trainer = run(tmp_path / "r", "compile=true", "precision=bf16", "r1_gamma=1", "r1_every=2", "steps=4")
    assert trainer.step == 4 and trainer.skipped_steps == 0 and all_finite(trainer)


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    state = latest_checkpoint(run_dir / "checkpoints")
    return {f"{net}.{k}": v.double() for net in ("G", "D") for k, v in state[net].items() if v.is_floating_point()}


def _difference(a: dict, b: dict) -> float:
    return max(((a[k] - b[k]).norm() / (a[k].norm() + 1e-12)).item() for k in a)


def test_resume_is_as_close_as_cuda_repeats_itself(tmp_path):
    # Bit-identical where CUDA is deterministic; otherwise (atomics in some backward kernels) the tolerance
    # is what two identical uninterrupted runs differ by, plus 1e-6.
    common = ["ckpt_every=2", "sample_every=1000", "ema_start=0"]
    run(tmp_path / "a", "steps=4", *common)
    run(tmp_path / "b", "steps=4", *common)
    run(tmp_path / "c", "steps=2", *common)
    run(tmp_path / "c", "steps=4", *common)  # resumes at step 2
    a, b, c = (_weights(tmp_path / x) for x in "abc")
    assert _difference(a, c) <= 10 * _difference(a, b) + 1e-6


def test_each_process_gets_its_own_gpu():
    count = torch.cuda.device_count()
    assert [select_device("auto", r) for r in range(count + 1)] == [
        *(torch.device("cuda", r) for r in range(count)), torch.device("cuda", 0)]


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_two_gpu_processes_share_evaluation_over_nccl(tmp_path):
    from sahit.data import make_dataset
    from sahit.metrics import fit_domain_extractor, save_domain_extractor

    extractor = fit_domain_extractor(make_dataset("builtin", 16, length=40), num_classes=10, resolution=16, steps=1,
                                     width=8, progress=False)
    path = save_domain_extractor(extractor, tmp_path / "extractor")
    worker = Path(__file__).resolve().parents[1] / "distributed" / "eval_worker.py"
    (tmp_path / "out").mkdir()
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(worker), str(tmp_path / "out"), str(path), "auto"],
                          check=False, capture_output=True, text=True, timeout=300, env={**os.environ})
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [np.load(tmp_path / "out" / f"rank{r}.npz") for r in (0, 1)]
    assert int(ranks[0]["seen"]) > 0 and int(ranks[1]["seen"]) > 0
    assert float(ranks[0]["fid"]) == float(ranks[1]["fid"])
