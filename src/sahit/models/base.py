"""What every generator and discriminator of sahit shares: input checks and sampling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


class Generator(nn.Module):
    """Base class: a generator maps (z, y) to images in [-1, 1] of shape (B, 3, R, R).

    Subclasses set ``z_dim``, ``num_classes``, ``resolution`` and ``config`` (a JSON-able
    dict with a ``family`` key, enough to rebuild the network without its training code).
    """

    z_dim: int
    num_classes: int
    resolution: int
    config: dict[str, Any]
    check_inputs: bool = True  # class-index checks read y on the host; trainers may turn them off

    def check_labels(self, y: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        return check_labels(y, batch, self.num_classes, self.check_inputs)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        classes: int | Sequence[int] | torch.Tensor | None = None,
        seed: int | None = None,
        batch_size: int = 256,
    ) -> torch.Tensor:
        """``n`` images in [-1, 1], (n, 3, R, R) float32 on the generator's device, in eval mode.

        ``classes``: None (balanced over classes: 0, 1, ..., K-1, 0, ...), one class for all,
        or one class per image. ``seed`` makes the noise reproducible.
        """
        device = next(self.parameters()).device
        z = torch.randn(n, self.z_dim, generator=torch.Generator().manual_seed(seed) if seed is not None else None)
        y = self.sample_labels(n, classes)
        was_training = self.training
        self.eval()
        try:
            out = [
                self(z[i : i + batch_size].to(device), None if y is None else y[i : i + batch_size].to(device))
                for i in range(0, n, batch_size)
            ]
        finally:
            self.train(was_training)
        return torch.cat(out).float().clamp_(-1, 1)

    def sample_labels(self, n: int, classes: int | Sequence[int] | torch.Tensor | None) -> torch.Tensor | None:
        if self.num_classes == 0:
            if classes is not None:
                raise ValueError("this generator is unconditional: pass classes=None")
            return None
        if classes is None:
            y = torch.arange(n) % self.num_classes
        elif isinstance(classes, int):
            y = torch.full((n,), classes, dtype=torch.long)
        else:
            y = torch.as_tensor(classes, dtype=torch.long).flatten()
            if len(y) != n:
                raise ValueError(f"got {len(y)} classes for {n} samples")
        return check_labels(y, n, self.num_classes, True)


class Discriminator(nn.Module):
    """Base class: a discriminator maps (x, y) to logits of shape (B,)."""

    num_classes: int
    resolution: int
    check_inputs: bool = True

    def check_labels(self, y: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        return check_labels(y, batch, self.num_classes, self.check_inputs)


def check_labels(y: torch.Tensor | None, batch: int, num_classes: int, check_values: bool) -> torch.Tensor | None:
    """Validate class labels for a network with ``num_classes`` classes (0 = unconditional)."""
    if num_classes == 0:
        return None  # unconditional networks ignore labels
    if y is None:
        raise ValueError(f"this network is class-conditional ({num_classes} classes): pass labels y")
    if y.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},), got {tuple(y.shape)}")
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ValueError(f"labels must be integers, got {y.dtype}")
    if check_values and batch > 0:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"class index {bad} is out of range: allowed 0..{num_classes - 1}")
    return y.long()
