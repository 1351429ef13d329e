"""What ``precision=auto`` means on the device in front of us.

On CUDA, auto is bf16 where the GPU supports it. On a CPU, bf16 autocast only pays where the
CPU computes bf16 natively (AMX or AVX512-BF16) *and* the model family declares that it gains
(``Family.bf16_faster_on_cpu``); elsewhere the casts around every small operator cost more than
they save. ``python -m benchmarks.precision_auto`` measures both precisions on the CPU at hand;
docs/benchmarks.md holds the numbers behind each family's ``bf16_faster_on_cpu`` (HiT gains only
because its small attention maps take matmul + softmax and its blur runs in fp32 under CPU autocast).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import torch

from ..models.registry import family_of

log = logging.getLogger(__name__)

NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of CPUs with bf16 arithmetic
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@functools.cache
def cpu_bf16_flags() -> tuple[str, ...]:
    """Which of ``NATIVE_BF16_FLAGS`` this CPU has (empty off Linux or on a CPU without them)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ()
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    return tuple(f for f in NATIVE_BF16_FLAGS if f in flags)


def resolve_precision(precision: str, device: torch.device, family: str | None = None) -> str:
    """``fp32``, ``bf16`` or ``fp16``: ``precision`` itself unless it is ``auto``."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu" and cpu_bf16_flags() and _bf16_faster_on_cpu(family):
        return "bf16"
    return "fp32"


def _bf16_faster_on_cpu(family: str | None) -> bool:
    """What the model family declares (``Family.bf16_faster_on_cpu``); unknown families stay in fp32."""
    found = family_of(family) if family else None
    return found is not None and found.bf16_faster_on_cpu


def autocast_dtype(precision: str, device: torch.device, model_cfg: Any = None) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None = fp32, no autocast).

    ``model_cfg`` (a model config with ``to_dict()["family"]``) lets ``auto`` choose per family.
    """
    family = model_cfg.to_dict().get("family") if model_cfg is not None else None
    chosen = resolve_precision(precision, device, family)
    if precision == "auto":
        why = f"native bf16: {', '.join(cpu_bf16_flags()) or 'none'}" if device.type == "cpu" else device.type
        log.info("precision=auto: %s for %s on %s (%s)", chosen, family or "this model", device.type, why)
    return DTYPES[chosen]
