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
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.data import DataLoader

from ..augment import diff_augment, parse_augment
from ..data import make_dataset
from ..export import save_generator
from ..losses import get_loss, r1_penalty
from ..layers.normalization import enable_sync_batch_norm
from ..layers.spectral import frozen_power_iteration
from ..model_card import training_record
from ..models import build, model_config
from ..models.registry import family_of
from ..progress import progress
from ..viz.grid import save_grid
from .checkpoint import FORMAT as CHECKPOINT_FORMAT
from .checkpoint import CheckpointError, atomic_torch_save, latest_checkpoint, list_checkpoints, save_checkpoint
from .config import TrainConfig
from .distributed import DistContext, local_rank
from .ema import EMA
from .precision import autocast_dtype
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
        if cfg.batch_size % self.dist.world:
            raise TrainingError(f"batch_size {cfg.batch_size} does not divide evenly over {self.dist.world} processes")
        self.amp_dtype = autocast_dtype(cfg.precision, self.device, model_config(cfg.model, **cfg.model_args))
        self.loss = get_loss(cfg.loss)

        resolution = model_config(cfg.model, **cfg.model_args).resolution
        self.dataset = make_dataset(
            cfg.data, resolution, root=cfg.data_root or None, download=cfg.download,
            seed=cfg.seed, length=cfg.data_length, strict=cfg.strict_data,
            crop=cfg.data_crop, crop_fraction=cfg.data_crop_fraction, interpolation=cfg.data_interpolation,
        )
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
        self.ema = EMA(self.G, cfg.ema_decay, cfg.ema_start, cfg.ema_spectral_norm)
        fused = self.device.type in ("cpu", "cuda")  # one kernel per step instead of one per tensor
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=tuple(cfg.betas_g), eps=cfg.adam_eps,
                                      fused=fused)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=tuple(cfg.betas_d), eps=cfg.adam_eps,
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
        self.ckpt_dir = self.run_dir / "checkpoints"
        self._reference = None  # reference statistics for evaluation during training
        self.best_fid = math.inf
        self.writer = None

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
            "best_fid": self.best_fid,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
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
        self.best_fid = float(state.get("best_fid", math.inf))
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
        if not self.dist.is_main:
            return None
        bad = _non_finite(state)
        if bad:
            log.warning("non-finite values in %s at step %d: checkpoint not written", ", ".join(bad[:3]), self.step)
            return None
        return save_checkpoint(state, self.ckpt_dir, self.step, self.cfg.keep_ckpts)

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
            loss_d, stats = self.d_loss(real, y_real, fake.detach(), y_fake, with_r1)
            ok &= self._update(loss_d, self.D, self.opt_d, self.scaler_d)
        if not ok:  # a non-finite D step: leave G alone too, the whole step is skipped
            return {"loss_d": loss_d.detach(), "loss_g": torch.full((), float("nan")), **stats, "ok": False}
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
        z = torch.randn(n, self.G.z_dim, generator=torch.Generator().manual_seed(self.cfg.seed + 12345))
        y = torch.arange(rows).repeat_interleave(self.cfg.sample_cols) if self.conditional else None
        return z, y

    @torch.no_grad()
    def write_samples(self, name: str) -> Path:
        z, y = self.fixed_latents()
        G = self.ema.net
        images = torch.cat([
            G(z[i : i + 256].to(self.device), None if y is None else y[i : i + 256].to(self.device))
            for i in range(0, len(z), 256)
        ])
        path = save_grid(images, self.run_dir / "samples" / f"{name}.png", nrow=self.cfg.sample_cols)
        if self.writer is not None:
            import torchvision

            grid = torchvision.utils.make_grid(images.float().cpu() * 0.5 + 0.5, nrow=self.cfg.sample_cols)
            self.writer.add_image("samples", grid.clamp(0, 1), self.step)
        return path

    def evaluate(self, log_file: Any) -> float:
        """FID of the EMA generator against the training data; keeps ``checkpoints/best.pt`` by FID.

        Every process samples and extracts its share of the images (no process waits on another's
        work in a collective) and all get the same number; the main process writes it down.
        """
        from ..metrics import cached_reference_stats, evaluate_generator

        cfg, shard = self.cfg, self.dist
        if self._reference is None:
            self._reference = cached_reference_stats(cfg.data, self.G.resolution, cfg.eval_features, n=cfg.eval_n,
                                                     device=self.device, progress=False, shard=shard)
        result = evaluate_generator(self.ema.net, self._reference, cfg.eval_features, metrics=("fid",), n=cfg.eval_n,
                                    seed=cfg.seed, device=self.device, progress=False, shard=shard)["fid"]
        improved = result.value < self.best_fid
        self.best_fid = min(self.best_fid, result.value)
        if not self.dist.is_main:
            return result.value
        record = {"step": self.step, "fid": result.value, "eval_n": result.n_samples,
                  "extractor": result.extractor, "reference": result.reference}
        log_file.write(json.dumps(record) + "\n")
        log_file.flush()
        self.writer.add_scalar("eval/fid", result.value, self.step)
        if improved:
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            atomic_torch_save({"format": CHECKPOINT_FORMAT, "step": self.step, "fid": result.value,
                               **self.state_dict(gather=False)}, self.ckpt_dir / "best.pt")
        return result.value

    def _handle_signal(self, signum: int, frame: Any) -> None:  # noqa: ARG002
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

    def fit(self) -> dict[str, Any]:
        """Train to ``cfg.steps`` (resuming from the run folder), write samples, checkpoints and the export."""
        cfg, main = self.cfg, self.dist.is_main
        self.run_dir.mkdir(parents=True, exist_ok=True)
        resumed = self.resume()
        if main:
            _write_atomic(self.run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        if self.step >= cfg.steps and _finished_at(self.run_dir) == self.step:
            return {"finished_before": True, "is_main": main, "step": self.step, "run_dir": str(self.run_dir)}
        # (past cfg.steps without a summary: the last session stopped before its export; the code below writes it)
        if main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run_dir / "tb"))
        previous = {s: signal.signal(s, self._handle_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        log_file = open(_trim_partial_line(self.run_dir / "log.jsonl"), "a") if main else None
        bar = progress(total=cfg.steps, initial=self.step, disable=not (main and cfg.progress), unit="it", desc="train")
        start_step, t0, t_log, step_log = self.step, time.perf_counter(), time.perf_counter(), self.step
        real_batches = self.batches()
        try:
            while self.step < cfg.steps:
                stats = self.train_step(real_batches)
                if stats.pop("ok"):
                    self.step += 1
                    self.bad_steps = 0
                    self.ema.update(self.G, self.step)
                    bar.update(1)
                else:
                    self.bad_steps += 1
                    self.skipped_steps += 1
                    if self.bad_steps >= cfg.max_bad_steps:
                        self._rollback_or_stop()
                        real_batches = self.batches()
                        bar.n = self.step
                    continue
                if main and (self.step % cfg.log_every == 0 or self.step == cfg.steps):
                    now = time.perf_counter()
                    rate = (self.step - step_log) / max(now - t_log, 1e-9)
                    t_log, step_log = now, self.step
                    record = {"step": self.step, "time": round(now - t0, 3), **{k: float(v) for k, v in stats.items()},
                              "lr_g": self.opt_g.param_groups[0]["lr"], "lr_d": self.opt_d.param_groups[0]["lr"],
                              "it_per_s": rate, "img_per_s": rate * cfg.batch_size,
                              "skipped_steps": self.skipped_steps}
                    log_file.write(json.dumps(record) + "\n")
                    log_file.flush()
                    for k, v in record.items():
                        if k != "step":
                            self.writer.add_scalar(f"train/{k}", v, self.step)
                    bar.set_postfix(loss_d=f"{record['loss_d']:.3f}", loss_g=f"{record['loss_g']:.3f}")
                if main and self.step % cfg.sample_every == 0:
                    self.write_samples(f"step-{self.step:08d}")
                if cfg.eval_every and self.step % cfg.eval_every == 0:  # every process takes part
                    self.evaluate(log_file)
                if self.step % cfg.ckpt_every == 0:
                    self.save()
                if self._stop_requested():
                    signum = self._signal or signal.SIGTERM
                    self.save()
                    raise Interrupted(signum, self.step)
        finally:
            bar.close()
            if log_file is not None:
                log_file.close()
            for s, handler in previous.items():
                signal.signal(s, handler)
        if self.step % cfg.ckpt_every:
            self.save()
        summary: dict[str, Any] = {"finished_before": False, "is_main": main, "resumed": resumed, "step": self.step,
                                   "steps_this_session": self.step - start_step,
                                   "seconds": round(time.perf_counter() - t0, 2), "run_dir": str(self.run_dir)}
        if main:
            summary["samples"] = str(self.write_samples("final"))
            record = training_record(self.run_dir, cfg.to_dict(), self.step)
            summary["export"] = str(save_generator(self.run_dir / "export", self.G, self.ema.net, record, cfg.license))
            summary["checkpoint"] = str(list_checkpoints(self.ckpt_dir)[-1][1]) if list_checkpoints(self.ckpt_dir) else ""
            summary["log"] = str(self.run_dir / "log.jsonl")
            summary["tensorboard"] = str(self.run_dir / "tb")
            _write_atomic(self.run_dir / "summary.json", json.dumps(summary, indent=2))
            self.writer.close()
        self.dist.barrier()
        return summary


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves the old or the new file, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _finished_at(run_dir: Path) -> int | None:
    """The step recorded in summary.json by the last session that finished (with its export), if any."""
    try:
        return int(json.loads((run_dir / "summary.json").read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _trim_partial_line(path: Path) -> Path:
    """Cut a last line that a killed process left half-written, so appended records stay valid JSON lines."""
    if path.is_file():
        with open(path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
    return path


def _non_finite(state: dict[str, Any]) -> list[str]:
    """Names of the floating tensors of G, D and G_ema (weights and buffers) holding NaN or inf."""
    return [f"{net}.{name}" for net in ("G", "D", "G_ema") for name, t in state[net].items()
            if t.is_floating_point() and not bool(torch.isfinite(t).all())]


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
