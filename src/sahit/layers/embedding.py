"""Class embeddings that also take a mix of classes (for class interpolation)."""

from __future__ import annotations

import torch
from torch import nn


def embed_classes(table: nn.Embedding, y: torch.Tensor) -> torch.Tensor:
    """Rows of ``table`` for class indices ``y`` (B,), or ``y @ table.weight`` for class weights ``y`` (B, K).

    Weights mix the class rows linearly, so a one-hot row gives exactly that class's row; this is
    how a generator with ``soft_classes = True`` interpolates between classes (StudioGAN interpolates
    the class embedding the same way).
    """
    if y.is_floating_point():
        return y.to(table.weight.dtype) @ table.weight  # (B, K) @ (K, C) -> (B, C)
    return table(y)
