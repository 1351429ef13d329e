"""Seconds per training iteration (n_dis D steps + one G step) of sahit's trainer.

Run:  python benchmarks/train_step.py [--models sagan-cifar10 quickstart] [--batch 64] [--repeats 5]
Writes benchmarks/results/train_step.json. Each configuration is timed in the same process,
one after the other, so ratios between rows are meaningful even on a noisy machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_time, print_table, write_json  # noqa: E402

from sahit.training import TrainConfig, Trainer  # noqa: E402

VARIANTS = {
    "fp32": dict(precision="fp32"),
    "fp32+channels_last": dict(precision="fp32", channels_last=True),
    "bf16": dict(precision="bf16"),
    "bf16+channels_last": dict(precision="bf16", channels_last=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["sagan-cifar10", "quickstart"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            for variant in args.variants:
                cfg = TrainConfig(model=model, batch_size=args.batch, progress=False, data_length=4096,
                                  **VARIANTS[variant])
                trainer = Trainer(cfg, Path(tmp) / f"{model}-{variant}")
                batches = trainer.batches()
                seconds = median_time(lambda: trainer.train_step(batches), repeats=args.repeats, warmup=2)
                row = {"model": model, "variant": variant, "batch": args.batch, "s_per_it": seconds,
                       "img_per_s": args.batch / seconds}
                rows.append(row)
                print(f"{model:>14} {variant:>20}: {seconds:.3f} s/it", flush=True)
    print()
    print_table(rows, ["model", "variant", "batch", "s_per_it", "img_per_s"])
    write_json("train_step", {"repeats": args.repeats, "threads": torch.get_num_threads(), "rows": rows})


if __name__ == "__main__":
    main()
