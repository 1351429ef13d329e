"""What does ``reuse_fake`` cost and buy? FID at equal G steps and at equal wall-clock time, on CIFAR-10.

Every reference implementation (official SAGAN, BigGAN-PyTorch, StudioGAN, HiT) draws a fresh z and y
for the G step. ``reuse_fake=true`` instead back-propagates G's loss through the fakes the last D step
made (one G forward per step saved, but G is then updated on the batch D has just learnt on).

Here: real CIFAR-10 at 32x32 (an ImageFolder, ``--data``), the sagan-cifar10 model at width 32 for G
and D with the paper's recipe (hinge loss, Adam (0, 0.9), lr 1e-4 / 4e-4, 1:1 updates), batch 32,
EMA 0.99 from step 0 (runs are 800 steps, not 100k), a constant learning rate. FID with a
CIFAR-10 domain feature extractor (``sahit features fit``'s, fitted once), FID every steps / eval_points.
Arms:

  fresh   reuse_fake=false: a new z and y for the G step (the references)
  reuse   reuse_fake=true: G's loss on the D step's fakes

Both run --steps G steps. Equal steps: the two final FIDs. Equal time: the step times of the two arms
are measured interleaved in one process (``interleaved_step_times``; the machine is shared, so the
runs' own wall times are noisy), and the slower arm's FID curve is read (linearly interpolated) at the
step it would have reached in the time the faster arm took for --steps.

Run:    python -m experiments.reuse_fake --data /path/to/cifar10/train
        python -m experiments.reuse_fake --data ... --steps 100 --seeds 0 --eval-points 2   (a quick look)
Writes: experiments/results/reuse_fake.json; runs under experiments/runs/.
Lanes:  seeds may run in parallel processes (``--seeds 0 --json /tmp/a.json`` and ``--seeds 1 ...``); a
        last invocation with all seeds finds every run finished and writes the combined JSON.

Budget: 2 arms x 2 seeds x 800 steps, FID of 2000 samples every 200 steps; about 15 minutes per run
with one thread while five other helpers share the 2 cores (about 1.2 s per step).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path

from experiments.common import Arm, add_common_args, run_experiment, write_json_atomic

NAME = "reuse_fake"
CLAIM = ("reuse_fake=true (G's loss on the D step's fakes) saves a G forward per step; the references draw "
         "fresh latents for the G step. Which reaches the better FID at equal steps and at equal time?")
PRESET = "sagan-cifar10"
RESOLUTION = 32
# The recipe of these runs, pinned: later changes of the preset's defaults must not change what this runs.
# The results in experiments/results/reuse_fake.json were measured with sahit 0.1.0's defaults;
# the last five values are those defaults, so that this command reruns the same computation.
RECIPE = ["loss=hinge", "lr_g=0.0001", "lr_d=0.0004", "betas_g=[0, 0.9]", "betas_d=[0, 0.9]", "n_dis=1",
          "ema_kimg=0", "ema_rampup=0", "ema_decay=0.99", "ema_start=0", "channels_last=true",
          "flip=true", "d_sn_in_g_step=true", "ema_spectral_norm=copy", "model.init=orthogonal_blocks",
          "model.bn_momentum=0.1"]


def arms(width: int) -> list[Arm]:
    base = [f"model.g_width={width}", f"model.d_width={width}", *RECIPE]
    return [
        Arm("fresh", PRESET, [*base, "reuse_fake=false"], "fresh z, y for the G step (the references)"),
        Arm("reuse", PRESET, [*base, "reuse_fake=true"], "G step reuses the D step's fakes"),
    ]


def interleaved_step_times(folder: Path, arm_list: list[Arm], data: str, batch_size: int, rounds: int = 4,
                           steps: int = 6) -> dict[str, float]:
    """Median seconds per training step of each arm, measured in turns (cached in folder/step_times.json)."""
    path = folder / "step_times.json"
    key = json.dumps({"arms": [[a.name, a.overrides] for a in arm_list], "data": data, "batch_size": batch_size})
    cached = json.loads(path.read_text()) if path.is_file() else {}
    if cached.get("key") == key:
        return cached["sec_per_step"]
    import torch

    from sahit.training.loop import Trainer
    from sahit.training.run import prepare_run

    trainers = {}
    with tempfile.TemporaryDirectory() as tmp, torch.random.fork_rng(devices=[]):
        for arm in arm_list:
            cfg, run_dir = prepare_run(arm.preset, out=Path(tmp) / arm.name, data=data,
                                       overrides=[*arm.overrides, f"batch_size={batch_size}", "progress=false"])
            trainer = Trainer(cfg, run_dir)
            trainers[arm.name] = (trainer, trainer.batches())
        times: dict[str, list[float]] = {name: [] for name in trainers}
        for r in range(rounds):
            for name, (trainer, batches) in trainers.items():
                for i in range(steps):
                    t0 = time.perf_counter()
                    trainer.train_step(batches)
                    if r > 0 or i >= 2:  # warm-up
                        times[name].append(time.perf_counter() - t0)
    result = {name: statistics.median(t) for name, t in times.items()}
    print("[step times] " + ", ".join(f"{k} {v:.4f} s" for k, v in result.items()), flush=True)
    write_json_atomic(path, {"key": key, "sec_per_step": result, "rounds": rounds, "steps_per_round": steps})
    return result


def fid_at(curve: list[list[float]], step: float) -> float | None:
    """The FID curve linearly interpolated at ``step`` (None outside it)."""
    for (s0, f0), (s1, f1) in itertools.pairwise(curve):
        if s0 <= step <= s1:
            return f0 + (f1 - f0) * (step - s0) / (s1 - s0)
    return None


def equal_time(payload: dict, sec_per_step: dict[str, float], steps: int) -> dict:
    """Per seed: the faster arm's FID at ``steps`` vs the slower arm's at the step it reaches in the same time.

    Both are read from the runs' FID curves (the same evaluation during training), not the final evaluation.
    """
    fast, slow = sorted(sec_per_step, key=sec_per_step.get)
    slow_step = steps * sec_per_step[fast] / sec_per_step[slow]
    runs = {name: {r["seed"]: r for r in payload["arms"][name]["runs"] if r.get("status") == "ok"}
            for name in (fast, slow)}
    rows = []
    for seed in sorted(set(runs[fast]) & set(runs[slow])):
        rows.append({"seed": seed, f"{fast}_fid": fid_at(runs[fast][seed]["fid_curve"], steps),
                     f"{slow}_fid": fid_at(runs[slow][seed]["fid_curve"], slow_step)})
    out = {"faster_arm": fast, "time_ratio": sec_per_step[slow] / sec_per_step[fast],
           "seconds": steps * sec_per_step[fast], f"{fast}_steps": steps, f"{slow}_steps": round(slow_step),
           "per_seed": rows}
    for name in (fast, slow):
        values = [r[f"{name}_fid"] for r in rows if r[f"{name}_fid"] is not None]
        if values:
            out[f"{name}_fid_mean"] = statistics.fmean(values)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser, NAME, steps=800, seeds=[0, 1], eval_points=4)
    parser.add_argument("--data", required=True, help="CIFAR-10 training images (an ImageFolder) or a torchvision name")
    parser.add_argument("--width", type=int, default=32, help="G and D width (default 32; the preset has 256 / 128)")
    args = parser.parse_args(argv)
    arm_list = arms(args.width)
    root = Path(args.out).resolve()
    times = interleaved_step_times(root / NAME, arm_list, args.data, args.batch_size)
    budget = {"width": args.width, "resolution": RESOLUTION, "preset": PRESET, "step_times": times}
    payload = run_experiment(NAME, CLAIM, arm_list, args, budget=budget, data=args.data, resolution=RESOLUTION)
    payload["equal_steps"] = {name: payload["arms"][name].get("fid") for name in payload["arms"]}
    payload["equal_time"] = equal_time(payload, times, args.steps)
    write_json_atomic(Path(args.json), payload)
    print(json.dumps(payload["equal_time"], indent=2))
    return payload


if __name__ == "__main__":
    main()
