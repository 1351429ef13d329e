"""Peak memory of one training step with and without gradient accumulation (accum_steps).

Run:  python -m benchmarks.accumulation_memory [--resolution 64] [--width 16] [--batch-size 32] [--accum 1 2 4]
One trainer per accum_steps (same model, batch and seed); after one warm-up step (Adam's state is created
there), the peak of the next step is measured: on the CPU the peak of torch's own allocations during the
step (torch.profiler memory events: tensors only, not the Python heap or allocator caches); on a CUDA
device ``torch.cuda.max_memory_allocated`` minus the memory allocated before the step. Also the step's
seconds (one step, a rough number). Writes benchmarks/results/accumulation_memory.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import machine_details, peak_cpu_memory, print_table, write_json
from sahit.training import Trainer
from sahit.training.config import config_from_dict, load_preset


def make_trainer(args: argparse.Namespace, accum: int, run_dir: Path) -> Trainer:
    values = load_preset("sagan-cifar10")  # the SAGAN recipe; the model resized below
    values.update(model_args={"resolution": args.resolution, "g_width": args.width, "d_width": args.width,
                              "g_attn_res": [args.resolution // 2], "d_attn_res": [args.resolution // 2]},
                  batch_size=args.batch_size, accum_steps=accum, progress=False, data_length=4 * args.batch_size,
                  device=args.device, seed=0)
    return Trainer(config_from_dict(values), run_dir)


def step_peak(trainer: Trainer, batches) -> tuple[int, float]:
    """Peak bytes above the memory already allocated, and seconds, of one training step."""
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated(trainer.device)
        torch.cuda.reset_peak_memory_stats(trainer.device)
        t0 = time.perf_counter()
        trainer.advance(batches)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated(trainer.device) - before, time.perf_counter() - t0
    t0 = time.perf_counter()
    peak = peak_cpu_memory(lambda: trainer.advance(batches))
    return peak, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--accum", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for accum in args.accum:
            trainer = make_trainer(args, accum, Path(tmp) / f"accum{accum}")
            batches = trainer.batches()
            trainer.advance(batches)  # warm-up: Adam's state, lazy allocations
            peak, seconds = step_peak(trainer, batches)
            rows.append({"accum_steps": accum, "micro_batch": args.batch_size // accum, "peak_MB": peak / 2**20,
                         "seconds": seconds})
            del trainer, batches
    for r in rows:
        r["peak_vs_unsplit"] = r["peak_MB"] / rows[0]["peak_MB"]
    print(f"SAGAN {args.resolution} px, width {args.width}, batch {args.batch_size}, device {args.device}: "
          "peak memory of one training step (tensors allocated during the step)")
    print_table(rows, ["accum_steps", "micro_batch", "peak_MB", "peak_vs_unsplit", "seconds"])
    write_json("accumulation_memory", {"args": vars(args), "machine_details": machine_details(), "rows": rows})


if __name__ == "__main__":
    main()
