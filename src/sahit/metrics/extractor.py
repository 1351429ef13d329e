"""What every feature extractor shares (the base class and hashing helpers); :mod:`.loading` builds one from a spec."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from torch import nn


class FeatureExtractor(nn.Module):
    """Maps images to ``(features (B, feature_dim), logits (B, num_classes))``, both float32.

    Input: (B, 3, H, W) images, either uint8 in [0, 255] or float in [-1, 1] (the generators'
    and data sets' range; quantized to uint8 first, as if saved to PNG, so real and generated
    images are treated alike). Subclasses set the attributes below and implement ``extract``.
    """

    name: str  # e.g. "inception-v3-tf", "domain-cnn"
    spec: str  # what load_extractor was given: "inception" or a path
    weights_hash: str  # sha256 of the weights, or "random-seed<N>" for untrained networks
    feature_dim: int
    num_classes: int

    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (B, 3, H, W), got {tuple(images.shape)}")
        features, logits = self.extract(to_uint8(images))
        return features.float(), logits.float()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def metadata(self) -> dict[str, Any]:
        """Identity of this extractor, recorded beside every number it helps compute."""
        return {"extractor": self.name, "extractor_spec": self.spec, "weights_hash": self.weights_hash}


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 images pass through; float images in [-1, 1] map to round((x + 1) * 127.5)."""
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise ValueError(f"images must be uint8 or float in [-1, 1], got {images.dtype}")
    return ((images.float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def state_dict_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over names, dtypes, shapes and bytes of the tensors, in name order (independent of file format)."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        t = state_dict[key].detach().cpu().contiguous()
        digest.update(f"{key}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
