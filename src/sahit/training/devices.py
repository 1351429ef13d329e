"""Which device a training process runs on, and how many data-loading processes it starts."""

from __future__ import annotations

import os

import torch

from .errors import TrainingError


def select_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; ``auto`` and ``cuda`` mean this process's GPU under torchrun."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrainingError(f"device {name!r} is not a valid torch device (try auto, cpu, cuda, cuda:0, mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device cuda was asked for, but no CUDA GPU is available (use device=auto)")
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return device


def default_num_workers(device: torch.device) -> int:
    """Data-loading processes when ``num_workers=-1``: none on CPU (training needs the cores); on an
    accelerator up to 8 per training process, sharing the machine's cores among its processes."""
    if device.type == "cpu":
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    per_process = cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(0, min(8, per_process - 1))
