"""How HiT's generator cost grows with resolution, beside global-attention variants.

For each output size (64 ... 1024 px) and variant, a fresh subprocess builds a generator
with the same tiny per-stage widths, runs one warm-up forward pass, then ``--repeats``
timed passes (``torch.no_grad``, eval mode) and reports the median time per image.

Variants (same widths, depths and heads at every stage):

* ``hit``: the official layout: multi-axis blocked attention at 8-64 px (blocks 4, 4, 8, 8),
  MLP-only stages from 128 px up.
* ``hit-whole``: the same, but the MLP-only stages run over all tokens at once instead of in
  cache-sized chunks (``sahit.models.hit.generator.EVAL_CHUNK_ELEMENTS``), as before that optimisation.
* ``global-attn``: the same layout, but the attention stages (8-64 px) attend globally.
* ``global-all``: every stage is a global-attention stage, the quadratic design HiT avoids.

Memory, two figures per run:

* ``peak_rss_mib``: the child process's peak resident memory (``resource.getrusage``
  ``ru_maxrss``) minus its resident memory after building the model: what the forward
  passes added, measured, one process per point;
* ``attn_mib``: analytic size of the largest attention-probability tensor the explicit path
  would hold (float32) -- regional B*h/2*G*P^2, dilated B*h/2*P*G^2, global B*h*N^2, cross
  B*h*N*M, for one image. Runs whose analytic size exceeds ``--max-attn-gib`` are not started and are
  reported as out of memory (the SDPA fast path streams the softmax, but it still does
  O(N^2) work).

    python -m benchmarks.hit_scaling            # ~ a few minutes on a 2-core CPU
    python -m benchmarks.hit_scaling --sizes 64 128 256 --repeats 5
    python -m benchmarks.hit_scaling --variants hit --equal-pixels

Batch 1 (the default) measures latency per image; small maps then fit in the CPU caches
and look cheaper per pixel than large ones. ``--equal-pixels`` runs every size with the
same number of pixels per forward pass (batch = (largest size / size)^2), which isolates
the algorithm's growth from cache effects (use it with ``--variants hit``: the global
variants at large batches mostly time out).

Prints a table and writes ``benchmarks/results/hit_scaling.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

WIDTHS = [32, 32, 16, 16, 8, 8, 8, 8]
HEADS = [4, 4, 2, 2, 2, 2, 2, 2]
DEPTHS = [2, 2, 2, 2, 1, 1, 1, 1]
BLOCKS = [4, 4, 8, 8, None, None, None, None]
VARIANTS = ("hit", "hit-whole", "global-attn", "global-all")
HIT_LAYOUT = ("hit", "hit-whole")
NUM_LATENTS = 16


def generator_overrides(size: int, variant: str) -> dict:
    n = size.bit_length() - 3  # stages at 8, 16, ..., size
    blocks = BLOCKS[:n]
    if variant == "global-all":
        blocks = [1] * n  # any non-None value marks an attention stage; global attention ignores its size
    return {
        "resolution": size, "z_dim": 64, "widths": WIDTHS[:n], "heads": HEADS[:n], "depths": DEPTHS[:n],
        "block_sizes": blocks,
        "attention": "multi_axis" if variant in HIT_LAYOUT else "global",
    }


def attention_bytes(size: int, variant: str, batch: int) -> int:
    """Largest attention-probability tensor (float32) of the explicit path over all stages."""
    cfg = generator_overrides(size, variant)
    largest = 0
    for i, (heads, block) in enumerate(zip(cfg["heads"], cfg["block_sizes"])):
        n = (8 * 2**i) ** 2
        sizes = [batch * heads * n * NUM_LATENTS]  # cross-attention to the latent tokens
        if block is not None and cfg["attention"] == "multi_axis":
            p, g = block * block, n // (block * block)
            sizes += [batch * heads // 2 * g * p * p, batch * heads // 2 * p * g * g]
        elif block is not None:
            sizes.append(batch * heads * n * n)
        largest = max(largest, *sizes)
    return 4 * largest


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(size: int, variant: str, batch: int, repeats: int, threads: int) -> dict:
    """One point, in this process: median seconds per image and peak memory growth."""
    import torch

    from sahit.models import build

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if variant == "hit-whole":  # MLP-only stages over all tokens at once, not in cache-sized chunks
        from sahit.models.hit import generator as hit

        hit.EVAL_CHUNK_ELEMENTS = 2**62
    G, _ = build("hit", **generator_overrides(size, variant))
    G.eval()
    z = torch.randn(batch, G.z_dim)
    baseline = _rss_bytes()
    times = []
    with torch.no_grad():
        G(z)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            G(z)
            times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    return {
        "seconds_per_image": statistics.median(times) / batch,
        "peak_rss_mib": max(peak - baseline, 0) / 2**20,
        "params": sum(p.numel() for p in G.parameters()),
    }


def run_point(size: int, variant: str, args: argparse.Namespace) -> dict:
    batch = (max(args.sizes) // size) ** 2 if args.equal_pixels else args.batch
    point = {"size": size, "variant": variant, "batch": batch, "attn_mib": attention_bytes(size, variant, 1) / 2**20}
    if point["attn_mib"] > args.max_attn_gib * 1024:
        note = f"explicit attention needs {point['attn_mib'] / 1024:.0f} GiB per image"
        return {**point, "status": "oom", "note": note}
    cmd = [sys.executable, __file__, "--child", str(size), variant, "--batch", str(batch),
           "--repeats", str(args.repeats), "--threads", str(args.threads)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        return {**point, "status": "timeout", "note": f"over {args.timeout} s"}
    if out.returncode != 0:
        killed = out.returncode < 0 or "MemoryError" in out.stderr or "DefaultCPUAllocator" in out.stderr
        return {**point, "status": "oom" if killed else "error", "note": out.stderr.strip().splitlines()[-1:]}
    return {**point, "status": "ok", **json.loads(out.stdout.strip().splitlines()[-1])}


def print_table(points: list[dict], sizes: list[int], variants: list[str]) -> None:
    header = f"{'size':>6} " + " ".join(f"{v + ' ms/img':>20} {'peak MiB':>9} {'attn MiB':>10}" for v in variants)
    print(header)
    for size in sizes:
        row = f"{size:>6} "
        for v in variants:
            p = next(q for q in points if q["size"] == size and q["variant"] == v)
            if p["status"] == "ok":
                row += f"{p['seconds_per_image'] * 1e3:>20.1f} {p['peak_rss_mib']:>9.0f} {p['attn_mib']:>10.1f} "
            else:
                row += f"{p['status'].upper():>20} {'-':>9} {p['attn_mib']:>10.0f} "
        print(row)


def growth(points: list[dict], variant: str, lo: int, hi: int) -> float | None:
    """Time growth from ``lo`` to ``hi`` px divided by the growth in pixels (1 = linear)."""
    t = {p["size"]: p.get("seconds_per_image") for p in points if p["variant"] == variant and p["status"] == "ok"}
    if lo not in t or hi not in t:
        return None
    return (t[hi] / t[lo]) / ((hi / lo) ** 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--equal-pixels", action="store_true", help="batch = (largest size / size)^2 at every size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads in each child")
    parser.add_argument("--max-attn-gib", type=float, default=8.0,
                        help="report as out of memory, without running, points whose explicit attention exceeds this")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per point")
    parser.add_argument("--out", type=Path, default=None,
                        help="default benchmarks/results/hit_scaling.json (hit_scaling_equal_pixels.json)")
    parser.add_argument("--child", nargs=2, metavar=("SIZE", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(measure(int(args.child[0]), args.child[1], args.batch, args.repeats, args.threads)))
        return

    if args.out is None:
        name = "hit_scaling_equal_pixels.json" if args.equal_pixels else "hit_scaling.json"
        args.out = Path(__file__).parent / "results" / name
    points = []
    for size in args.sizes:
        for variant in args.variants:
            points.append(run_point(size, variant, args))
            print(f"  {variant:>12} {size:>5} px: {points[-1]['status']}", file=sys.stderr, flush=True)
    print_table(points, args.sizes, args.variants)
    summary = {}
    for v in args.variants:
        g = growth(points, v, 256, 1024)
        summary[v] = {"time_growth_256_to_1024_over_linear": g}
        g512 = growth(points, v, 512, 1024)
        summary[v]["time_growth_512_to_1024_over_linear"] = g512
        print(f"{v}: time growth / pixel growth, 256->1024 px: {'n/a' if g is None else f'{g:.2f}'}, "
              f"512->1024 px: {'n/a' if g512 is None else f'{g512:.2f}'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "points": points,
        "summary": summary,
        "settings": {
            "batch": "equal pixels" if args.equal_pixels else args.batch, "repeats": args.repeats,
            "threads": args.threads, "widths": WIDTHS, "heads": HEADS, "depths": DEPTHS, "blocks": BLOCKS,
            "max_attn_gib": args.max_attn_gib,
        },
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "memory_method": "peak_rss_mib: ru_maxrss of a fresh child process minus its RSS after building G; "
                         "attn_mib: analytic float32 size of the largest explicit attention tensor, one image",
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
