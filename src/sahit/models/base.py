"""What every generator and discriminator of sahit shares: input checks, noise and sampling."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .attention_capture import attention_layers, capture_with_output


class AttentionSource(nn.Module):
    """What a network offers viz: its attention maps in image layout (none for a network without attention).

    The default finds every :class:`~sahit.layers.self_attention.SelfAttention2d` (one map per query pixel);
    a family whose attention has another layout (HiT's tokens) overrides both methods.
    """

    def attention_layer_names(self) -> list[str]:
        """Module names of the layers :meth:`layer_attention` can return, in execution order (empty: no attention)."""
        return list(attention_layers(self))

    def layer_attention(
        self, *inputs: torch.Tensor | None, layers: Sequence[str] | None = None
    ) -> tuple[torch.Tensor, dict]:
        """``self(*inputs)`` and each selected layer's maps (default all) from that one forward pass.

        Raises ValueError (one line) when the network has no attention or no layer of a given name.
        """
        return capture_with_output(self, *inputs, layers=layers)


class Generator(AttentionSource):
    """Base class: a generator maps (z, y) to images in [-1, 1] of shape (B, 3, R, R).

    Subclasses set ``z_dim``, ``num_classes``, ``resolution`` and ``config`` (a JSON-able
    dict with a ``family`` key, enough to rebuild the network without its training code).
    """

    z_dim: int
    num_classes: int
    resolution: int
    config: dict[str, Any]
    check_inputs: bool = True  # class-index checks read y on the host; trainers may turn them off
    # True when ``forward`` also takes y as float class weights (B, num_classes): each row mixes the
    # class embeddings linearly (a one-hot row is exactly that class). Used by class interpolation.
    soft_classes: bool = False

    def check_labels(self, y: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        if y is not None and y.is_floating_point() and self.num_classes:
            if not self.soft_classes:
                raise ValueError("this generator takes integer class labels only, not class weights")
            if y.shape != (batch, self.num_classes):
                raise ValueError(f"class weights must have shape ({batch}, {self.num_classes}), got {tuple(y.shape)}")
            return y
        return check_labels(y, batch, self.num_classes, self.check_inputs)

    def sample_noise(self, n: int, seed: int | None = None, truncation: float | None = None) -> torch.Tensor:
        """The z of ``sample(n, seed=seed, truncation=truncation)``: (n, z_dim) float32 on the CPU."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        return truncated_noise(n, self.z_dim, truncation, generator)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        classes: int | Sequence[int] | torch.Tensor | None = None,
        seed: int | None = None,
        batch_size: int = 256,
        truncation: float | None = None,
    ) -> torch.Tensor:
        """``n`` images in [-1, 1], (n, 3, R, R) float32 on the generator's device, in eval mode.

        ``classes``: None (balanced over classes: 0, 1, ..., K-1, 0, ...), one class for all,
        or one class per image. ``seed`` makes the noise reproducible. ``truncation``: BigGAN's
        truncation trick, see :func:`truncated_noise` (None: plain Gaussian z).
        """
        return self.sample_from(self.sample_noise(n, seed, truncation), self.sample_labels(n, classes), batch_size)

    @torch.no_grad()
    def sample_from(self, z: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 256) -> torch.Tensor:
        """Images in [-1, 1] for given z (n, z_dim) and labels y (n,) or None, in eval mode, ``batch_size`` at a time.

        Image i depends only on row i, and the batches are ``[0, batch_size)``, ``[batch_size, 2 batch_size)``...
        so a slice of z starting at a multiple of ``batch_size`` gives the same images as the whole.
        """
        device = next(self.parameters()).device
        n = len(z)
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


class Discriminator(AttentionSource):
    """Base class: a discriminator maps (x, y) to logits of shape (B,)."""

    num_classes: int
    resolution: int
    check_inputs: bool = True

    def check_labels(self, y: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        return check_labels(y, batch, self.num_classes, self.check_inputs)


def truncated_noise(
    n: int, dim: int, truncation: float | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Standard normal noise (n, dim); with ``truncation``, BigGAN's truncation trick.

    Entries with ``|z| > truncation`` are redrawn (from the same ``generator``, in row-major
    order of the entries still out of range) until every entry lies within the threshold;
    entries already within it are left as they are. ``truncation=None`` returns exactly
    ``torch.randn(n, dim, generator=generator)``. Small thresholds trade variety for quality;
    each round keeps a fraction P(|z| <= t) of the redrawn entries, so tiny thresholds cost many rounds.
    """
    z = torch.randn(n, dim, generator=generator)
    if truncation is None:
        return z
    if isinstance(truncation, bool) or not isinstance(truncation, numbers.Real) or not truncation > 0:
        raise ValueError(f"truncation must be a number > 0 (or None for no truncation), got {truncation!r}")
    outside = z.abs() > truncation
    while outside.any():
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > truncation
    return z


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
