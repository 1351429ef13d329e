"""Feature-extraction throughput of sahit's extractors, and the cost of one 2048-d FID.

    python -m benchmarks.metrics [--device cpu] [--repeats 5] [--inception-weights FILE]

Inception runs on random weights unless a weights file is given (speed does not depend on
the weights). Prints a table and writes benchmarks/results/metrics.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from sahit.metrics import frechet_distance, load_inception
from sahit.metrics.domain import DomainConfig, DomainExtractor


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(
    extractor: torch.nn.Module, resolution: int, batch: int, repeats: int, device: torch.device
) -> list[float]:
    images = torch.randint(0, 256, (batch, 3, resolution, resolution), dtype=torch.uint8, device=device)
    extractor(images)  # warm-up: kernel selection, allocations
    rates = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        extractor(images)
        _sync(device)
        rates.append(batch / (time.perf_counter() - start))
    return rates


def fid_seconds(dim: int, repeats: int) -> list[float]:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((dim, dim)), rng.standard_normal((dim, dim))
    s1, s2 = a @ a.T / dim, b @ b.T / dim
    mu = np.zeros(dim)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        frechet_distance(mu, s1, mu, s2)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--inception-weights", default=None)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "metrics.json"))
    args = parser.parse_args()
    device = torch.device(args.device)

    if args.inception_weights:
        inception = load_inception(args.inception_weights)
    else:
        inception = load_inception(random_weights=True)  # speed does not depend on the weights
    cases = [
        ("inception", inception, 32, 16),
        ("inception", inception, 128, 16),
        ("domain-cnn", DomainExtractor(DomainConfig(num_classes=10, resolution=32)), 32, 256),
        ("domain-cnn", DomainExtractor(DomainConfig(num_classes=10, resolution=64)), 64, 256),
    ]
    rows = []
    for name, extractor, resolution, batch in cases:
        rates = images_per_second(extractor.to(device), resolution, batch, args.repeats, device)
        rows.append({
            "extractor": name, "input_px": resolution, "batch": batch, "images_per_s": statistics.median(rates),
            "repeats": args.repeats, "weights": extractor.weights_hash[:12],
        })
    fid_times = fid_seconds(2048, max(1, min(args.repeats, 3)))

    print(f"device {device} | torch {torch.__version__} | {torch.get_num_threads()} threads")
    print(f"{'extractor':12s} {'input':>6s} {'batch':>6s} {'images/s':>10s}  (median of {args.repeats})")
    for r in rows:
        print(f"{r['extractor']:12s} {r['input_px']:>5d}p {r['batch']:>6d} {r['images_per_s']:>10.1f}")
    print(f"frechet_distance at d=2048: {statistics.median(fid_times):.2f} s (median of {len(fid_times)})")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "extraction": rows,
        "fid_2048_seconds": statistics.median(fid_times),
    }, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
