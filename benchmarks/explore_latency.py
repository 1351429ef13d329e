"""Latency of ``sahit explore``'s API: ``/api/sample.png`` and ``/api/attention.png``, over HTTP on loopback.

Run:  python -m benchmarks.explore_latency [--run RUN|EXPORT|zoo:NAME|hf:ID] [--repeats 30]
Without --run, trains the quickstart preset's model for --steps steps (default 20) in a temporary folder: what
is timed is the model's size, not its training. The server runs in this process on a free loopback port; one
client asks one request at a time. ``new`` requests use a seed not asked before (the model runs: what a click
costs); ``repeat`` asks the same image again (the explorer's cache). Target: median wall-clock time under
150 ms for new requests; ``cpu_median_ms`` is the CPU time they take (client and server, this process), which
other guests on a shared machine do not inflate. Writes benchmarks/results/explore_latency.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import torch

from benchmarks.common import machine_details, print_table, write_json
from sahit.explore.loading import load_explorer
from sahit.explore.server import BackgroundServer

TARGET_MS = 150.0


def quickstart_run(folder: Path, steps: int) -> Path:
    """The quickstart preset's model after ``steps`` training steps, in ``folder``."""
    from sahit.training import Trainer, prepare_run

    cfg, run_dir = prepare_run("quickstart", out=folder / "quickstart",
                               overrides=[f"steps={steps}", "progress=false", f"sample_every={steps}",
                                          f"ckpt_every={steps}", "data_length=256"])
    Trainer(cfg, run_dir).fit()
    return run_dir


def get_ms(url: str) -> tuple[float, float]:
    """Wall-clock and CPU milliseconds of one GET of ``url`` (answer read to the end; must be 200). The server
    runs in this process, so the CPU time is the request's own work, client and server, whatever else the
    machine runs."""
    start, cpu = time.perf_counter(), time.process_time()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
    return (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000


def measure(base: str, info: dict, repeats: int, warmup: int) -> list[dict]:
    """Median and p90 milliseconds per (endpoint, new/repeat)."""
    cls = "cls=1&" if info["num_classes"] else ""
    last = info["resolution"] - 1
    endpoints = {"/api/sample.png": lambda seed: f"{cls}seed={seed}"}
    for layer in info["layers"]:
        endpoints[f"/api/attention.png ({layer['name']})"] = (
            lambda seed, i=layer["index"]: f"{cls}seed={seed}&layer={i}&x={seed % (last + 1)}&y={last // 2}")
    rows = []
    seed = 10_000  # each new request a seed not asked before, across endpoints too
    for label, params in endpoints.items():
        path = label.split(" ")[0]
        for _ in range(warmup):
            get_ms(f"{base}{path}?{params(seed)}")
            seed += 1
        for kind in ("new", "repeat"):
            times, cpu = [], []
            for _ in range(repeats):
                if kind == "new":
                    seed += 1
                wall_ms, cpu_ms = get_ms(f"{base}{path}?{params(seed)}")
                times.append(wall_ms)
                cpu.append(cpu_ms)
            median = statistics.median(times)
            p90 = sorted(times)[int(0.9 * (len(times) - 1))]
            rows.append({"endpoint": label, "request": kind, "median_ms": median, "p90_ms": p90,
                         "cpu_median_ms": statistics.median(cpu), "n": repeats, "under_150ms": median < TARGET_MS})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help="model to serve (default: quickstart trained for --steps steps)")
    parser.add_argument("--steps", type=int, default=20, help="training steps of the default model")
    parser.add_argument("--repeats", type=int, default=30, help="requests per (endpoint, kind)")
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or str(quickstart_run(Path(tmp), args.steps))
        explorer = load_explorer(run)
        with BackgroundServer(explorer) as base:
            rows = measure(base.rstrip("/"), explorer.info(), args.repeats, args.warmup)
    print(f"model: {args.run or f'quickstart, {args.steps} steps'} ({explorer.info()['family']}, "
          f"{explorer.resolution} px, {sum(p.numel() for p in explorer.G.parameters()):,} G parameters); "
          f"torch threads {torch.get_num_threads()}")
    print(f"load average {machine_details().get('loadavg')} (other work on the machine lengthens wall-clock times)")
    print_table(rows, ["endpoint", "request", "median_ms", "p90_ms", "cpu_median_ms", "n", "under_150ms"])
    write_json("explore_latency", {"run": args.run or f"quickstart ({args.steps} steps)", "target_ms": TARGET_MS,
                                   "details": machine_details(), "rows": rows})


if __name__ == "__main__":
    main()
