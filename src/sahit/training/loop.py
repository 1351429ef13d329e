"""The training loop: D steps then a G step (or HiT's simultaneous update), read top to bottom.

The trainer knows models only through ``build``, ``G(z, y)``, ``D(x, y)`` and the loss
registry; everything a recipe changes (loss, TTUR, n_dis, R1, bCR, EMA) is in TrainConfig.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.data import DataLoader

from ..augment import diff_augment, parse_augment
from ..data import make_dataset
from ..data.memory import InMemory
from ..export import save_generator
from ..images import save_grid
from ..layers.normalization import enable_sync_batch_norm
from ..layers.spectral import frozen_power_iteration
from ..losses import get_loss, r1_penalty
from ..model_card import training_record
from ..models import build, model_config
from ..models.registry import family_of
from ..runs import (
    CHECKPOINTS,
    CONFIG,
    EXPORT,
    LOG,
    SAMPLES,
    SUMMARY,
    TENSORBOARD,
    finished_step,
    sample_noise,
    write_text_atomic,
)
from .accumulation import accumulated_d_grads, accumulated_g_grads
from .attention_log import AttentionLog
from .checkpoint import CheckpointError, CheckpointKeeper, latest_checkpoint, list_checkpoints
from .config import TrainConfig
from .cpu_memory import keep_freed_memory
from .distributed import DistContext, local_rank
from .ema import EMA
from .evaluation import TrainingEvaluator
from .finetune import adopt_source_model, apply_init, check_init_classes, load_init_source, trainable_d_parameters
from .precision import autocast_dtype
from .run_logger import RunLogger
from .sampler import ResumableBatchSampler

log = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Training cannot go on; the message says why and what to do."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; a checkpoint was saved."""

    def __init__(self, signum: int, step: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}")
        self.signum, self.step = signum, step


def select_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; ``auto`` and ``cuda`` mean this process's GPU under torchrun."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrainingError(f"device {name!r} is not a valid torch device (try auto, cpu, cuda, cuda:0, mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device cuda was asked for, but no CUDA GPU is available (use device=auto)")
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return device


def default_num_workers(device: torch.device) -> int:
    """Data-loading processes when ``num_workers=-1``: none on CPU (training needs the cores); on an
    accelerator up to 8 per training process, sharing the machine's cores among its processes."""
    if device.type == "cpu":
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    per_process = cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(0, min(8, per_process - 1))


class Trainer:
    """Trains G and D as ``cfg`` says, writing everything into ``run_dir``."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path) -> None:
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.device = select_device(cfg.device, local_rank())
        self.dist = DistContext.from_env(self.device)
        if cfg.batch_size % (self.dist.world * cfg.accum_steps):
            raise TrainingError(f"batch_size {cfg.batch_size} does not divide evenly over {self.dist.world} processes"
                                + (f" x accum_steps={cfg.accum_steps}" if cfg.accum_steps > 1 else ""))
        self.init_source = load_init_source(cfg.init_from) if cfg.init_from else None
        if self.init_source is not None:
            adopt_source_model(cfg, self.init_source)
        self.amp_dtype = autocast_dtype(cfg.precision, self.device, model_config(cfg.model, **cfg.model_args))
        if self.device.type == "cpu":
            keep_freed_memory()
        self.loss = get_loss(cfg.loss)

        resolution = model_config(cfg.model, **cfg.model_args).resolution
        self.dataset = make_dataset(
            cfg.data, resolution, root=cfg.data_root or None, download=cfg.download,
            seed=cfg.seed, length=cfg.data_length, strict=cfg.strict_data,
            crop=cfg.data_crop, crop_fraction=cfg.data_crop_fraction, interpolation=cfg.data_interpolation,
            holdout=cfg.data_holdout,
        )
        if cfg.data_in_memory:
            self.dataset = InMemory(self.dataset)
        if self.init_source is not None:
            check_init_classes(cfg, getattr(self.dataset, "num_classes", 0), self.init_source.config)
        adapt_num_classes(cfg, getattr(self.dataset, "num_classes", 0))
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        self.G, self.D = build(cfg.model, **cfg.model_args)
        self.G.to(self.device)
        self.D.to(self.device)
        if cfg.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        if self.device.type != "cpu" or cfg.compile:  # label checks sync with the host / break compiled graphs
            self.G.check_inputs = self.D.check_inputs = False
        # batch_size is the global batch (split over processes): the images of one step, whatever the world size
        self.ema = EMA(self.G, cfg.ema_decay, cfg.ema_start, cfg.ema_spectral_norm,
                       halflife_kimg=cfg.ema_kimg, rampup=cfg.ema_rampup, batch_size=cfg.batch_size)
        fused = self.device.type in ("cpu", "cuda")  # one kernel per step instead of one per tensor
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=tuple(cfg.betas_g), eps=cfg.adam_eps,
                                      fused=fused)
        self.opt_d = torch.optim.Adam(trainable_d_parameters(self.D, cfg.freeze_d), lr=cfg.lr_d, betas=tuple(cfg.betas_d), eps=cfg.adam_eps,
                                      fused=fused)
        fp16 = self.amp_dtype == torch.float16
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=fp16)
        if cfg.sync_bn and self.dist.enabled:
            enable_sync_batch_norm(self.G)
            enable_sync_batch_norm(self.D)
        self.G_run = torch.compile(self.G) if cfg.compile else self.G
        self.D_run = torch.compile(self.D) if cfg.compile else self.D  # R1's passes use eager D (see d_loss)

        self.conditional = self.G.num_classes > 0
        # Latents, labels and flips are drawn for the global batch on every rank, each rank keeping its
        # slice: the run is the same computation whatever the number of processes.
        self.gen = torch.Generator().manual_seed(cfg.seed * 7919 + 1)
        # D's augmentation (cfg.augment) draws from its own stream, one per process, checkpointed with the others.
        self.augment_policy = parse_augment(cfg.augment)
        self.aug_gen = torch.Generator().manual_seed(cfg.seed * 7919 + 2 + 104_729 * self.dist.rank)
        self.step = 0
        self.batches_consumed = 0
        self.lr_scale = 1.0
        self.rollbacks = 0
        self.bad_steps = 0
        self.skipped_steps = 0
        self._signal: int | None = None
        self.ckpt_dir = self.run_dir / CHECKPOINTS
        self.keeper = CheckpointKeeper(self.ckpt_dir, cfg.keep_ckpts)
        self.evaluator = TrainingEvaluator(cfg, self.G.resolution, self.device, self.dist)
        self.logger: RunLogger | None = None  # while fit runs
        self.attention_log = AttentionLog(self.G, self.D, cfg.seed, self.device)  # gamma, ratio at log steps

    # ----------------------------------------------------------------------------- state
    def state_dict(self, gather: bool = True) -> dict[str, Any]:
        """The full training state; ``gather=False`` (no collective call) keeps only this rank's RNG."""
        rng = {"torch": torch.get_rng_state(), "gen": self.gen.get_state(), "augment": self.aug_gen.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "config": self.cfg.to_dict(),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "rng": self.dist.gather_objects(rng) if gather else [rng],  # one entry per rank
            "batches_consumed": self.batches_consumed,
            "lr_scale": self.lr_scale,
            "rollbacks": self.rollbacks,
            "best_fid": self.keeper.best,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "opt_g" not in state:
            raise TrainingError(f"the checkpoint in {self.ckpt_dir} holds weights only (a converted model): "
                                f"start a new run from it with init_from={self.run_dir}")
        try:
            for name, net in (("G", self.G), ("D", self.D), ("G_ema", self.ema.net)):
                net.load_state_dict(state[name])
        except RuntimeError as exc:
            raise TrainingError(f"the checkpoint in {self.ckpt_dir} was made by a different architecture: "
                                f"{_first_mismatches(str(exc))}") from None
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler_g.load_state_dict(state["scaler_g"])
        self.scaler_d.load_state_dict(state["scaler_d"])
        rngs = state["rng"]
        if len(rngs) != self.dist.world:
            log.warning("checkpoint has RNG states of %d processes, this run has %d: reseeding", len(rngs), self.dist.world)
        rng = rngs[self.dist.rank % len(rngs)]
        torch.set_rng_state(rng["torch"])
        self.gen.set_state(rng["gen"])
        if "augment" in rng:  # absent in checkpoints written before augment existed
            self.aug_gen.set_state(rng["augment"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        self.step = int(state["step"])
        self.batches_consumed = int(state["batches_consumed"])
        self.lr_scale = float(state["lr_scale"])
        self.rollbacks = int(state["rollbacks"])
        self.keeper.best = float(state.get("best_fid", math.inf))
        self._apply_lr_scale()

    def lr_decay_factor(self) -> float:
        """1 until ``lr_decay_start * steps``, then linearly down to 0 at ``steps`` (a function of the step only)."""
        start = self.cfg.lr_decay_start * self.cfg.steps
        if self.step <= start:
            return 1.0
        return max(0.0, (self.cfg.steps - self.step) / (self.cfg.steps - start))

    def _apply_lr_scale(self) -> None:
        factor = self.lr_scale * self.lr_decay_factor()
        for opt, lr in ((self.opt_g, self.cfg.lr_g), (self.opt_d, self.cfg.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * factor

    def save(self) -> Path | None:
        """Checkpoint the full state (main process only); never writes non-finite weights."""
        state = self.state_dict()  # every rank takes part in gathering RNG states
        return self.keeper.save(state, self.step) if self.dist.is_main else None

    def resume(self) -> bool:
        state = latest_checkpoint(self.ckpt_dir, map_location=self.device)
        if state is None:
            found = list_checkpoints(self.ckpt_dir)
            if found:  # never start over silently on top of a run whose checkpoints are all unreadable
                raise CheckpointError(
                    f"none of the {len(found)} checkpoint(s) in {self.ckpt_dir} can be loaded "
                    f"(newest: {found[-1][1].name}); restore a good one, or choose a new --out to start over"
                )
            return False
        self.load_state_dict(state)
        return True

    # ------------------------------------------------------------------------------ data
    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Real batches from where the run left off, flipped with the run's own generator."""
        workers = self.cfg.num_workers if self.cfg.num_workers >= 0 else default_num_workers(self.device)
        sampler = ResumableBatchSampler(len(self.dataset), self.cfg.batch_size, self.cfg.seed,
                                        self.batches_consumed, self.dist.rank, self.dist.world)
        # A private generator for worker seeds: starting the loader must not draw from torch's global
        # RNG, or a resumed session would shift every later global draw (bCR's DiffAugment).
        loader = DataLoader(self.dataset, batch_sampler=sampler, num_workers=workers,
                            pin_memory=self.device.type == "cuda", persistent_workers=workers > 0,
                            generator=torch.Generator().manual_seed(self.cfg.seed))
        for x, y in loader:
            self.batches_consumed += 1
            x = x.to(self.device, non_blocking=True)  # from pinned memory on CUDA: the copy overlaps compute
            if self.cfg.flip:
                flip = self._local(torch.rand(self.cfg.batch_size, generator=self.gen) < 0.5)
                x = torch.where(flip.to(self.device, non_blocking=True)[:, None, None, None], x.flip(-1), x)
            if self.cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, (y.to(self.device, non_blocking=True) if self.conditional else None)

    def _local(self, t: torch.Tensor) -> torch.Tensor:
        """This process's slice of a tensor drawn for the global batch."""
        n = t.shape[0] // self.dist.world
        return t[self.dist.rank * n : (self.dist.rank + 1) * n]

    def latents(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """z (and labels) for this process's share of one global batch."""
        b = self.cfg.batch_size
        z = self._local(torch.randn(b, self.G.z_dim, generator=self.gen)).to(self.device, non_blocking=True)
        y = None
        if self.conditional:
            y = self._local(torch.randint(0, self.G.num_classes, (b,), generator=self.gen)).to(self.device)
        return z, y

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # ------------------------------------------------------------------------------ step
    def augment(self, images: torch.Tensor) -> torch.Tensor:
        """What D sees of ``images``: DiffAugment with ``cfg.augment``'s policy (differentiable), or them unchanged."""
        if not self.augment_policy:
            return images
        return diff_augment(images, self.augment_policy, generator=self.aug_gen)

    def d_loss(self, real: torch.Tensor, y_real, fake: torch.Tensor, y_fake,
               with_r1: bool = True, keep_fake_logits: bool = False) -> tuple[torch.Tensor, dict]:
        """D's loss on one concatenated real+fake pass, plus R1 (where ``with_r1``) and bCR when enabled.

        With ``cfg.augment``, D sees augmented reals and fakes; R1's gradient is taken with respect
        to the un-augmented reals, through the augmentation (as StyleGAN2-ADA does), and bCR pulls
        D's logits on a fresh ``bcr_policy`` draw of the un-augmented images towards its logits on
        the augmented ones it was trained on.

        ``keep_fake_logits``: the stats also hold D's logits on ``fake`` with their graph (the simultaneous update).
        """
        cfg, b = self.cfg, real.shape[0]
        with_r1 = with_r1 and cfg.r1_gamma > 0
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
        if with_r1:  # lazy R1 (StyleGAN2): every r1_every-th D step, weighted by r1_every to keep its strength
            loss = loss + cfg.r1_gamma * cfg.r1_every * r1_penalty(real_logits, real)
        if cfg.bcr_weight > 0:
            with self.autocast():
                aug_logits = self.D_run(diff_augment(both.detach(), cfg.bcr_policy), labels).float()
            sq = (aug_logits - logits).square()
            loss = loss + cfg.bcr_weight * (sq[:b].mean() + sq[b:].mean())
        stats = {"d_real": real_logits.detach().mean(), "d_fake": fake_logits.detach().mean()}
        if keep_fake_logits:
            stats["fake_logits"] = fake_logits
        return loss, stats

    def _update(self, loss: torch.Tensor, net: torch.nn.Module, opt: torch.optim.Optimizer,
                scaler: torch.amp.GradScaler) -> bool:
        """Backward, average over processes, step. Returns False (and skips) if anything is non-finite."""
        self._backward(loss, net, opt, scaler)
        return self._step(loss, net, opt, scaler)

    def _backward(self, loss: torch.Tensor, net: torch.nn.Module, opt: torch.optim.Optimizer,
                  scaler: torch.amp.GradScaler, **backward_args: Any) -> None:
        """Gradients of ``loss`` into ``net`` (fresh), averaged over processes."""
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward(**backward_args)
        self.dist.average_gradients(net)

    def _step(self, loss: torch.Tensor, net: torch.nn.Module, opt: torch.optim.Optimizer,
              scaler: torch.amp.GradScaler) -> bool:
        """Step ``opt`` on the gradients in ``net`` if they and ``loss`` are finite (on every process)."""
        if scaler.is_enabled():  # fp16: the scaler skips non-finite steps itself
            scaler.step(opt)
            scaler.update()
            return bool(torch.isfinite(loss))
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        norms = torch.stack(torch._foreach_norm(grads)) if grads else torch.zeros(1)
        finite = self.dist.all_true(torch.isfinite(loss) & torch.isfinite(norms).all())
        if finite:
            opt.step()
        return finite

    def train_step(self, real_batches: Iterator) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        if cfg.lr_decay_start < 1:
            self._apply_lr_scale()
        if cfg.update == "simultaneous":
            return self.simultaneous_step(real_batches)
        ok = True
        for i in range(cfg.n_dis):
            real, y_real = next(real_batches)
            keep_graph = cfg.reuse_fake and i == cfg.n_dis - 1
            z, y_fake = self.latents()
            with torch.set_grad_enabled(keep_graph), self.autocast():
                fake = self.G_run(z, y_fake)
            with_r1 = (self.step * cfg.n_dis + i) % cfg.r1_every == 0
            if cfg.accum_steps > 1:
                loss_d, stats = accumulated_d_grads(self, real, y_real, fake, y_fake, with_r1)
                ok &= self._step(loss_d, self.D, self.opt_d, self.scaler_d)
                continue
            loss_d, stats = self.d_loss(real, y_real, fake.detach(), y_fake, with_r1)
            ok &= self._update(loss_d, self.D, self.opt_d, self.scaler_d)
        if not ok:  # a non-finite D step: leave G alone too, the whole step is skipped
            return {"loss_d": loss_d.detach(), "loss_g": torch.full((), float("nan")), **stats, "ok": False}
        if cfg.accum_steps > 1:
            loss_g = accumulated_g_grads(self)
            ok &= self._step(loss_g, self.G, self.opt_g, self.scaler_g)
            return {"loss_d": loss_d.detach(), "loss_g": loss_g, **stats, "ok": ok}
        if not cfg.reuse_fake:
            z, y_fake = self.latents()
            with self.autocast():
                fake = self.G_run(z, y_fake)
        self.D.requires_grad_(False)
        # The official SAGAN code advances D's power iteration in the D step only
        frozen = contextlib.nullcontext() if cfg.d_sn_in_g_step else frozen_power_iteration(self.D)
        with self.autocast(), frozen:
            loss_g = self.loss.g_loss(self.D_run(self.augment(fake), y_fake).float())
        ok &= self._update(loss_g, self.G, self.opt_g, self.scaler_g)
        self.D.requires_grad_(True)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), **stats, "ok": ok}

    def advance(self, real_batches: Iterator) -> dict[str, torch.Tensor] | None:
        """One training step as ``fit`` takes it: ``train_step``, then the step count and G's EMA.

        Returns the step's statistics, or None when the update was non-finite and skipped (the step
        count and the EMA are left as they were). No logging, samples or checkpoints: ``fit`` adds those.
        """
        stats = self.train_step(real_batches)
        if not stats.pop("ok"):
            return None
        self.step += 1
        self.ema.update(self.G, self.step)
        return stats

    def simultaneous_step(self, real_batches: Iterator) -> dict[str, torch.Tensor]:
        """HiT's update: one G forward and one D pass; D's loss updates D, G's loss on the same logits updates G.

        As the official trainer's two gradient tapes over one forward pass: each network's gradient
        comes from its own loss only, and both take their step after both gradients are computed.
        """
        cfg = self.cfg
        real, y_real = next(real_batches)
        z, y_fake = self.latents()
        with self.autocast():
            fake = self.G_run(z, y_fake)
        loss_d, stats = self.d_loss(real, y_real, fake, y_fake, self.step % cfg.r1_every == 0, keep_fake_logits=True)
        loss_g = self.loss.g_loss(stats.pop("fake_logits"))
        self._backward(loss_d, self.D, self.opt_d, self.scaler_d, retain_graph=True, inputs=list(self.D.parameters()))
        self._backward(loss_g, self.G, self.opt_g, self.scaler_g, inputs=list(self.G.parameters()))
        ok = self._step(loss_d, self.D, self.opt_d, self.scaler_d) and self._step(loss_g, self.G, self.opt_g,
                                                                                   self.scaler_g)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), **stats, "ok": ok}

    # ------------------------------------------------------------------------------- run
    def fixed_latents(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The grid's noise: one row per class (8 rows when unconditional), same every time."""
        rows = self.G.num_classes if self.conditional else 8
        n = rows * self.cfg.sample_cols
        z = sample_noise(n, self.G.z_dim, self.cfg.seed + 12345)
        y = torch.arange(rows).repeat_interleave(self.cfg.sample_cols) if self.conditional else None
        return z, y

    @torch.no_grad()
    def write_samples(self, name: str) -> Path:
        """The EMA generator's grid of the fixed latents as ``samples/NAME.png`` (and in TensorBoard)."""
        z, y = self.fixed_latents()
        G = self.ema.net
        images = torch.cat([
            G(z[i : i + 256].to(self.device), None if y is None else y[i : i + 256].to(self.device))
            for i in range(0, len(z), 256)
        ])
        path = save_grid(images, self.run_dir / SAMPLES / f"{name}.png", nrow=self.cfg.sample_cols)
        if self.logger is not None:
            self.logger.log_grid(images, self.cfg.sample_cols, self.step)
        return path

    def evaluate(self) -> float:
        """FID of the EMA generator against the training data, logged; keeps ``checkpoints/best.pt`` by FID.

        Every process takes part and gets the same number; the main process writes it down.
        """
        record = self.evaluator.fid(self.ema.net, self.step)
        improved = self.keeper.improves(record["fid"])
        if self.dist.is_main:
            if self.logger is not None:
                self.logger.log_eval(record)
            if improved:
                self.keeper.save_best(self.state_dict(gather=False), self.step, record["fid"])
        return record["fid"]

    def _handle_signal(self, signum: int, frame: Any) -> None:
        if self._signal is not None:  # second signal: give up waiting for the step to end
            raise KeyboardInterrupt
        self._signal = signum

    def _stop_requested(self) -> bool:
        """A signal reached this process or another of the group: all stop after the same step (saving is
        collective, so a process that stopped alone would leave the others waiting in a mismatched collective)."""
        if not self.dist.enabled:
            return self._signal is not None
        return not self.dist.all_true(torch.tensor(self._signal is None, device=self.device))

    def _rollback_or_stop(self) -> None:
        why = (f"training diverged: {self.bad_steps} consecutive steps with non-finite losses or gradients "
               f"at step {self.step}")
        if self.rollbacks >= self.cfg.max_rollbacks:
            raise TrainingError(f"{why} after {self.rollbacks} rollback(s) with halved learning rates "
                                f"(max_rollbacks={self.cfg.max_rollbacks}); lower lr_g/lr_d or try precision=fp32")
        state = latest_checkpoint(self.ckpt_dir, map_location=self.device) if list_checkpoints(self.ckpt_dir) else None
        if state is None:
            raise TrainingError(f"{why} and there is no checkpoint to roll back to; "
                                "lower lr_g/lr_d or try precision=fp32")
        # The checkpoint holds the counters of its own time: keep this session's, so repeated rollbacks to the
        # same checkpoint keep lowering the learning rate and end at max_rollbacks.
        rollbacks, lr_scale = self.rollbacks, self.lr_scale
        self.load_state_dict(state)
        self.rollbacks = max(rollbacks, self.rollbacks) + 1
        self.lr_scale = min(lr_scale, self.lr_scale) * 0.5
        self._apply_lr_scale()
        self.bad_steps = 0
        log.warning("non-finite training: rolled back to step %d with learning rates x%.3g", self.step, self.lr_scale)

    @contextlib.contextmanager
    def _signals_caught(self) -> Iterator[None]:
        """SIGINT and SIGTERM only ask the loop to stop after the current step (see :meth:`_stop_requested`)."""
        previous = {s: signal.signal(s, self._handle_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _start(self) -> bool:
        """Create the run folder, resume from its newest checkpoint (True if there was one), store the config."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        resumed = self.resume()
        if not resumed and self.init_source is not None:
            apply_init(self, self.init_source)
        if self.dist.is_main:
            write_text_atomic(self.run_dir / CONFIG, yaml.safe_dump(self.cfg.to_dict(), sort_keys=False))
        return resumed

    def _bad_step(self) -> bool:
        """Count a skipped (non-finite) step; after ``max_bad_steps`` in a row roll back. True if it rolled back."""
        self.bad_steps += 1
        self.skipped_steps += 1
        if self.bad_steps < self.cfg.max_bad_steps:
            return False
        self._rollback_or_stop()
        return True

    def _after_step(self, stats: dict[str, torch.Tensor]) -> None:
        """What follows a good step: the log record, the sample grid, evaluation, the checkpoint, a stop request."""
        cfg, main, step = self.cfg, self.dist.is_main, self.step
        if main and (step % cfg.log_every == 0 or step == cfg.steps):
            extra = {"lr_g": self.opt_g.param_groups[0]["lr"], "lr_d": self.opt_d.param_groups[0]["lr"],
                     "skipped_steps": self.skipped_steps}
            self.logger.log_step(step, stats, extra, cfg.batch_size, attention=self.attention_log.values)
        if main and step % cfg.sample_every == 0:
            self.write_samples(f"step-{step:08d}")
        if cfg.eval_every and step % cfg.eval_every == 0:  # every process takes part
            self.evaluate()
        if step % cfg.ckpt_every == 0:
            self.save()
        if self._stop_requested():
            signum = self._signal or signal.SIGTERM
            self.save()
            raise Interrupted(signum, step)

    def _finish(self, summary: dict[str, Any]) -> dict[str, Any]:
        """Main process: the final grid, the export, then summary.json (last: its presence marks the run finished)."""
        summary["samples"] = str(self.write_samples("final"))
        record = training_record(self.run_dir, self.cfg.to_dict(), self.step)
        summary["export"] = str(save_generator(self.run_dir / EXPORT, self.G, self.ema.net, record, self.cfg.license))
        newest = self.keeper.newest()
        summary["checkpoint"] = str(newest) if newest else ""
        summary["log"] = str(self.run_dir / LOG)
        summary["tensorboard"] = str(self.run_dir / TENSORBOARD)
        write_text_atomic(self.run_dir / SUMMARY, json.dumps(summary, indent=2))
        return summary

    def fit(self) -> dict[str, Any]:
        """Train to ``cfg.steps`` (resuming from the run folder), write samples, checkpoints and the export."""
        cfg, main = self.cfg, self.dist.is_main
        resumed = self._start()
        if self.step >= cfg.steps and finished_step(self.run_dir) == self.step:
            return {"finished_before": True, "is_main": main, "step": self.step, "run_dir": str(self.run_dir)}
        # (past cfg.steps without a summary: the last session stopped before its export; the code below writes it)
        start_step = self.step
        with self._signals_caught():
            self.logger = RunLogger(self.run_dir, main, cfg.progress, cfg.steps, self.step)
            real_batches = self.batches()
            try:
                while self.step < cfg.steps:
                    stats = self.advance(real_batches)
                    if stats is None:
                        if self._bad_step():
                            real_batches = self.batches()
                            self.logger.bar.n = self.step
                        continue
                    self.bad_steps = 0
                    self.logger.bar.update(1)
                    self._after_step(stats)
            finally:
                self.logger.end_steps()
        if self.step % cfg.ckpt_every:
            self.save()
        summary: dict[str, Any] = {"finished_before": False, "is_main": main, "resumed": resumed, "step": self.step,
                                   "steps_this_session": self.step - start_step,
                                   "seconds": round(self.logger.seconds(), 2), "run_dir": str(self.run_dir)}
        try:
            if main:
                summary = self._finish(summary)
        finally:
            self.logger.close()
            self.logger = None
        self.dist.barrier()
        return summary


def _first_mismatches(message: str) -> str:
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    detail = [ln for ln in lines if "size mismatch" in ln or "Missing key" in ln or "Unexpected key" in ln]
    text = "; ".join(detail[:3]) if detail else (lines[0] if lines else message)
    return text[:600] + (" ..." if len(text) > 600 else "")


def adapt_num_classes(cfg: TrainConfig, data_classes: int) -> None:
    """Match the model's classes to the data's (0 when not ``class_conditional``) unless the user set
    ``model.num_classes`` themselves. ``class_conditional`` None: the model family's recipe decides."""
    conditional = cfg.class_conditional
    if conditional is None:
        family = family_of(cfg.model)
        conditional = family.recipe.get("class_conditional", True) if family is not None else True
    wanted = data_classes if conditional else 0
    if "num_classes" not in cfg.model_args and model_config(cfg.model).num_classes != wanted:
        cfg.model_args["num_classes"] = wanted
    model_classes = model_config(cfg.model, **cfg.model_args).num_classes
    if 0 < model_classes < data_classes:
        raise TrainingError(f"the data has {data_classes} classes but model.num_classes={model_classes}")
