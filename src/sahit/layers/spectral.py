"""Spectral normalization (Miyato et al. 2018) through torch's own parametrization.

When is ``u`` updated?  ``torch.nn.utils.parametrizations.spectral_norm`` runs
``n_power_iterations`` steps of power iteration every time the weight is read while the
module is in training mode, i.e. once per forward call; in eval mode the stored ``u, v``
are reused and the weight is a pure function of them. A discriminator called twice in one
step (real, then fake) therefore advances ``u`` twice; one concatenated real+fake pass
advances it once. The trainer advances D's ``u`` once per iteration, in the D step, as the
official SAGAN code does (``frozen_power_iteration`` around the G step's D pass).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import _SpectralNorm
from torch.nn.utils.parametrizations import spectral_norm as _torch_spectral_norm

SN_EPS = 1e-6


class _Float32SpectralNorm(_SpectralNorm):
    """torch's spectral norm with autocast switched off: power iteration and sigma stay in float32.

    ``iterate_in_eval = True`` runs the power iteration in eval mode too (and keeps its ``u, v``), as
    StudioGAN's sampling does: its ``prepare_generator`` puts G in eval mode, then its conv, linear and
    embedding layers back in train mode, so every sampling call advances their spectral norms once. That
    iteration takes the order of torch's older hook (``torch.nn.utils.spectral_norm``, which StudioGAN uses:
    v from u, then u from v); the parametrization's own goes u from v, then v from u.
    """

    iterate_in_eval: bool = False

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=weight.device.type, enabled=False):
            if self.iterate_in_eval and not self.training and weight.ndim > 1:
                self._hook_order_power_iteration(self._reshape_weight_to_matrix(weight.detach()))
            return super().forward(weight)

    @torch.no_grad()
    def _hook_order_power_iteration(self, weight_mat: torch.Tensor) -> None:
        for _ in range(self.n_power_iterations):
            F.normalize(torch.mv(weight_mat.t(), self._u), dim=0, eps=self.eps, out=self._v)
            F.normalize(torch.mv(weight_mat, self._v), dim=0, eps=self.eps, out=self._u)


def maybe_spectral_norm(module: nn.Module, enabled: bool = True, n_power_iterations: int = 1,
                        dim: int | None = None) -> nn.Module:
    """Wrap ``module`` (conv, linear or embedding) with spectral normalization if ``enabled``.

    ``dim``: the weight's dimension that becomes the rows of the normalised matrix (torch's default:
    0, or 1 for transposed convs); ``dim=1`` on an embedding (K, C) normalises its transpose (C, K), the
    weight of a linear layer on one-hot classes, with that layer's power iteration.
    """
    if not enabled:
        return module
    if n_power_iterations < 1:
        raise ValueError(f"n_power_iterations must be >= 1, got {n_power_iterations}")
    module = _torch_spectral_norm(module, n_power_iterations=n_power_iterations, eps=SN_EPS, dim=dim)
    module.parametrizations.weight[0].__class__ = _Float32SpectralNorm
    return module


def set_eval_power_iteration(module: nn.Module, enabled: bool = True) -> int:
    """Make every spectral norm inside ``module`` run its power iteration in eval mode too; returns how many."""
    norms = spectral_norms(module)
    for sn in norms:
        sn.iterate_in_eval = enabled
    return len(norms)


def spectral_norms(module: nn.Module) -> list[_SpectralNorm]:
    """Every spectral-norm parametrization inside ``module``, in module order."""
    return [m for m in module.modules() if isinstance(m, _SpectralNorm) and hasattr(m, "_u")]


@contextlib.contextmanager
def frozen_power_iteration(module: nn.Module) -> Iterator[None]:
    """Forward passes inside run their power iteration as usual but leave the stored ``u, v`` as they were.

    The official SAGAN code builds D's pass on fakes with ``update_collection="NO_OPS"``: that pass
    computes one iteration from the stored ``u`` without assigning it, so ``u`` advances once per
    D step and never in the G step. (The weights a pass used are cloned, so backward is unaffected.)
    """
    norms = spectral_norms(module)
    saved = [(sn._u.clone(), sn._v.clone()) for sn in norms]
    try:
        yield
    finally:
        with torch.no_grad():
            for sn, (u, v) in zip(norms, saved):
                sn._u.copy_(u)
                sn._v.copy_(v)


@contextlib.contextmanager
def paused_power_iteration(module: nn.Module, paused: bool = True) -> Iterator[None]:
    """Forward passes inside use the stored ``u, v`` without iterating (as in eval mode), the rest of
    ``module`` staying in its mode. For micro-batches after the first of a step: every micro-batch then
    normalises by the sigma the unsplit batch would have used. ``paused=False``: no change."""
    norms = spectral_norms(module) if paused else []
    modes = [sn.training for sn in norms]
    for sn in norms:
        sn.training = False
    try:
        yield
    finally:
        for sn, mode in zip(norms, modes):
            sn.training = mode


@torch.no_grad()
def advance_power_iteration(module: nn.Module) -> None:
    """Run each layer's power iterations (``n_power_iterations``) on every spectrally normalised weight.

    For an averaged copy of a network (the EMA generator): its own ``u, v`` then track the averaged
    weights' top singular vectors, as the live network's track its weights'.
    """
    for sn, weight in _norms_and_weights(module):
        sn._power_method(sn._reshape_weight_to_matrix(weight), sn.n_power_iterations)


def _norms_and_weights(module: nn.Module) -> Iterator[tuple[_SpectralNorm, torch.Tensor]]:
    for m in module.modules():
        plist = getattr(getattr(m, "parametrizations", None), "weight", None)
        if plist is not None and isinstance(plist[0], _SpectralNorm) and hasattr(plist[0], "_u"):
            yield plist[0], plist.original


def largest_singular_value(weight: torch.Tensor) -> float:
    """The exact largest singular value of ``weight`` reshaped to (out, -1), in float64."""
    return torch.linalg.matrix_norm(weight.detach().double().flatten(1), ord=2).item()


INITS = ("xavier", "orthogonal")


def init_weight(weight: torch.Tensor, init: str) -> None:
    """Glorot-uniform (``"xavier"``) or orthogonal initialisation of a conv / linear / embedding weight."""
    if init == "xavier":
        nn.init.xavier_uniform_(weight)
    elif init == "orthogonal":
        nn.init.orthogonal_(weight)
    else:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")


class SpectralNormFactory:
    """Builds conv / linear / embedding layers with spectral norm switched on or off.

    One object per network keeps the choice (on/off, power iterations, initialisation) in one place.
    ``init`` is ``"xavier"`` (Glorot-uniform: the official SAGAN code and BigGAN-PyTorch's SAGAN
    script) or ``"orthogonal"`` (StudioGAN's and BigGAN's default); biases start at 0.
    """

    def __init__(self, enabled: bool = True, n_power_iterations: int = 1, init: str = "orthogonal") -> None:
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.enabled = enabled
        self.n_power_iterations = n_power_iterations
        self.init = init

    def wrap(self, module: nn.Module) -> nn.Module:
        """Initialise the weight (``self.init``) and zero the bias, then spectral norm if enabled."""
        init_weight(module.weight, self.init)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
        return maybe_spectral_norm(module, self.enabled, self.n_power_iterations)

    def conv(self, c_in: int, c_out: int, kernel_size: int, bias: bool = True) -> nn.Module:
        return self.wrap(nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=bias))

    def linear(self, f_in: int, f_out: int, bias: bool = True) -> nn.Module:
        return self.wrap(nn.Linear(f_in, f_out, bias=bias))

    def embedding(self, num: int, dim: int) -> nn.Module:
        return self.wrap(nn.Embedding(num, dim))
