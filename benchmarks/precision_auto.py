"""precision=auto's choice and speed next to fp32 and bf16, per model family, on this machine.

Run:  python -m benchmarks.precision_auto [--presets quickstart sagan-cifar10 hit-32] [--repeats 5] [--threads 1]
Builds one trainer per (training preset, precision) and times training steps (n_dis D steps + one
G step, R1 where the preset has it) in rounds that alternate between the precisions, so load on a
shared machine hits all of them alike; reports the median seconds per step. sagan-cifar10 runs at
reduced width (G and D 64 channels, batch 32) to keep the run short. Writes
benchmarks/results/precision_auto.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import machine_details, print_markdown_table, print_table, write_json
from sahit.models import model_config
from sahit.training import Trainer
from sahit.training.config import config_from_dict, load_preset
from sahit.training.precision import cpu_bf16_flags, resolve_precision

SMALLER = {"sagan-cifar10": {"model_args": {"g_width": 64, "d_width": 64}, "batch_size": 32}}
PRECISIONS = ("fp32", "bf16", "auto")


def make_trainer(preset: str, precision: str, run_dir: Path) -> Trainer:
    values = load_preset(preset)
    values.update(SMALLER.get(preset, {}), precision=precision, progress=False, data_length=1024, device="cpu")
    return Trainer(config_from_dict(values), run_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["quickstart", "sagan-cifar10", "hit-32"])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (each: --steps steps per precision)")
    parser.add_argument("--steps", type=int, default=4, help="steps per timing")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            trainers = {p: make_trainer(preset, p, Path(tmp) / f"{preset}-{p}") for p in PRECISIONS}
            batches = {p: t.batches() for p, t in trainers.items()}
            cfg = trainers["fp32"].cfg
            family = model_config(cfg.model.name, **cfg.model.args).to_dict()["family"]

            def run(p: str, n: int, trainers=trainers, batches=batches) -> float:
                t0 = time.perf_counter()
                for _ in range(n):
                    trainers[p].train_step(batches[p])
                    trainers[p].step += 1  # so lazy R1 comes every r1_every steps, as in training
                return (time.perf_counter() - t0) / n

            for p in PRECISIONS:
                run(p, 2)  # warm-up
            times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
            for _ in range(args.repeats):
                for p in PRECISIONS:
                    times[p].append(run(p, args.steps))
            med = {p: statistics.median(v) for p, v in times.items()}
            choice = resolve_precision("auto", torch.device("cpu"), family)
            rows.append({"preset": preset, "family": family, "batch": cfg.batch_size, "fp32_s": med["fp32"],
                         "bf16_s": med["bf16"], "auto_s": med["auto"], "auto_picks": choice,
                         "bf16_speedup": med["fp32"] / med["bf16"],
                         "best": "bf16" if med["bf16"] < med["fp32"] else "fp32"})
            print(f"{preset}: " + ", ".join(f"{p} {med[p]:.3f} s/step" for p in PRECISIONS), flush=True)
    columns = ["preset", "family", "batch", "fp32_s", "bf16_s", "auto_s", "auto_picks", "best", "bf16_speedup"]
    info = machine_details()
    print(f"\nCPU {info.get('cpu_model')}, native bf16: {', '.join(cpu_bf16_flags()) or 'none'}, "
          f"{args.threads} thread(s), medians of {args.repeats} x {args.steps} steps")
    print_table(rows, columns)
    print()
    print_markdown_table(rows, columns)
    write_json("precision_auto", {"machine_details": info, "repeats": args.repeats, "steps": args.steps,
                                  "threads": args.threads, "rows": rows})


if __name__ == "__main__":
    main()
