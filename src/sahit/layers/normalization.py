"""Normalization layers: conditional batch norm (de Vries et al. 2017; SAGAN's G) and batch norm
whose statistics can be synchronised across processes (``enable_sync_batch_norm``).

``torch.nn.SyncBatchNorm`` only runs on GPUs (NCCL); the synchronisation here is a differentiable
all-reduce of per-channel sums, so it works with gloo on the CPU too.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from .embedding import embed_classes
from .spectral import init_weight, maybe_spectral_norm


def sync_batch_norm(x: torch.Tensor, bn: nn.modules.batchnorm._BatchNorm) -> torch.Tensor:
    """Training-mode batch norm of ``x`` (N, C, ...) with statistics over every process's batch.

    Updates ``bn``'s running statistics with the global mean and unbiased variance.
    """
    from torch.distributed.nn.functional import all_reduce

    c = x.shape[1]
    dims = [0, *range(2, x.dim())]
    xf = x.float()
    count = torch.full((1,), x.numel() // c, dtype=torch.float32, device=x.device)
    stats = all_reduce(torch.cat([xf.sum(dims), (xf * xf).sum(dims), count]))  # (2C + 1,) summed over ranks
    total = stats[-1]
    mean = stats[:c] / total
    var = (stats[c : 2 * c] / total - mean * mean).clamp_min(0)
    if bn.track_running_stats:
        with torch.no_grad():
            momentum = 0.1 if bn.momentum is None else bn.momentum
            bn.running_mean.lerp_(mean.detach().to(bn.running_mean.dtype), momentum)
            bn.running_var.lerp_((var.detach() * total / (total - 1)).to(bn.running_var.dtype), momentum)
            bn.num_batches_tracked.add_(1)
    shape = [1, c] + [1] * (x.dim() - 2)
    out = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + bn.eps)
    if bn.affine:
        out = out * bn.weight.view(shape) + bn.bias.view(shape)
    return out.to(x.dtype)


class _SyncableStats:
    """Mixin for batch norms: with ``sync = True`` and a process group, statistics are global."""

    sync: bool = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.sync and self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            return sync_batch_norm(x, self)
        return super().forward(x)


class SyncableBatchNorm1d(_SyncableStats, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` whose statistics can be synchronised across processes."""


class SyncableBatchNorm2d(_SyncableStats, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose statistics can be synchronised across processes."""


def enable_sync_batch_norm(module: nn.Module) -> int:
    """Switch every syncable batch norm inside ``module`` to global statistics; returns how many."""
    layers = [m for m in module.modules() if isinstance(m, _SyncableStats)]
    for m in layers:
        m.sync = True
    return len(layers)


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm without its own affine, then a per-class gain and bias.

    ``out = gain[y] * BN(x) + bias[y]``, gains initialised at 1 and biases at 0, so at
    initialisation it equals plain BN. ``y`` may also be class weights (B, K): gain and bias
    are then the weighted mix of the classes' (see :func:`embed_classes`). The embeddings are not spectrally normalised
    (as in BigGAN-PyTorch): normalising an all-ones gain table would shrink it far below 1.

    ``spectral_norm_dim`` (0 or 1) is StudioGAN's form instead: ``gain = 1 + E_gain[y]`` with spectrally
    normalised tables, initialised by ``init``; dim 0 normalises the (K, C) table (its ``embed0/embed1``,
    before 2022-01-25), dim 1 its transpose (C, K), the weight of its linear layers on one-hot y (since 2022-03-06).
    """

    def __init__(self, num_features: int, num_classes: int, eps: float = 1e-5, momentum: float = 0.1,
                 spectral_norm_dim: int | None = None, n_power_iterations: int = 1, init: str = "orthogonal") -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"ConditionalBatchNorm2d needs num_classes >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.bn = SyncableBatchNorm2d(num_features, eps=eps, momentum=momentum, affine=False)
        self.gain = nn.Embedding(num_classes, num_features)
        self.bias = nn.Embedding(num_classes, num_features)
        self.gain_offset = 0.0 if spectral_norm_dim is None else 1.0
        if spectral_norm_dim is None:
            nn.init.ones_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)
        else:
            for table in (self.gain, self.bias):
                init_weight(table.weight, init)
            self.gain = maybe_spectral_norm(self.gain, True, n_power_iterations, dim=spectral_norm_dim)
            self.bias = maybe_spectral_norm(self.bias, True, n_power_iterations, dim=spectral_norm_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gain = embed_classes(self.gain, y)[:, :, None, None]  # (B, C, 1, 1)
        if self.gain_offset:
            gain = gain + self.gain_offset
        bias = embed_classes(self.bias, y)[:, :, None, None]
        return torch.addcmul(bias, self.bn(x), gain)


class BatchNorm2d(SyncableBatchNorm2d):
    """Plain affine batch norm with the conditional layer's call signature (``y`` ignored)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x)


def batch_norm_2d(num_features: int, num_classes: int, momentum: float = 0.1, eps: float = 1e-5,
                  **cbn_args: Any) -> nn.Module:
    """Conditional batch norm when ``num_classes > 0``, plain batch norm otherwise.

    ``momentum`` is torch's (the weight of the new batch in the running statistics): 0.001 is the
    official SAGAN code's conditional batch norm (TF decay 0.999), 0.1 torch's and BigGAN's default.
    ``eps``: 1e-5 is torch's, 1e-4 StudioGAN's. ``cbn_args`` go to :class:`ConditionalBatchNorm2d`.
    """
    if num_classes > 0:
        return ConditionalBatchNorm2d(num_features, num_classes, eps=eps, momentum=momentum, **cbn_args)
    return BatchNorm2d(num_features, eps=eps, momentum=momentum)
