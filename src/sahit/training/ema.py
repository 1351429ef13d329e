"""Exponential moving average of the generator's weights (and batch-norm statistics)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """``ema = decay * ema + (1 - decay) * current`` for parameters and floating buffers.

    Before ``start`` steps the copy simply follows the network. Floating buffers (batch-norm
    running statistics) are averaged too, as HiT does; spectral norm's power-iteration vectors
    ``_u``/``_v`` are copied, since they track the current weights' top singular vectors.
    """

    def __init__(self, net: nn.Module, decay: float, start: int = 0) -> None:
        self.decay, self.start = decay, start
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
        for (name, b_ema), b in zip(self.net.named_buffers(), net.buffers()):
            if b.is_floating_point() and decay > 0 and not name.endswith(("_u", "_v")):
                b_ema.lerp_(b, 1.0 - decay)
            else:
                b_ema.copy_(b)

    def state_dict(self) -> dict:
        return self.net.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state)
