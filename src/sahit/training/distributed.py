"""Multi-process training through torch.distributed (torchrun): gloo on CPU, NCCL on GPU.

Gradients are averaged by hand over one flattened buffer per network (as StyleGAN3 does)
instead of wrapping the networks in DDP: DDP cannot differentiate through
``autograd.grad`` (R1) and re-broadcasts buffers on every forward, which breaks the
spectral-norm and batch-norm state when D runs more than once per step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


def local_rank() -> int:
    """This process's index on its machine (torchrun's ``LOCAL_RANK``; 0 when run alone)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


@dataclass
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device | str = "cpu") -> DistContext:
        """Join the process group torchrun describes in the environment (or run alone).

        ``device`` is this process's device (see :func:`local_rank`): on CUDA the group is NCCL's, bound
        to that GPU, which also becomes the current device, the one that object collectives
        (``all_gather_object``) and barriers use; elsewhere the group is gloo's, on the CPU.
        """
        device = torch.device(device)
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if device.type == "cuda":
            # Before the group exists: without it every rank's NCCL communicator and object
            # collectives would use cuda:0 (a crash or a hang at the first checkpoint).
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            if device.type == "cuda":
                dist.init_process_group(backend="nccl", device_id=device)
            else:
                dist.init_process_group(backend="gloo")
        return cls(dist.get_rank(), dist.get_world_size(), local_rank())

    def average_gradients(self, module: nn.Module) -> None:
        """All-reduce the mean of every gradient of ``module`` through one flat buffer."""
        if not self.enabled:
            return
        params = [p for p in module.parameters() if p.grad is not None]
        if not params:
            return
        flat = torch.cat([p.grad.flatten() for p in params])
        dist.all_reduce(flat)
        flat.div_(self.world)
        offset = 0
        for p in params:
            n = p.numel()
            p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
            offset += n

    def gather_objects(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order (on every rank)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def all_true(self, flag: torch.Tensor) -> bool:
        """True only if the boolean tensor ``flag`` holds on every rank (one small all-reduce)."""
        if not self.enabled:
            return bool(flag)
        t = (~flag).to(torch.int32).reshape(1)  # stays on flag's device (NCCL needs GPU tensors)
        dist.all_reduce(t)
        return int(t.item()) == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()
