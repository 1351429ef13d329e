"""GAN losses, each a pair of small functions of the discriminator's logits.

A loss is registered by name; ``get_loss(name)`` returns a ``GANLoss`` with
``d_loss(real_logits, fake_logits)`` and ``g_loss(fake_logits)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._suggest import suggest

Tensor = torch.Tensor


def hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    """Hinge loss for D (SAGAN): ``E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]``."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g(fake: Tensor) -> Tensor:
    """Hinge loss for G: ``-E[D(G(z))]``."""
    return -fake.mean()


def logistic_d(real: Tensor, fake: Tensor) -> Tensor:
    """Logistic loss for D: ``E[softplus(-D(x))] + E[softplus(D(G(z)))]``."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def logistic_ns_g(fake: Tensor) -> Tensor:
    """Non-saturating logistic loss for G: ``E[softplus(-D(G(z)))]``."""
    return F.softplus(-fake).mean()


def wasserstein_d(real: Tensor, fake: Tensor) -> Tensor:
    """Wasserstein critic loss: ``E[D(G(z))] - E[D(x)]`` (pair with a Lipschitz constraint)."""
    return fake.mean() - real.mean()


def wasserstein_g(fake: Tensor) -> Tensor:
    """Wasserstein generator loss: ``-E[D(G(z))]``."""
    return -fake.mean()


@dataclass(frozen=True)
class GANLoss:
    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]


LOSSES: dict[str, GANLoss] = {
    "hinge": GANLoss("hinge", hinge_d, hinge_g),
    "logistic": GANLoss("logistic", logistic_d, logistic_ns_g),
    "wasserstein": GANLoss("wasserstein", wasserstein_d, wasserstein_g),
}


def get_loss(name: str) -> GANLoss:
    """The loss registered under ``name`` (``hinge``, ``logistic``, ``wasserstein``)."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}{suggest(name, list(LOSSES))} (available: {', '.join(LOSSES)})")
    return LOSSES[name]


def r1_penalty(real_logits: Tensor, real_images: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): ``mean over the batch of sum(grad_x D(x)^2)``; multiply by gamma/2 or weight."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()
