"""Exponential moving average of the generator's weights (and batch-norm statistics)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..layers.spectral import advance_power_iteration

EMA_SPECTRAL_NORM = ("power_iteration", "copy")


def halflife_decay(step: int, batch_size: int, halflife_kimg: float, rampup: float = 0.0) -> float:
    """The EMA decay of update ``step`` (1-based) whose half-life is ``halflife_kimg`` thousand images.

    StyleGAN2-ADA's schedule: each step's ``batch_size`` images shrink the old average's weight so
    that it halves every ``halflife_kimg * 1000`` images; with ``rampup > 0`` the half-life is at most
    ``rampup`` times the images seen so far (``step * batch_size``), so early on, when G changes fast,
    the average forgets quickly instead of holding on to the first, poor generators. (StyleGAN2-ADA
    counts the images before the update, one batch fewer: a difference only in the first few steps.)
    """
    halflife = halflife_kimg * 1000.0
    if rampup > 0:
        halflife = min(halflife, rampup * step * batch_size)
    if halflife <= 0:
        return 0.0
    return 0.5 ** (batch_size / halflife)


class EMA:
    """``ema = decay * ema + (1 - decay) * current`` for parameters and floating buffers.

    Before ``start`` steps the copy simply follows the network. With ``halflife_kimg > 0`` each step's
    decay is :func:`halflife_decay`'s instead (``decay`` and ``start`` are then unused; ``batch_size``
    is the images of one step). Floating buffers (batch-norm running statistics) are averaged too, as
    HiT does. Spectral norm's power-iteration vectors ``_u``/``_v`` (``spectral_norm``):

    * ``"power_iteration"`` (default): the copy keeps its own, advanced by the layers' power
      iterations on the *averaged* weights after every update, so its effective weights have
      largest singular value ~1 as the live network's do (BigGAN-PyTorch likewise runs power
      iteration on its averaged weights, StudioGAN averages u and v);
    * ``"copy"``: the live network's vectors, which track the live weights, not the averaged ones
      (sahit 0.1.0: the averaged layers' sigma is then underestimated by a little).
    """

    def __init__(self, net: nn.Module, decay: float, start: int = 0, spectral_norm: str = "power_iteration",
                 halflife_kimg: float = 0.0, rampup: float = 0.0, batch_size: int = 1) -> None:
        if spectral_norm not in EMA_SPECTRAL_NORM:
            raise ValueError(f"spectral_norm must be one of {EMA_SPECTRAL_NORM}, got {spectral_norm!r}")
        self.decay, self.start, self.spectral_norm = decay, start, spectral_norm
        self.halflife_kimg, self.rampup, self.batch_size = halflife_kimg, rampup, batch_size
        self.net = copy.deepcopy(net).eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        """The decay of the update after ``step`` G steps (a pure function of the step: resumes reproduce it)."""
        if self.halflife_kimg > 0:
            return halflife_decay(step, self.batch_size, self.halflife_kimg, self.rampup)
        return self.decay if step >= self.start else 0.0

    @torch.no_grad()
    def update(self, net: nn.Module, step: int) -> None:
        decay = self.decay_at(step)
        ema_params = list(self.net.parameters())
        params = [p.detach() for p in net.parameters()]
        if decay == 0.0:
            torch._foreach_copy_(ema_params, params)
        else:
            torch._foreach_lerp_(ema_params, params, 1.0 - decay)
        own_vectors = decay > 0 and self.spectral_norm == "power_iteration"
        for (name, b_ema), b in zip(self.net.named_buffers(), net.buffers()):
            power_vector = name.endswith(("_u", "_v"))
            if power_vector and own_vectors:
                continue
            if b.is_floating_point() and decay > 0 and not power_vector:
                b_ema.lerp_(b, 1.0 - decay)
            else:
                b_ema.copy_(b)
        if own_vectors:
            advance_power_iteration(self.net)

    def state_dict(self) -> dict:
        return self.net.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state)
