"""The GAN objective: what D and G minimise, as one object the trainer calls.

:class:`Objective` holds ``cfg.objective``'s loss (``hinge``, ``logistic``, ...; :mod:`sahit.losses`), its
regularisers (R1 with lazy ``r1_every``, bCR) and DiffAugment on every image D sees (``augment``). The
trainer asks it for ``d_loss`` (D's loss on one pass over reals and fakes), ``g_loss`` (G's loss on D's
logits of fakes) or ``simultaneous_losses`` (both from one D pass, HiT's update), inside
``g_step_view`` for G's step; it keeps the optimisers, the data and the order of updates.

Adding a regulariser of D: a function ``term(objective, d_pass) -> Tensor | None`` in :data:`D_REGULARISERS`
(here) and its fields in ``ObjectiveConfig`` (training/config/sections.py); docs/adding-a-model.md shows one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..augment import diff_augment, parse_augment
from ..layers.spectral import frozen_power_iteration
from ..losses import get_loss, r1_penalty
from .config import ObjectiveConfig

Tensor = torch.Tensor


@dataclass
class DPass:
    """One pass of D over reals then fakes, as the regularisers see it."""

    real: Tensor  # the un-augmented reals (requiring grad when R1 is due)
    both: Tensor  # reals then fakes, un-augmented
    labels: Tensor | None
    logits: Tensor  # D's logits (float) on what it saw of ``both``
    n_real: int
    with_r1: bool  # R1 is due in this D step


def r1_term(objective: Objective, d: DPass) -> Tensor | None:
    """R1 on the reals, lazily (StyleGAN2): on every ``r1_every``-th D step, weighted by ``r1_every`` to keep its
    strength. The gradient is taken with respect to the un-augmented reals, through the augmentation
    (as StyleGAN2-ADA does)."""
    if not d.with_r1:
        return None
    cfg = objective.cfg
    return cfg.r1_gamma * cfg.r1_every * r1_penalty(d.logits[: d.n_real], d.real)


def bcr_term(objective: Objective, d: DPass) -> Tensor | None:
    """Balanced consistency regularisation: D's logits on a fresh ``bcr_policy`` draw of the un-augmented images
    pulled towards its logits on the images it was trained on."""
    cfg = objective.cfg
    if not cfg.bcr_weight > 0:
        return None
    with objective.autocast():
        aug_logits = objective.D_run(diff_augment(d.both.detach(), cfg.bcr_policy), d.labels).float()
    sq = (aug_logits - d.logits).square()
    return cfg.bcr_weight * (sq[: d.n_real].mean() + sq[d.n_real :].mean())


# Added to D's loss in this order.
D_REGULARISERS: tuple[Callable[[Objective, DPass], Tensor | None], ...] = (r1_term, bcr_term)


class Objective:
    """G's and D's losses as ``cfg`` (the objective section) defines them, for the networks ``D`` / ``D_run``
    (``D_run``: the compiled D where ``compile`` is on; R1's double backward needs the eager ``D``)."""

    def __init__(self, cfg: ObjectiveConfig, D: nn.Module, D_run: nn.Module, conditional: bool,
                 autocast: Callable[[], contextlib.AbstractContextManager], aug_gen: torch.Generator) -> None:
        self.cfg, self.D, self.D_run, self.conditional, self.autocast = cfg, D, D_run, conditional, autocast
        self.loss = get_loss(cfg.loss)
        self.augment_policy = parse_augment(cfg.augment)
        self.aug_gen = aug_gen  # DiffAugment's own stream (checkpointed with the trainer's RNG states)

    def augment(self, images: Tensor) -> Tensor:
        """What D sees of ``images``: DiffAugment with ``augment``'s policy (differentiable), or them unchanged."""
        if not self.augment_policy:
            return images
        return diff_augment(images, self.augment_policy, generator=self.aug_gen)

    def r1_due(self, d_step: int) -> bool:
        """Whether the ``d_step``-th D step of the run (from 0) takes R1 (lazy regularisation)."""
        return d_step % self.cfg.r1_every == 0

    def d_loss(self, real: Tensor, y_real: Tensor | None, fake: Tensor, y_fake: Tensor | None,
               with_r1: bool = True, keep_fake_logits: bool = False) -> tuple[Tensor, dict]:
        """D's loss on one concatenated real+fake pass, plus its regularisers (R1 where ``with_r1``, bCR).

        ``keep_fake_logits``: the stats also hold D's logits on ``fake`` with their graph (the simultaneous update).
        """
        b = real.shape[0]
        with_r1 = with_r1 and self.cfg.r1_gamma > 0
        if with_r1:
            real = real.detach().requires_grad_(True)
        both = torch.cat([real, fake])
        labels = torch.cat([y_real, y_fake]) if self.conditional else None
        # R1 differentiates D twice: neither compiled graphs nor fused attention kernels can, eager math can.
        D, kernels = (self.D, sdpa_kernel(SDPBackend.MATH)) if with_r1 else (self.D_run, contextlib.nullcontext())
        with self.autocast(), kernels:
            logits = D(self.augment(both), labels).float()
        real_logits, fake_logits = logits[:b], logits[b:]
        loss = self.loss.d_loss(real_logits, fake_logits)
        d_pass = DPass(real, both, labels, logits, b, with_r1)
        for term in D_REGULARISERS:
            value = term(self, d_pass)
            if value is not None:
                loss = loss + value
        stats = {"d_real": real_logits.detach().mean(), "d_fake": fake_logits.detach().mean()}
        if keep_fake_logits:
            stats["fake_logits"] = fake_logits
        return loss, stats

    def g_loss(self, fake: Tensor, y_fake: Tensor | None) -> Tensor:
        """G's loss on D's logits of (what D sees of) ``fake``; call it inside :meth:`g_step_view` and ``autocast``."""
        return self.loss.g_loss(self.D_run(self.augment(fake), y_fake).float())

    @contextlib.contextmanager
    def g_step_view(self) -> Iterator[None]:
        """D as G's step sees it: no gradient into D's weights, and D's power iteration left where the D step put
        it unless ``d_sn_in_g_step`` (the official SAGAN code advances it in the D step only)."""
        self.D.requires_grad_(False)
        frozen = contextlib.nullcontext() if self.cfg.d_sn_in_g_step else frozen_power_iteration(self.D)
        try:
            with frozen:
                yield
        finally:
            self.D.requires_grad_(True)

    def simultaneous_losses(self, real: Tensor, y_real: Tensor | None, fake: Tensor, y_fake: Tensor | None,
                            with_r1: bool) -> tuple[Tensor, Tensor, dict]:
        """HiT's update: D's loss and G's loss from one D pass (G's on the same fake logits); returns
        ``(loss_d, loss_g, stats)``. Each network's gradient must come from its own loss only."""
        loss_d, stats = self.d_loss(real, y_real, fake, y_fake, with_r1, keep_fake_logits=True)
        return loss_d, self.loss.g_loss(stats.pop("fake_logits")), stats
