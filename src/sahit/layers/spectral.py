"""Spectral normalization (Miyato et al. 2018) through torch's own parametrization.

When is ``u`` updated?  ``torch.nn.utils.parametrizations.spectral_norm`` runs
``n_power_iterations`` steps of power iteration every time the weight is read while the
module is in training mode, i.e. once per forward call; in eval mode the stored ``u, v``
are reused and the weight is a pure function of them. A discriminator called twice in one
step (real, then fake) therefore advances ``u`` twice; one concatenated real+fake pass
advances it once.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import _SpectralNorm
from torch.nn.utils.parametrizations import spectral_norm as _torch_spectral_norm

SN_EPS = 1e-6


class _Float32SpectralNorm(_SpectralNorm):
    """torch's spectral norm with autocast switched off: power iteration and sigma stay in float32."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=weight.device.type, enabled=False):
            return super().forward(weight)


def maybe_spectral_norm(module: nn.Module, enabled: bool = True, n_power_iterations: int = 1) -> nn.Module:
    """Wrap ``module`` (conv, linear or embedding) with spectral normalization if ``enabled``."""
    if not enabled:
        return module
    if n_power_iterations < 1:
        raise ValueError(f"n_power_iterations must be >= 1, got {n_power_iterations}")
    module = _torch_spectral_norm(module, n_power_iterations=n_power_iterations, eps=SN_EPS)
    module.parametrizations.weight[0].__class__ = _Float32SpectralNorm
    return module


def largest_singular_value(weight: torch.Tensor) -> float:
    """The exact largest singular value of ``weight`` reshaped to (out, -1), in float64."""
    return torch.linalg.matrix_norm(weight.detach().double().flatten(1), ord=2).item()


class SpectralNormFactory:
    """Builds conv / linear / embedding layers with spectral norm switched on or off.

    One object per network keeps the choice (on/off, power iterations) in one place.
    """

    def __init__(self, enabled: bool = True, n_power_iterations: int = 1) -> None:
        self.enabled = enabled
        self.n_power_iterations = n_power_iterations

    def wrap(self, module: nn.Module) -> nn.Module:
        """Orthogonal initialisation (as BigGAN and StudioGAN), then spectral norm if enabled."""
        nn.init.orthogonal_(module.weight)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
        return maybe_spectral_norm(module, self.enabled, self.n_power_iterations)

    def conv(self, c_in: int, c_out: int, kernel_size: int, bias: bool = True) -> nn.Module:
        return self.wrap(nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=bias))

    def linear(self, f_in: int, f_out: int, bias: bool = True) -> nn.Module:
        return self.wrap(nn.Linear(f_in, f_out, bias=bias))

    def embedding(self, num: int, dim: int) -> nn.Module:
        return self.wrap(nn.Embedding(num, dim))
