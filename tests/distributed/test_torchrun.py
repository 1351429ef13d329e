"""Two CPU processes under torchrun (gloo) train the same model as one process would."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sahit.data import make_dataset
from sahit.metrics import compute_reference_stats, evaluate_generator, fit_domain_extractor, save_domain_extractor
from sahit.models import build
from sahit.training import Trainer, prepare_run

WORKER = Path(__file__).with_name("worker.py")
EVAL_WORKER = Path(__file__).with_name("eval_worker.py")
TINY_MODEL = {"g_width": 16, "d_width": 16, "z_dim": 16}
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(out: Path, *args: str, clean: bool = True, expect_ok: bool = True, attempts: int = 3,
             worker: Path = WORKER) -> None:
    """Launch ``worker`` on 2 processes; relaunch only when gloo fails to connect its sockets."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for _ in range(attempts):
        if clean:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
               "--master-port", str(free_port()), str(worker), str(out), *args]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300, env=env)
        if "connectFullMesh" in proc.stderr and not (out / "rank1-was-killed").exists():
            continue  # a socket race between ranks while they connect, not a failure of ours
        if (proc.returncode == 0) == expect_ok:
            return
        break
    raise AssertionError(proc.stderr[-3000:])


def single_process(out: Path, steps: int) -> dict:
    overrides = ["model.g_width=16", "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false",
                 f"steps={steps}", "ckpt_every=2", "sample_every=1000", "ema_start=0", "lr_g=0.0001"]
    cfg, run_dir = prepare_run("quickstart", out=out, overrides=overrides)
    trainer = Trainer(cfg, run_dir)
    trainer.fit()
    return {"G": trainer.G.state_dict(), "D": trainer.D.state_dict()}


def load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def relative_difference(a: dict, b: dict) -> float:
    """Largest relative difference between two training results, judged by what the networks compute.

    D: all weights, as one vector (relative L2). G: its train-mode output on fixed noise. G's
    conv biases that feed a batch norm are cancelled by it, so their gradients are pure round-off
    that Adam magnifies into arbitrary values; the function G computes does not depend on them.
    """
    d_num = sum((a["D"][k] - b["D"][k]).double().pow(2).sum() for k in a["D"] if a["D"][k].is_floating_point())
    d_den = sum(a["D"][k].double().pow(2).sum() for k in a["D"] if a["D"][k].is_floating_point())
    G1, _ = build("quickstart", **TINY_MODEL)
    G2, _ = build("quickstart", **TINY_MODEL)
    G1.load_state_dict(a["G"])
    G2.load_state_dict(b["G"])
    z = torch.randn(16, TINY_MODEL["z_dim"], generator=torch.Generator().manual_seed(0))
    y = torch.arange(16) % 10
    with torch.no_grad():
        x1, x2 = G1(z, y), G2(z, y)
    return max((d_num / d_den).sqrt().item(), ((x1 - x2).norm() / x1.norm()).item())


def test_two_ranks_stay_identical_and_sync_bn_equals_one_process(tmp_path):
    torchrun(tmp_path / "sync", "3", "true")
    r0, r1 = load(tmp_path / "sync" / "rank0.pt"), load(tmp_path / "sync" / "rank1.pt")
    for net in ("G", "D"):
        for name in r0[net]:
            assert torch.equal(r0[net][name], r1[net][name]), f"{net}.{name} differs between ranks"
    alone = single_process(tmp_path / "alone", 3)
    assert relative_difference(alone, r0) < 1e-5

    torchrun(tmp_path / "local", "3", "false")  # per-rank statistics (BigGAN): ranks still agree on weights
    l0, l1 = load(tmp_path / "local" / "rank0.pt"), load(tmp_path / "local" / "rank1.pt")
    assert all(torch.equal(l0["G"][k], l1["G"][k]) for k in l0["G"] if "running" not in k)
    assert relative_difference(alone, l0) > 1e-4  # shard statistics really differ from global ones


def test_killed_rank_restarts_from_last_checkpoint(tmp_path):
    # Rank 1 dies abruptly at step 3; the job fails; relaunching the same job resumes from step 2.
    torchrun(tmp_path / "elastic", "6", "true", "3", expect_ok=False)
    assert (tmp_path / "elastic" / "rank1-was-killed").exists() and not (tmp_path / "elastic" / "rank0.pt").exists()
    torchrun(tmp_path / "elastic", "6", "true", "3", clean=False)
    r0 = load(tmp_path / "elastic" / "rank0.pt")
    assert r0["resumed"]  # the relaunched group resumed from the step-2 checkpoint
    torchrun(tmp_path / "uninterrupted", "6", "true")
    u0 = load(tmp_path / "uninterrupted" / "rank0.pt")
    for net in ("G", "D"):
        for name in u0[net]:
            assert torch.equal(u0[net][name], r0[net][name]), f"{net}.{name} differs after the restart"


def test_a_signal_to_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    # SIGTERM reaches rank 1 only, during step 2: both ranks stop after it and save one checkpoint together.
    torchrun(tmp_path / "sig", "6", "true", "2", "sigterm", expect_ok=False)
    checkpoints = sorted(p.name for p in (tmp_path / "sig" / "run" / "checkpoints").glob("ckpt-*.pt"))
    assert checkpoints == ["ckpt-00000002.pt", "ckpt-00000003.pt"]
    assert not (tmp_path / "sig" / "rank0.pt").exists()  # rank 0 stopped too, instead of finishing the run


def test_evaluation_is_split_over_ranks_and_equals_one_process(tmp_path, single_thread):
    # Both ranks extract part of the reference set and of the generated images; both get one process's numbers.
    data = make_dataset("builtin", 16, length=40)
    extractor = fit_domain_extractor(data, num_classes=10, resolution=16, steps=1, width=8, progress=False)
    path = save_domain_extractor(extractor, tmp_path / "extractor")
    torchrun(tmp_path / "split", str(path), worker=EVAL_WORKER)
    ranks = [np.load(tmp_path / "split" / f"rank{r}.npz") for r in (0, 1)]

    torch.manual_seed(0)
    G, _ = build("quickstart", g_width=8, d_width=8, z_dim=8)
    alone = compute_reference_stats(data, extractor, batch_size=8, progress=False)
    results = evaluate_generator(G, alone, extractor, metrics=("fid", "is"), n=36, batch_size=8, progress=False,
                                 is_splits=2)
    # 5 batches of 8 reference images (40) and of generated ones (36): ranks 0 and 1 take 3 and 2 of each.
    assert [int(r["seen"]) for r in ranks] == [24 + 20, 16 + 16]
    for r in ranks:
        np.testing.assert_array_equal(r["features"], alone.features)  # in sample order
        np.testing.assert_array_equal(r["labels"], alone.labels)
        np.testing.assert_allclose(r["mu"], alone.mu, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(r["sigma"], alone.sigma, rtol=1e-9, atol=1e-12)
        assert float(r["fid"]) == pytest.approx(results["fid"].value, rel=1e-6)
        assert float(r["inception_score"]) == pytest.approx(results["is"].value, rel=1e-6)

    # In training: both ranks evaluate at step 2 and 4, rank 0 logs each FID once and keeps the best checkpoint.
    torchrun(tmp_path / "train", "4", "true", "0", "kill", str(path))
    records = [json.loads(line) for line in (tmp_path / "train" / "run" / "log.jsonl").read_text().splitlines()]
    fids = [r for r in records if "fid" in r]
    assert [r["step"] for r in fids] == [2, 4] and all(r["eval_n"] == 24 for r in fids)
    assert torch.load(tmp_path / "train" / "run" / "checkpoints" / "best.pt", weights_only=True)["fid"] == min(
        r["fid"] for r in fids)
