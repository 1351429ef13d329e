"""The GPU check: CUDA-only tests, short bf16 + compile trainings, and a throughput table.

On a CUDA machine, in one run:
  1. ``pytest -m cuda`` (tests that skip without a GPU: mixed precision, fused attention kernels,
     compile with R1, resume, device per process);
  2. a 200-step training of ``sagan-cifar10`` and of ``hit-128`` (HiT's recipe: logistic loss, lazy R1)
     at a small batch in bf16 with ``torch.compile``, on the built-in data: finite losses and weights,
     seconds, peak memory;
  3. a throughput table: images/s of a D step (real + fake through D, backward, Adam) and of a G step
     (G and D forward, backward into G, Adam), and peak memory, for fp32, bf16 and bf16 + compile.
Writes benchmarks/results/gpu_check.json. On a machine without CUDA it says so and exits 0.

Run:  python -m benchmarks.gpu_check                       (about 10 minutes on one H100-class GPU)
      python -m benchmarks.gpu_check --skip-tests --steps 50
      python -m benchmarks.gpu_check --device cpu --models sagan-cifar10 --steps 2 --batch 4 \\
          --variants fp32 --no-compile --skip-tests --set model.g_width=16 model.d_width=16   (plumbing only)
Exit status: 0 when every test passed and every training stayed finite, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS, machine, median_time, print_table

REPO = Path(__file__).resolve().parents[1]
# Per model: the preset it trains from, its small batch, and recipe overrides.
MODELS: dict[str, dict[str, Any]] = {
    "sagan-cifar10": {"preset": "sagan-cifar10", "batch": 32, "overrides": []},
    "hit-128": {"preset": "hit-128", "batch": 8, "overrides": [  # HiT's recipe with lazy R1 for a short check
        "loss=logistic", "r1_gamma=1", "r1_every=16", "betas_g=[0,0.99]", "betas_d=[0,0.99]", "lr_g=1e-4",
        "lr_d=1e-4", "ema_decay=0.999"]},
}
VARIANTS: dict[str, dict[str, Any]] = {
    "fp32": {"precision": "fp32", "compile": False},
    "bf16": {"precision": "bf16", "compile": False},
    "bf16+compile": {"precision": "bf16", "compile": True},
}


def run_cuda_tests() -> dict[str, Any]:
    """``pytest -m cuda`` in a subprocess: its exit status and last summary line."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", "tests"],
                          check=False, cwd=REPO, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    summary = lines[-1] if lines else proc.stderr.strip()[-300:]
    print(proc.stdout[-4000:])
    return {"returncode": proc.returncode, "summary": summary, "seconds": round(time.perf_counter() - t0, 1)}


def overrides_for(model: str, args: argparse.Namespace, **settings: Any) -> list[str]:
    spec = MODELS[model]
    values = {"batch_size": args.batch or spec["batch"], "device": args.device, "data": "builtin",
              "progress": "false", **settings}
    return [*spec["overrides"], *(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in values.items()),
            *args.set]


def reset_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_mib() -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None


def train_run(model: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """``args.steps`` steps of ``model`` in bf16 (with compile unless --no-compile) through the trainer."""
    overrides = overrides_for(model, args, steps=args.steps, precision=args.precision, compile=args.compile,
                              log_every=max(1, args.steps // 4), ckpt_every=args.steps, sample_every=args.steps)
    from sahit.runs import read_log
    from sahit.training import Trainer, prepare_run

    cfg, run_dir = prepare_run(MODELS[model]["preset"], out=tmp / f"train-{model}", overrides=overrides)
    reset_peak()
    t0 = time.perf_counter()
    try:
        trainer = Trainer(cfg, run_dir)
        trainer.fit()
    except Exception as exc:  # noqa: BLE001 - recorded in the table, so the other checks still run
        return {"model": model, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    seconds = time.perf_counter() - t0
    weights = [*trainer.G.state_dict().values(), *trainer.D.state_dict().values()]
    finite = all(bool(torch.isfinite(t).all()) for t in weights if t.is_floating_point())
    record = read_log(run_dir)[-1]
    finite = finite and math.isfinite(record["loss_d"]) and math.isfinite(record["loss_g"])
    return {"model": model, "ok": finite, "steps": trainer.step, "batch": cfg.batch_size,
            "precision": cfg.precision, "compile": cfg.compile, "seconds": round(seconds, 1),
            "loss_d": record["loss_d"], "loss_g": record["loss_g"], "skipped_steps": trainer.skipped_steps,
            "peak_mib": peak_mib()}


def step_functions(trainer: Any) -> tuple[Any, Any]:
    """One D step and one G step of ``trainer``, as functions, on a fixed real batch."""
    real, y_real = next(trainer.batches())

    def d_step() -> None:
        z, y_fake = trainer.latents()
        with torch.no_grad(), trainer.autocast():
            fake = trainer.G_run(z, y_fake)
        loss, _ = trainer.objective.d_loss(real, y_real, fake, y_fake, with_r1=False)
        trainer._update(loss, trainer.D, trainer.opt_d, trainer.scaler_d)

    def g_step() -> None:
        z, y_fake = trainer.latents()
        trainer.D.requires_grad_(False)
        with trainer.autocast():
            loss = trainer.objective.g_loss(trainer.G_run(z, y_fake), y_fake)
        trainer._update(loss, trainer.G, trainer.opt_g, trainer.scaler_g)
        trainer.D.requires_grad_(True)

    return d_step, g_step


def throughput(model: str, variant: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Images/s of D steps and G steps (median of ``args.repeats``), and the peak memory of both."""
    overrides = overrides_for(model, args, steps=1, **VARIANTS[variant])
    from sahit.training import Trainer, prepare_run

    cfg, run_dir = prepare_run(MODELS[model]["preset"], out=tmp / f"speed-{model}-{variant}", overrides=overrides)
    row: dict[str, Any] = {"model": model, "variant": variant, "batch": cfg.batch_size}
    try:
        trainer = Trainer(cfg, run_dir)
        d_step, g_step = step_functions(trainer)
        reset_peak()
        warmup = 3 if cfg.compile else 1  # compilation happens in the warm-up, outside the timing
        row["d_img_s"] = cfg.batch_size / median_time(d_step, repeats=args.repeats, warmup=warmup)
        row["g_img_s"] = cfg.batch_size / median_time(g_step, repeats=args.repeats, warmup=warmup)
        row["peak_mib"] = peak_mib()
    except Exception as exc:  # noqa: BLE001 - e.g. a compile failure: recorded, not raised
        row["error"] = f"{type(exc).__name__}: {exc}"[:300]
    return row


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--steps", type=int, default=200, help="training steps per model")
    p.add_argument("--batch", type=int, default=0, help="batch for every model (default: each model's own)")
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "fp16"], help="of the trainings")
    p.add_argument("--no-compile", dest="compile", action="store_false", help="train without torch.compile")
    p.add_argument("--repeats", type=int, default=10, help="timed steps per throughput row")
    p.add_argument("--skip-tests", action="store_true", help="do not run pytest -m cuda")
    p.add_argument("--device", default="cuda", help="cuda (the check); cpu only tries the script's plumbing")
    p.add_argument("--set", nargs="*", default=[], metavar="key=value", help="extra overrides for every run")
    p.add_argument("--out", default=str(RESULTS / "gpu_check.json"), help="JSON file to write")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU on this machine (torch.cuda.is_available() is False): nothing to check.")
        return 0
    payload: dict[str, Any] = {"device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
                               "settings": {k: v for k, v in vars(args).items() if k != "out"}}
    if not args.skip_tests:
        payload["tests"] = run_cuda_tests()
        print(f"cuda tests: {payload['tests']['summary']}")
    with tempfile.TemporaryDirectory() as tmp:
        payload["training"] = [train_run(m, args, Path(tmp)) for m in args.models]
        print(f"\n{args.steps}-step trainings ({args.precision}{', compile' if args.compile else ''}):")
        print_table(payload["training"], ["model", "ok", "steps", "batch", "seconds", "loss_d", "loss_g",
                                          "skipped_steps", "peak_mib", "error"])
        payload["throughput"] = [throughput(m, v, args, Path(tmp)) for m in args.models for v in args.variants]
        print("\nthroughput (images/s; a D step sees real and fake images, a G step G's):")
        print_table(payload["throughput"], ["model", "variant", "batch", "d_img_s", "g_img_s", "peak_mib", "error"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), **payload}, indent=2))
    print(f"\nwrote {out}")
    tests_ok = args.skip_tests or payload["tests"]["returncode"] == 0
    return 0 if tests_ok and all(r["ok"] for r in payload["training"]) else 1


if __name__ == "__main__":
    sys.exit(main())
