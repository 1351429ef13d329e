"""Per-pixel attention maps, captured with hooks: what ``layer_attention`` returns for SAGAN-style layers.

:class:`CapturedAttention` holds one map per query *pixel* of a layer's feature map (SAGAN's
:class:`~sahit.layers.self_attention.SelfAttention2d`), captured by :func:`capture_attention`. The other
shape of map, a HiT layer's token maps, is :class:`sahit.models.hit.token_maps.HiTLayerMaps`.

Networks return them from ``Generator.layer_attention`` / ``Discriminator.layer_attention`` (models/base.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..layers.self_attention import SelfAttention2d


@dataclass
class CapturedAttention:
    """What one attention layer computed in one forward pass.

    attn: (B, N, M) softmax probabilities, rows sum to 1 over the M keys.
    query_hw: (H, W) of the layer's input; query n is position (n // W, n % W).
    key_hw: (h, w) of the key grid: (H/2, W/2) when keys are 2x2 max-pooled, else (H, W).
    """

    attn: torch.Tensor
    query_hw: tuple[int, int]
    key_hw: tuple[int, int]

    def key_map(self, b: int, q: int) -> torch.Tensor:
        """Row ``q`` of image ``b`` as a (h, w) map over the key grid."""
        return self.attn[b, q].reshape(self.key_hw)


def attention_layers(model: nn.Module) -> dict[str, SelfAttention2d]:
    """Every SAGAN attention layer of ``model`` by module name (e.g. ``attention.1``)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, SelfAttention2d)}


@torch.no_grad()
def capture_attention(
    model: nn.Module, *inputs: torch.Tensor | None, layers: Sequence[str] | None = None
) -> dict[str, CapturedAttention]:
    """Run ``model(*inputs)`` once and return each attention layer's own probabilities.

    Every selected layer is called with ``return_attention=True`` (its explicit matmul-softmax
    path) through a forward pre-hook; a forward hook keeps the map and hands on the output
    ``y`` alone, so the rest of the network runs unchanged. ``layers`` picks module names
    (default: all). Raises ValueError when the model has no (or not those) attention layers.
    """
    return capture_with_output(model, *inputs, layers=layers)[1]


@torch.no_grad()
def capture_with_output(
    model: nn.Module, *inputs: torch.Tensor | None, layers: Sequence[str] | None = None
) -> tuple[torch.Tensor, dict[str, CapturedAttention]]:
    """``model(*inputs)`` and the maps of :func:`capture_attention`, from the same forward pass."""
    found = attention_layers(model)
    if not found:
        raise ValueError(f"{type(model).__name__} has no self-attention layers: no attention to draw")
    names = list(found) if layers is None else list(layers)
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValueError(f"no attention layer named {unknown[0]!r}; this model has {', '.join(found)}")
    captured: dict[str, CapturedAttention] = {}
    handles = []

    def pre_hook(module, args, kwargs):
        return args, {**kwargs, "return_attention": True}

    def make_hook(name: str):
        def hook(module, args, kwargs, output):
            y, attn = output
            height, width = args[0].shape[-2:]
            key_hw = (height // 2, width // 2) if module.pool_kv else (height, width)
            captured[name] = CapturedAttention(attn.detach().float().cpu(), (height, width), key_hw)
            return y

        return hook

    try:
        for name in names:
            handles.append(found[name].register_forward_pre_hook(pre_hook, with_kwargs=True))
            handles.append(found[name].register_forward_hook(make_hook(name), with_kwargs=True))
        output = model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return output, captured
