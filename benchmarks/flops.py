"""Counting the FLOPs a piece of PyTorch code actually executes, and this machine's matmul peak.

``count_flops(fn)`` runs ``fn`` once under ``torch.utils.flop_counter.FlopCounterMode`` and
returns the total (forward + backward: matmuls, convolutions, attention; elementwise ops and
normalisation are not counted) with a breakdown by operator. PyTorch's counter does not know the
CPU fused-attention kernels (``_scaled_dot_product_flash_attention_for_cpu`` and its backward);
they are counted here with PyTorch's own formulas for the CUDA kernels.

``matmul_peak()`` times large square matmuls (fp32 and bf16) and returns GFLOP/s.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils import flop_counter as fc

aten = torch.ops.aten


def _sdpa_cpu_forward(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return fc.sdpa_flop_count(query_shape, key_shape, value_shape)


def _sdpa_cpu_backward(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None,
                       **kwargs) -> int:
    return fc.sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


def _custom_mapping() -> dict[Any, Callable[..., int]]:
    mapping: dict[Any, Callable[..., int]] = {}
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        mapping[aten._scaled_dot_product_flash_attention_for_cpu] = _sdpa_cpu_forward
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu_backward"):
        mapping[aten._scaled_dot_product_flash_attention_for_cpu_backward] = _sdpa_cpu_backward
    return mapping


def count_flops(fn: Callable[[], Any]) -> dict[str, Any]:
    """FLOPs executed by one call of ``fn``: ``{"total": int, "by_op": {op name: int}}`` (a multiply-add = 2)."""
    with fc.FlopCounterMode(display=False, custom_mapping=_custom_mapping()) as counter:
        fn()
    by_op = {str(op).removeprefix("aten."): int(n) for op, n in counter.get_flop_counts()["Global"].items()}
    return {"total": int(counter.get_total_flops()), "by_op": dict(sorted(by_op.items(), key=lambda kv: -kv[1]))}


def conv_share(by_op: dict[str, int]) -> float:
    """Fraction of counted FLOPs spent in convolutions (forward and backward)."""
    total = sum(by_op.values())
    return sum(n for op, n in by_op.items() if "convolution" in op) / total if total else 0.0


def matmul_peak(size: int = 4096, repeats: int = 5, dtypes: tuple[str, ...] = ("fp32", "bf16")) -> dict[str, dict]:
    """Median GFLOP/s of ``size``x``size`` matmuls per dtype (2 n^3 FLOPs each), after one warm-up."""
    out = {}
    for name in dtypes:
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[name]
        gen = torch.Generator().manual_seed(0)
        a = torch.randn(size, size, generator=gen).to(dtype)
        b = torch.randn(size, size, generator=gen).to(dtype)
        c = torch.empty(size, size, dtype=dtype)
        torch.mm(a, b, out=c)  # warm-up (oneDNN / MKL kernel selection)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b, out=c)
            times.append(time.perf_counter() - t0)
        flops = 2 * size**3
        out[name] = {"size": size, "repeats": repeats, "median_s": statistics.median(times),
                     "gflops": flops / statistics.median(times) / 1e9, "best_gflops": flops / min(times) / 1e9}
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="this machine's matmul peak (GFLOP/s), fp32 and bf16")
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for dtype, r in matmul_peak(args.size, args.repeats).items():
        print(f"{dtype}: {r['gflops']:.1f} GFLOP/s median ({r['best_gflops']:.1f} best) at {r['size']}^2, "
              f"{r['repeats']} repeats, {torch.get_num_threads()} threads")
