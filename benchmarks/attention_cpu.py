"""SAGAN attention on the CPU: the fused SDPA kernel against matmul + softmax, fp32 and bf16 autocast.

::

    python -m benchmarks.attention_cpu [--repeats 9]

Times one forward and backward of ``softmax(q k^T) v`` at SAGAN's shapes (keys C/8, values C/2 with
C = 64, keys and values max-pooled 2x2) for the feature maps where the layer sits. The fused path
pads the key size to the value size (as the layer does for the fused kernels). The crossover in bf16
sets ``sahit.layers.self_attention.CPU_BF16_EXPLICIT_MAX_LOGITS``. Prints a table, writes
``benchmarks/results/attention_cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from sahit.layers.self_attention import CPU_BF16_EXPLICIT_MAX_LOGITS

SHAPES = [(128, 16 * 16, 8 * 8), (128, 32 * 32, 16 * 16), (32, 64 * 64, 32 * 32)]  # batch, queries, keys


def fused(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    q, k = (F.pad(t, (0, v.shape[-1] - t.shape[-1])) for t in (q, k))
    return F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1), scale=1.0).squeeze(1)


def explicit(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.softmax(q @ k.transpose(1, 2), dim=-1) @ v


def seconds(fn, batch: int, queries: int, keys: int, dtype: torch.dtype, repeats: int) -> float:
    times = []
    for _ in range(repeats + 2):
        q = torch.randn(batch, queries, 8, requires_grad=True)
        k = torch.randn(batch, keys, 8, requires_grad=True)
        v = torch.randn(batch, keys, 32, requires_grad=True)
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            out = fn(q, k, v)
        out.float().sum().backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--out", default="benchmarks/results/attention_cpu.json")
    args = p.parse_args()
    rows = []
    print(f"{'dtype':>8} {'batch':>5} {'queries x keys':>15} {'fused ms':>9} {'explicit ms':>11} {'explicit/fused':>14}")
    for dtype in (torch.float32, torch.bfloat16):
        for batch, queries, keys in SHAPES:
            a = seconds(fused, batch, queries, keys, dtype, args.repeats)
            b = seconds(explicit, batch, queries, keys, dtype, args.repeats)
            rows.append({"dtype": str(dtype).removeprefix("torch."), "batch": batch, "queries": queries, "keys": keys,
                         "fused_ms": round(a * 1e3, 2), "explicit_ms": round(b * 1e3, 2), "ratio": round(b / a, 3)})
            r = rows[-1]
            print(f"{r['dtype']:>8} {batch:>5} {f'{queries} x {keys}':>15} {r['fused_ms']:9.2f} {r['explicit_ms']:11.2f} "
                  f"{r['ratio']:14.2f}")
    print(f"sahit takes the explicit path in bf16 on the CPU up to {CPU_BF16_EXPLICIT_MAX_LOGITS} logits per map")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"threads": torch.get_num_threads(), "torch": torch.__version__,
                                          "explicit_max_logits": CPU_BF16_EXPLICIT_MAX_LOGITS, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
