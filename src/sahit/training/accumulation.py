"""Gradient accumulation: each process's share of the batch in ``accum_steps`` micro-batches, gradients
summed before one optimiser step (BigGAN-PyTorch's ``num_D_accumulations`` / ``num_G_accumulations``).

What the networks see under ``accum_steps = K``:

- D step: G makes the whole share of fakes in one pass without gradients (as without accumulation), then D's
  loss runs on K micro-batches of reals and fakes, each weighted 1/K. D has no batch norm, and every
  micro-batch is normalised by the same sigma (the first advances D's power iteration once, the others use
  the stored ``u, v``), so D's gradient is the unsplit batch's up to round-off. R1 and bCR are per-image
  means, so they split the same way; DiffAugment draws per micro-batch.
- G step: G and D run on K micro-batches of fresh latents. G's batch norms normalise each micro-batch by its
  own statistics (a smaller batch than without accumulation) and update their running statistics K times;
  G's and D's power iterations advance once per step, as without accumulation.

Memory: the activations kept for backward are those of one micro-batch, so a step's peak falls
(``python -m benchmarks.accumulation_memory``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..layers.spectral import paused_power_iteration

if TYPE_CHECKING:
    from .loop import Trainer


def _split(t: torch.Tensor | None, k: int) -> list[torch.Tensor | None]:
    return [None] * k if t is None else list(t.chunk(k))


def accumulated_d_grads(trainer: Trainer, real: torch.Tensor, y_real, fake: torch.Tensor, y_fake,
                        with_r1: bool) -> tuple[torch.Tensor, dict]:
    """D's gradients of ``trainer.d_loss`` over the batch, summed from ``accum_steps`` micro-batches (fresh grads,
    averaged over processes). Returns the batch's loss and stats (means over the micro-batches)."""
    k = trainer.cfg.optim.accum_steps
    trainer.opt_d.zero_grad(set_to_none=True)
    total, stats = 0.0, {}
    parts = zip(real.chunk(k), _split(y_real, k), fake.chunk(k), _split(y_fake, k))
    for j, (r, yr, f, yf) in enumerate(parts):
        with paused_power_iteration(trainer.D, paused=j > 0):
            loss, part_stats = trainer.objective.d_loss(r, yr, f, yf, with_r1)
        trainer.scaler_d.scale(loss / k).backward()
        total = total + loss.detach() / k
        for name, value in part_stats.items():
            stats[name] = stats.get(name, 0) + value / k
    trainer.dist.average_gradients(trainer.D)
    return total, stats


def accumulated_g_grads(trainer: Trainer) -> torch.Tensor:
    """G's gradients of its loss on one batch of fresh latents in ``accum_steps`` micro-batches; returns the loss."""
    k = trainer.cfg.optim.accum_steps
    z, y_fake = trainer.latents()
    trainer.opt_g.zero_grad(set_to_none=True)
    total = 0.0
    with trainer.objective.g_step_view():
        for j, (zj, yj) in enumerate(zip(z.chunk(k), _split(y_fake, k))):
            with paused_power_iteration(trainer.G, j > 0), paused_power_iteration(trainer.D, j > 0), \
                    trainer.autocast():
                fake = trainer.G_run(zj, yj)
                loss = trainer.objective.g_loss(fake, yj)
            trainer.scaler_g.scale(loss / k).backward()
            total = total + loss.detach() / k
    trainer.dist.average_gradients(trainer.G)
    return total
