"""Exponential moving average of the generator's weights (and batch-norm statistics)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..layers.spectral import advance_power_iteration

EMA_SPECTRAL_NORM = ("power_iteration", "copy")


class EMA:
    """``ema = decay * ema + (1 - decay) * current`` for parameters and floating buffers.

    Before ``start`` steps the copy simply follows the network. Floating buffers (batch-norm
    running statistics) are averaged too, as HiT does. Spectral norm's power-iteration vectors
    ``_u``/``_v`` (``spectral_norm``):

    * ``"power_iteration"`` (default): the copy keeps its own, advanced by the layers' power
      iterations on the *averaged* weights after every update, so its effective weights have
      largest singular value ~1 as the live network's do (BigGAN-PyTorch likewise runs power
      iteration on its averaged weights, StudioGAN averages u and v);
    * ``"copy"``: the live network's vectors, which track the live weights, not the averaged ones
      (sahit before issue #18: the averaged layers' sigma is then underestimated by a little).
    """

    def __init__(self, net: nn.Module, decay: float, start: int = 0, spectral_norm: str = "power_iteration") -> None:
        if spectral_norm not in EMA_SPECTRAL_NORM:
            raise ValueError(f"spectral_norm must be one of {EMA_SPECTRAL_NORM}, got {spectral_norm!r}")
        self.decay, self.start, self.spectral_norm = decay, start, spectral_norm
        self.net = copy.deepcopy(net).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module, step: int) -> None:
        decay = self.decay if step >= self.start else 0.0
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
