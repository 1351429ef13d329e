"""Time to the first training batch on a large image folder: cold start vs restart with the cached index.

Run:  python -m benchmarks.data_index [--files 100000] [--classes 10] [--repeats 3]
Generates ``--files`` tiny PNGs (8x8) in a temporary folder (deleted afterwards), then builds a
trainer on it and draws its first batch: once with no index (a cold start reads every header and
writes the index, into a cache folder inside the temporary folder) and ``--repeats`` times with it (a restart: one listing, no header read).
Writes benchmarks/results/data_index.json.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from benchmarks.common import print_table, write_json
from sahit.data.index import index_path
from sahit.training import TrainConfig, Trainer


def make_folder(root: Path, files: int, classes: int, size: int = 8) -> None:
    """``files`` PNGs of ``size`` px in ``classes`` class folders (256 distinct random images, cycled)."""
    rng = np.random.default_rng(0)
    encoded = []
    for _ in range(256):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    for c in range(classes):
        (root / f"class{c:02d}").mkdir(parents=True)
    for i in tqdm(range(files), desc="writing PNGs", unit="file", mininterval=5):
        (root / f"class{i % classes:02d}" / f"{i:07d}.png").write_bytes(encoded[i % len(encoded)])


def first_batch_seconds(data: Path, run_dir: Path) -> float:
    t0 = time.perf_counter()
    cfg = TrainConfig(model="quickstart", data=str(data), batch_size=32, progress=False)
    trainer = Trainer(cfg, run_dir)
    next(trainer.batches())
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sahit-index-bench-"))
    os.environ["SAHIT_CACHE"] = str(tmp / "cache")  # the index goes there, deleted with the rest
    try:
        data = tmp / "images"
        make_folder(data, args.files, args.classes)
        cold = first_batch_seconds(data, tmp / "run-cold")
        index_bytes = index_path(data).stat().st_size
        warm = [first_batch_seconds(data, tmp / f"run-warm{i}") for i in range(args.repeats)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [
        {"start": "cold (reads every header, writes the index)", "seconds": cold, "vs_cold": 1.0},
        {"start": f"restart with index (median of {args.repeats})", "seconds": statistics.median(warm),
         "vs_cold": statistics.median(warm) / cold},
    ]
    print(f"\n{args.files:,} files in {args.classes} class folders; index {index_bytes / 1e6:.1f} MB; "
          f"{torch.get_num_threads()} thread(s)")
    print_table(rows, ["start", "seconds", "vs_cold"])
    write_json("data_index", {"files": args.files, "classes": args.classes, "index_bytes": index_bytes,
                              "cold_s": cold, "warm_s": warm, "rows": rows})


if __name__ == "__main__":
    main()
