"""SAGAN self-attention: time and peak memory of forward + backward, three ways.

- fast:     pooled keys/values (official SAGAN), scaled_dot_product_attention
- explicit: pooled keys/values, matmul + softmax (what visualisation uses)
- unpooled: no pooling, value C (the paper text's form), matmul + softmax: what most ports ship

Run:  python -m benchmarks.attention [--sizes 32 64 128] [--repeats 5]
Writes benchmarks/results/attention.json.
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import median_time, peak_cpu_memory, print_table, write_json
from sahit.layers import SelfAttention2d

VARIANTS = {
    "fast": {"pool_kv": True, "value_ratio": 0.5, "explicit": False},
    "explicit": {"pool_kv": True, "value_ratio": 0.5, "explicit": True},
    "unpooled": {"pool_kv": False, "value_ratio": 1.0, "explicit": True},
}


def attention_bytes(batch: int, side: int, pooled: bool) -> int:
    n = side * side
    m = n // 4 if pooled else n
    return batch * n * m * 4  # one float32 attention matrix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-attention-gb", type=float, default=3.0,
                        help="skip a variant whose single attention matrix exceeds this (it would swap or die)")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    for side in args.sizes:
        for name, spec in VARIANTS.items():
            row = {"positions": f"{side}x{side}", "N": side * side, "variant": name}
            need = attention_bytes(args.batch, side, spec["pool_kv"])
            if need > args.max_attention_gb * 2**30:
                row["note"] = f"skipped: one attention matrix alone is {need / 2**30:.1f} GiB"
                rows.append(row)
                continue
            layer = SelfAttention2d(args.channels, pool_kv=spec["pool_kv"], value_ratio=spec["value_ratio"])
            with torch.no_grad():
                layer.gamma.fill_(1.0)
            x = torch.randn(args.batch, args.channels, side, side, requires_grad=True)

            def step(layer=layer, x=x, explicit=spec["explicit"]):
                layer(x, explicit=explicit).sum().backward()

            row["seconds"] = median_time(step, repeats=args.repeats)
            row["peak_MiB"] = peak_cpu_memory(step) / 2**20
            rows.append(row)
            print(f"{row['positions']:>9} {name:>9}: {row['seconds'] * 1e3:8.1f} ms  {row['peak_MiB']:8.1f} MiB", flush=True)
    for side in args.sizes:
        by = {r["variant"]: r for r in rows if r["N"] == side * side}
        if "seconds" in by["fast"] and "seconds" in by["unpooled"]:
            by["fast"]["speedup_vs_unpooled"] = by["unpooled"]["seconds"] / by["fast"]["seconds"]
            by["fast"]["memory_saving_vs_unpooled"] = by["unpooled"]["peak_MiB"] / by["fast"]["peak_MiB"]
    print()
    print_table(rows, ["positions", "variant", "seconds", "peak_MiB", "speedup_vs_unpooled",
                       "memory_saving_vs_unpooled", "note"])
    write_json("attention", {"channels": args.channels, "batch": args.batch, "repeats": args.repeats, "rows": rows})


if __name__ == "__main__":
    main()
