"""How much each attention layer adds to its residual stream: gamma and ||branch|| / ||input||.

For every contribution :func:`~sahit.models.knockout.knockout_names` lists, one forward pass measures

- ``ratio``: ||attention branch|| / ||residual input||, Frobenius norms over the whole batch
  (SAGAN: ||gamma * v(o)|| / ||x||; HiT: ||attn(norm(t))|| / ||t||), so SAGAN's layers and HiT's
  blocks are on one scale: 0 means the layer adds nothing;
- ``gamma``: SAGAN's learned scale (layers without one have no ``gamma`` key).
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers.self_attention import SelfAttention2d
from .knockout import branch_output_module, knockout_names


@torch.no_grad()
def attention_contributions(model: nn.Module, *inputs: torch.Tensor | None) -> dict[str, dict[str, float]]:
    """``{name: {"ratio": r, "gamma": g}}`` for every attention contribution of ``model``, from ``model(*inputs)``.

    Runs in eval mode (no batch-norm statistics or spectral-norm vectors move) and puts the mode back;
    the parameters are untouched and no random numbers are drawn. Empty for a network without attention.
    """
    modules = dict(model.named_modules())
    names = knockout_names(model)
    if not names:
        return {}
    sums: dict[str, list[float]] = {name: [0.0, 0.0] for name in names}  # squared norms: branch, input
    handles = []

    def on_input(name: str):
        def hook(module, args):
            sums[name][1] += float(args[0].detach().float().square().sum())
        return hook

    def on_branch(name: str, scale: nn.Parameter | None):
        def hook(module, args, output):
            norm2 = float(output.detach().float().square().sum())
            sums[name][0] += norm2 * (float(scale) ** 2 if scale is not None else 1.0)
        return hook

    for name in names:
        module = modules[name]
        handles.append(module.register_forward_pre_hook(on_input(name)))
        if isinstance(module, SelfAttention2d):  # y = gamma * v(o) + x: the branch is gamma times v's output
            handles.append(module.v.register_forward_hook(on_branch(name, module.gamma)))
        else:  # t + attn(norm(t)): the branch is the attention's output projection
            handles.append(branch_output_module(module).register_forward_hook(on_branch(name, None)))
    was_training = model.training
    model.eval()
    try:
        model(*inputs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    out: dict[str, dict[str, float]] = {}
    for name in names:
        branch, residual = sums[name]
        entry = {"ratio": (branch / residual) ** 0.5 if residual > 0 else float("nan")}
        gamma = getattr(modules[name], "gamma", None)
        if isinstance(gamma, torch.Tensor):
            entry["gamma"] = float(gamma)
        out[name] = entry
    return out
