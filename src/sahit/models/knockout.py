"""Knock-outs: remove an attention layer's contribution from a network for a while, then put it back.

A *contribution* is the attention branch of one residual update, named by its module path:

- SAGAN (:class:`~sahit.layers.self_attention.SelfAttention2d`, ``y = gamma * o + x``): knocked out by
  ``gamma = 0``, so the layer passes ``x`` on unchanged.
- HiT (``stages.i.layers.j``: a multi-axis (regional + dilated) or global self-attention layer;
  ``stages.i.cross``: cross-attention to the latent tokens), ``t = mlp(t + attn(norm(t)))``:
  knocked out by skipping the branch (its output replaced by zeros), so the layer is ``mlp(t)``.

The names are the ones ``layer_attention`` / ``sahit attention`` use, so a map and its knock-out match.

    with knocked_out(G, ["stages.1.cross"]):
        images = G.sample(16, seed=0)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..layers.self_attention import SelfAttention2d
from .hit import CrossAttentionLayer, SelfAttentionLayer

# Residual layers whose attention branch ends in ``attn.proj``: its output is what the residual adds.
# (The hook sits on ``proj``, not ``attn``: multi-axis layers call ``attn.forward_blocked``, which hooks miss.)
BRANCH_LAYERS = (SelfAttentionLayer, CrossAttentionLayer)


def branch_output_module(layer: nn.Module) -> nn.Module:
    """The module whose output is a HiT layer's attention branch (the attention's output projection)."""
    return layer.attn.proj


def knockout_names(model: nn.Module) -> list[str]:
    """Module paths of every attention contribution of ``model`` that :func:`knocked_out` can remove,
    in module order (empty for a network without attention)."""
    return [name for name, m in model.named_modules() if isinstance(m, (SelfAttention2d, *BRANCH_LAYERS))]


@contextmanager
def knocked_out(model: nn.Module, names: str | Iterable[str]) -> Iterator[nn.Module]:
    """Within the block, the named attention contributions of ``model`` are removed; after it the
    model is exactly as before (parameters restored bit for bit, hooks removed), even on an error.

    ``names``: one module path or several (see :func:`knockout_names`); an empty list changes nothing.
    Raises ValueError naming the valid paths for an unknown one (or saying the model has none).
    Yields ``model``.
    """
    names = [names] if isinstance(names, str) else list(names)
    modules = dict(model.named_modules())
    valid = knockout_names(model)
    for name in names:
        if name not in valid:
            if not valid:
                raise ValueError(f"{type(model).__name__} has no attention layers to knock out (asked for {name!r})")
            raise ValueError(f"no attention contribution named {name!r}; this model has {', '.join(valid)}")
    saved_gammas: list[tuple[nn.Parameter, torch.Tensor]] = []
    handles = []
    try:
        for name in dict.fromkeys(names):  # each once, in the order given
            module = modules[name]
            if isinstance(module, SelfAttention2d):
                saved_gammas.append((module.gamma, module.gamma.detach().clone()))
                with torch.no_grad():
                    module.gamma.zero_()
            else:
                handles.append(branch_output_module(module).register_forward_hook(_zero_branch))
        yield model
    finally:
        for handle in handles:
            handle.remove()
        with torch.no_grad():
            for gamma, value in reversed(saved_gammas):
                gamma.copy_(value)


def _zero_branch(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    """Forward hook on the branch's output projection: the branch adds nothing (the layer still computes
    its attention maps, so viz can draw them)."""
    return torch.zeros_like(output)
