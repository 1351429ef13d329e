"""HiT's training step (the hit-32 preset) with this checkout's code next to an older commit's, in one run.

Run:  python -m benchmarks.hit_speed [--base 39d5d0f] [--repeats 5] [--steps 8] [--precision fp32 [bf16]]
                                     [--threads 1] [--glibc-defaults] [--compile [--compile-parts G|D|GD]]
The base commit's ``src`` is unpacked (``git archive``) into a temporary folder. Each round runs one
subprocess per code version, alternating, that builds the hit-32 trainer (seed 0, built-in data),
runs two warm-up steps and times ``--steps`` steps (lazy R1 on every 16th, as in training); the
table shows the median over rounds of each round's median step. The subprocesses also report their
first losses, so the table shows that both versions compute the same training run. With several
``--precision`` values every code version runs in each (``speedup``: against the base in the same
precision; ``vs_base_best``: against the base's fastest precision). ``--glibc-defaults`` adds this
checkout with ``SAHIT_KEEP_FREED_MEMORY=0`` (the allocator left alone). With ``--compile``
a third row runs this checkout with ``compile=true`` (torch.compile of G and D); its warm-up steps
include the compilation: ``warmup_s_round1`` is the two warm-up steps of round 1, a cold compile
(inductor's cache starts empty, in the temporary folder; later rounds reuse it).
Writes benchmarks/results/hit_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker(precision: str, steps: int, threads: int, compile_: bool, parts: str = "GD") -> None:
    """Time the hit-32 training step of whatever ``sahit`` is on the path; print JSON."""
    import torch

    from sahit.training import Trainer
    from sahit.training.config import config_from_dict, load_preset

    torch.set_num_threads(threads)
    values = load_preset("hit-32")
    values.update(precision=precision, progress=False, data_length=1024, device="cpu")
    if compile_:  # the base commit's config may predate the key; only set it when asked
        values["compile"] = True
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config_from_dict(values), tmp)
        if "G" not in parts:  # run that network eagerly: its compiled wrapper is never called, so never built
            trainer.G_run = trainer.G
        if "D" not in parts:
            trainer.D_run = trainer.D
        batches = trainer.batches()
        losses, times, cpu_times, warmup = [], [], [], []
        for i in range(2 + steps):
            t0, c0 = time.perf_counter(), time.process_time()
            out = trainer.train_step(batches)
            trainer.step += 1
            if i < 2:
                warmup.append(time.perf_counter() - t0)
            else:
                times.append(time.perf_counter() - t0)
                cpu_times.append(time.process_time() - c0)
            losses.append([float(out["loss_d"]), float(out["loss_g"])])
    print(json.dumps({"times": times, "cpu_times": cpu_times, "warmup": warmup, "losses": losses}))


def run_version(src: Path, args: argparse.Namespace, precision: str, compile_: bool = False,
                cache: Path | None = None, extra_env: dict[str, str] | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": str(args.threads), **(extra_env or {})}
    if cache is not None:
        env["TORCHINDUCTOR_CACHE_DIR"] = str(cache)
    cmd = [sys.executable, __file__, "--worker", "--precision", precision, "--steps", str(args.steps),
           "--threads", str(args.threads)] + (["--compile", "--compile-parts", args.compile_parts] if compile_ else [])
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="39d5d0f",
                        help="commit to compare with (default: the last one before HiT's faster CPU path)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=("fp32", "bf16"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="add a row: this checkout with compile=true")
    parser.add_argument("--compile-parts", default="GD", choices=("G", "D", "GD"),
                        help="which networks the compile row compiles (default both)")
    parser.add_argument("--glibc-defaults", action="store_true",
                        help="add a row per precision: this checkout with SAHIT_KEEP_FREED_MEMORY=0")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.precision[0], args.steps, args.threads, args.compile, args.compile_parts)
        return
    from benchmarks.common import machine_details, print_table, write_json

    with tempfile.TemporaryDirectory() as tmp:
        base_src = Path(tmp) / "base"
        base_src.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.base, "src"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base_src)], input=archive, check=True)
        versions: dict[str, tuple[Path, bool, str, dict[str, str]]] = {}
        for precision in args.precision:
            versions[f"base {args.base}, {precision}"] = (base_src / "src", False, precision, {})
            versions[f"this checkout, {precision}"] = (ROOT / "src", False, precision, {})
            if args.glibc_defaults:
                versions[f"this checkout, {precision}, glibc defaults"] = (
                    ROOT / "src", False, precision, {"SAHIT_KEEP_FREED_MEMORY": "0"})
            if args.compile:
                parts = "" if args.compile_parts == "GD" else f" ({args.compile_parts} only)"
                versions[f"this checkout, {precision}, compile=true{parts}"] = (ROOT / "src", True, precision, {})
        rounds: dict[str, list[float]] = {name: [] for name in versions}
        cpu_rounds: dict[str, list[float]] = {name: [] for name in versions}
        warmups: dict[str, list[float]] = {name: [] for name in versions}
        losses: dict[str, list] = {}
        for r in range(args.repeats):
            for name, (src, compile_, precision, extra_env) in versions.items():
                result = run_version(src, args, precision, compile_, Path(tmp) / "inductor-cache", extra_env)
                warmups[name].append(sum(result["warmup"]))
                rounds[name].append(statistics.median(result["times"]))
                cpu_rounds[name].append(statistics.median(result["cpu_times"]))
                losses[name] = result["losses"]
                print(f"round {r + 1}/{args.repeats} {name}: {rounds[name][-1]:.3f} s/step "
                      f"({cpu_rounds[name][-1]:.3f} s CPU)", flush=True)

    def med(table: dict[str, list[float]], name: str) -> float:
        return statistics.median(table[name])

    base_of = {name: f"base {args.base}, {precision}" for name, (_, _, precision, _) in versions.items()}
    base_best = min(med(rounds, f"base {args.base}, {p}") for p in args.precision)
    loss_diffs = {}
    for precision in args.precision:  # relative difference of the losses, base against this checkout
        ref, new = losses[f"base {args.base}, {precision}"], losses[f"this checkout, {precision}"]
        loss_diffs[precision] = [max(abs(a - b) / max(abs(a), 1e-6) for a, b in zip(ra, rb)) for ra, rb in zip(ref, new)]
    rows = [{"code": name, "s_per_step": med(rounds, name), "cpu_s_per_step": med(cpu_rounds, name),
             "img_per_s": 32 / med(rounds, name), "speedup": med(rounds, base_of[name]) / med(rounds, name),
             "cpu_speedup": med(cpu_rounds, base_of[name]) / med(cpu_rounds, name),
             "vs_base_best": base_best / med(rounds, name), "warmup_s_round1": warmups[name][0]} for name in versions]
    print(f"\nhit-32 training step, batch 32, {args.threads} thread(s); medians of {args.repeats} alternating rounds "
          f"x {args.steps} steps")
    for precision, diffs in loss_diffs.items():
        print(f"{precision}: relative difference of the losses, base vs this checkout: step 1 {diffs[0]:.1e}, "
              f"max over the first {len(diffs)} steps {max(diffs):.1e}")
    print_table(rows, ["code", "s_per_step", "cpu_s_per_step", "img_per_s", "speedup", "cpu_speedup", "vs_base_best",
                       "warmup_s_round1"])
    write_json("hit_speed", {"machine_details": machine_details(), "base": args.base, "precisions": args.precision,
                             "threads": args.threads, "rounds": rounds, "cpu_rounds": cpu_rounds, "warmups": warmups,
                             "losses": losses, "rel_loss_diffs": loss_diffs, "rows": rows})


if __name__ == "__main__":
    main()
