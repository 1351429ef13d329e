"""The training loop: D steps then a G step (or HiT's simultaneous update), read top to bottom.

The trainer knows models only through ``build``, ``G(z, y)``, ``D(x, y)``, and the objective only through
:class:`~sahit.training.objective.Objective` (the losses and regularisers); everything a recipe changes
(loss, TTUR, n_dis, R1, bCR, EMA) is in TrainConfig.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.data import DataLoader

from ..data import make_dataset
from ..data.memory import InMemory
from ..export import save_generator
from ..images import save_grid
from ..layers.normalization import enable_sync_batch_norm
from ..model_card import training_record
from ..models import build, model_config
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
from .checkpoint import CheckpointError, CheckpointKeeper, first_mismatches, latest_checkpoint, list_checkpoints
from .classes import adapt_num_classes
from .config import TrainConfig
from .cpu_memory import keep_freed_memory
from .devices import default_num_workers, select_device
from .distributed import DistContext, local_rank
from .ema import EMA
from .errors import Interrupted, TrainingError
from .evaluation import TrainingEvaluator
from .finetune import adopt_source_model, apply_init, check_init_classes, load_init_source, trainable_d_parameters
from .objective import Objective
from .precision import autocast_dtype
from .run_logger import RunLogger
from .sampler import ResumableBatchSampler
from .stop import StopSignals

log = logging.getLogger(__name__)


class Trainer:
    """Trains G and D as ``cfg`` says, writing everything into ``run_dir``."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path) -> None:
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.device = select_device(cfg.runtime.device, local_rank())
        self.dist = DistContext.from_env(self.device)
        if cfg.optim.batch_size % (self.dist.world * cfg.optim.accum_steps):
            raise TrainingError(f"batch_size {cfg.optim.batch_size} does not divide evenly over {self.dist.world} processes"
                                + (f" x accum_steps={cfg.optim.accum_steps}" if cfg.optim.accum_steps > 1 else ""))
        self.init_source = load_init_source(cfg.finetune.init_from) if cfg.finetune.init_from else None
        if self.init_source is not None:
            adopt_source_model(cfg, self.init_source)
        self.amp_dtype = autocast_dtype(cfg.runtime.precision, self.device, model_config(cfg.model.name, **cfg.model.args))
        if self.device.type == "cpu":
            keep_freed_memory()

        resolution = model_config(cfg.model.name, **cfg.model.args).resolution
        self.dataset = make_dataset(cfg.data, resolution, seed=cfg.runtime.seed)
        if cfg.data.in_memory:
            self.dataset = InMemory(self.dataset)
        if self.init_source is not None:
            check_init_classes(cfg, getattr(self.dataset, "num_classes", 0), self.init_source.config)
        adapt_num_classes(cfg, getattr(self.dataset, "num_classes", 0))
        torch.manual_seed(cfg.runtime.seed)  # identical initial weights on every rank
        self.G, self.D = build(cfg.model.name, **cfg.model.args)
        self.G.to(self.device)
        self.D.to(self.device)
        if cfg.runtime.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        if self.device.type != "cpu" or cfg.runtime.compile:  # label checks sync with the host / break compiled graphs
            self.G.check_inputs = self.D.check_inputs = False
        # batch_size is the global batch (split over processes): the images of one step, whatever the world size
        self.ema = EMA(self.G, cfg.ema.decay, cfg.ema.start, cfg.ema.spectral_norm,
                       halflife_kimg=cfg.ema.kimg, rampup=cfg.ema.rampup, batch_size=cfg.optim.batch_size)
        fused = self.device.type in ("cpu", "cuda")  # one kernel per step instead of one per tensor
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.optim.lr_g, betas=tuple(cfg.optim.betas_g), eps=cfg.optim.adam_eps,
                                      fused=fused)
        self.opt_d = torch.optim.Adam(trainable_d_parameters(self.D, cfg.finetune.freeze_d), lr=cfg.optim.lr_d, betas=tuple(cfg.optim.betas_d), eps=cfg.optim.adam_eps,
                                      fused=fused)
        fp16 = self.amp_dtype == torch.float16
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=fp16)
        if cfg.runtime.sync_bn and self.dist.enabled:
            enable_sync_batch_norm(self.G)
            enable_sync_batch_norm(self.D)
        self.G_run = torch.compile(self.G) if cfg.runtime.compile else self.G
        self.D_run = torch.compile(self.D) if cfg.runtime.compile else self.D  # R1's passes use eager D (see d_loss)

        self.conditional = self.G.num_classes > 0
        # Latents, labels and flips are drawn for the global batch on every rank, each rank keeping its
        # slice: the run is the same computation whatever the number of processes.
        self.gen = torch.Generator().manual_seed(cfg.runtime.seed * 7919 + 1)
        # D's augmentation (cfg.objective.augment) draws from its own stream, one per process, checkpointed with the others.
        aug_gen = torch.Generator().manual_seed(cfg.runtime.seed * 7919 + 2 + 104_729 * self.dist.rank)
        self.objective = Objective(cfg.objective, self.D, self.D_run, self.conditional, self.autocast, aug_gen)
        self.step = 0
        self.batches_consumed = 0
        self.lr_scale = 1.0
        self.rollbacks = 0
        self.bad_steps = 0
        self.skipped_steps = 0
        self.stop = StopSignals(self.dist, self.device)
        self.ckpt_dir = self.run_dir / CHECKPOINTS
        self.keeper = CheckpointKeeper(self.ckpt_dir, cfg.log.keep_ckpts)
        self.evaluator = TrainingEvaluator(cfg, self.G.resolution, self.device, self.dist)
        self.logger: RunLogger | None = None  # while fit runs
        self.attention_log = AttentionLog(self.G, self.D, cfg.runtime.seed, self.device)  # gamma, ratio at log steps

    # ----------------------------------------------------------------------------- state
    def state_dict(self, gather: bool = True) -> dict[str, Any]:
        """The full training state; ``gather=False`` (no collective call) keeps only this rank's RNG."""
        rng = {"torch": torch.get_rng_state(), "gen": self.gen.get_state(),
               "augment": self.objective.aug_gen.get_state()}
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
                                f"{first_mismatches(str(exc))}") from None
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
            self.objective.aug_gen.set_state(rng["augment"])
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
        start = self.cfg.optim.lr_decay_start * self.cfg.optim.steps
        if self.step <= start:
            return 1.0
        return max(0.0, (self.cfg.optim.steps - self.step) / (self.cfg.optim.steps - start))

    def _apply_lr_scale(self) -> None:
        factor = self.lr_scale * self.lr_decay_factor()
        for opt, lr in ((self.opt_g, self.cfg.optim.lr_g), (self.opt_d, self.cfg.optim.lr_d)):
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
        workers = self.cfg.runtime.num_workers if self.cfg.runtime.num_workers >= 0 else default_num_workers(self.device)
        sampler = ResumableBatchSampler(len(self.dataset), self.cfg.optim.batch_size, self.cfg.runtime.seed,
                                        self.batches_consumed, self.dist.rank, self.dist.world)
        # A private generator for worker seeds: starting the loader must not draw from torch's global
        # RNG, or a resumed session would shift every later global draw (bCR's DiffAugment).
        loader = DataLoader(self.dataset, batch_sampler=sampler, num_workers=workers,
                            pin_memory=self.device.type == "cuda", persistent_workers=workers > 0,
                            generator=torch.Generator().manual_seed(self.cfg.runtime.seed))
        for x, y in loader:
            self.batches_consumed += 1
            x = x.to(self.device, non_blocking=True)  # from pinned memory on CUDA: the copy overlaps compute
            if self.cfg.data.flip:
                flip = self._local(torch.rand(self.cfg.optim.batch_size, generator=self.gen) < 0.5)
                x = torch.where(flip.to(self.device, non_blocking=True)[:, None, None, None], x.flip(-1), x)
            if self.cfg.runtime.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, (y.to(self.device, non_blocking=True) if self.conditional else None)

    def _local(self, t: torch.Tensor) -> torch.Tensor:
        """This process's slice of a tensor drawn for the global batch."""
        n = t.shape[0] // self.dist.world
        return t[self.dist.rank * n : (self.dist.rank + 1) * n]

    def latents(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """z (and labels) for this process's share of one global batch."""
        b = self.cfg.optim.batch_size
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
        if cfg.optim.lr_decay_start < 1:
            self._apply_lr_scale()
        if cfg.objective.update == "simultaneous":
            return self.simultaneous_step(real_batches)
        ok = True
        for i in range(cfg.optim.n_dis):
            real, y_real = next(real_batches)
            keep_graph = cfg.objective.reuse_fake and i == cfg.optim.n_dis - 1
            z, y_fake = self.latents()
            with torch.set_grad_enabled(keep_graph), self.autocast():
                fake = self.G_run(z, y_fake)
            with_r1 = self.objective.r1_due(self.step * cfg.optim.n_dis + i)
            if cfg.optim.accum_steps > 1:
                loss_d, stats = accumulated_d_grads(self, real, y_real, fake, y_fake, with_r1)
                ok &= self._step(loss_d, self.D, self.opt_d, self.scaler_d)
                continue
            loss_d, stats = self.objective.d_loss(real, y_real, fake.detach(), y_fake, with_r1)
            ok &= self._update(loss_d, self.D, self.opt_d, self.scaler_d)
        if not ok:  # a non-finite D step: leave G alone too, the whole step is skipped
            return {"loss_d": loss_d.detach(), "loss_g": torch.full((), float("nan")), **stats, "ok": False}
        if cfg.optim.accum_steps > 1:
            loss_g = accumulated_g_grads(self)
            ok &= self._step(loss_g, self.G, self.opt_g, self.scaler_g)
            return {"loss_d": loss_d.detach(), "loss_g": loss_g, **stats, "ok": ok}
        if not cfg.objective.reuse_fake:
            z, y_fake = self.latents()
            with self.autocast():
                fake = self.G_run(z, y_fake)
        with self.objective.g_step_view():
            with self.autocast():
                loss_g = self.objective.g_loss(fake, y_fake)
            ok &= self._update(loss_g, self.G, self.opt_g, self.scaler_g)
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
        real, y_real = next(real_batches)
        z, y_fake = self.latents()
        with self.autocast():
            fake = self.G_run(z, y_fake)
        loss_d, loss_g, stats = self.objective.simultaneous_losses(real, y_real, fake, y_fake,
                                                                   self.objective.r1_due(self.step))
        self._backward(loss_d, self.D, self.opt_d, self.scaler_d, retain_graph=True, inputs=list(self.D.parameters()))
        self._backward(loss_g, self.G, self.opt_g, self.scaler_g, inputs=list(self.G.parameters()))
        ok = self._step(loss_d, self.D, self.opt_d, self.scaler_d) and self._step(loss_g, self.G, self.opt_g,
                                                                                   self.scaler_g)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), **stats, "ok": ok}

    # ------------------------------------------------------------------------------- run
    def fixed_latents(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The grid's noise: one row per class (8 rows when unconditional), same every time."""
        rows = self.G.num_classes if self.conditional else 8
        n = rows * self.cfg.log.sample_cols
        z = sample_noise(n, self.G.z_dim, self.cfg.runtime.seed + 12345)
        y = torch.arange(rows).repeat_interleave(self.cfg.log.sample_cols) if self.conditional else None
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
        path = save_grid(images, self.run_dir / SAMPLES / f"{name}.png", nrow=self.cfg.log.sample_cols)
        if self.logger is not None:
            self.logger.log_grid(images, self.cfg.log.sample_cols, self.step)
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

    def _rollback_or_stop(self) -> None:
        why = (f"training diverged: {self.bad_steps} consecutive steps with non-finite losses or gradients "
               f"at step {self.step}")
        if self.rollbacks >= self.cfg.runtime.max_rollbacks:
            raise TrainingError(f"{why} after {self.rollbacks} rollback(s) with halved learning rates "
                                f"(max_rollbacks={self.cfg.runtime.max_rollbacks}); lower lr_g/lr_d or try precision=fp32")
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
        if self.bad_steps < self.cfg.runtime.max_bad_steps:
            return False
        self._rollback_or_stop()
        return True

    def _after_step(self, stats: dict[str, torch.Tensor]) -> None:
        """What follows a good step: the log record, the sample grid, evaluation, the checkpoint, a stop request."""
        cfg, main, step = self.cfg, self.dist.is_main, self.step
        if main and (step % cfg.log.log_every == 0 or step == cfg.optim.steps):
            extra = {"lr_g": self.opt_g.param_groups[0]["lr"], "lr_d": self.opt_d.param_groups[0]["lr"],
                     "skipped_steps": self.skipped_steps}
            self.logger.log_step(step, stats, extra, cfg.optim.batch_size, attention=self.attention_log.values)
        if main and step % cfg.log.sample_every == 0:
            self.write_samples(f"step-{step:08d}")
        if cfg.log.eval_every and step % cfg.log.eval_every == 0:  # every process takes part
            self.evaluate()
        if step % cfg.log.ckpt_every == 0:
            self.save()
        if self.stop.requested():
            signum = self.stop.signum or signal.SIGTERM
            self.save()
            raise Interrupted(signum, step)

    def _finish(self, summary: dict[str, Any]) -> dict[str, Any]:
        """Main process: the final grid, the export, then summary.json (last: its presence marks the run finished)."""
        summary["samples"] = str(self.write_samples("final"))
        record = training_record(self.run_dir, self.cfg.flat(), self.step)
        summary["export"] = str(save_generator(self.run_dir / EXPORT, self.G, self.ema.net, record, self.cfg.log.license))
        newest = self.keeper.newest()
        summary["checkpoint"] = str(newest) if newest else ""
        summary["log"] = str(self.run_dir / LOG)
        summary["tensorboard"] = str(self.run_dir / TENSORBOARD)
        write_text_atomic(self.run_dir / SUMMARY, json.dumps(summary, indent=2))
        return summary

    def fit(self) -> dict[str, Any]:
        """Train to ``cfg.optim.steps`` (resuming from the run folder), write samples, checkpoints and the export."""
        cfg, main = self.cfg, self.dist.is_main
        resumed = self._start()
        if self.step >= cfg.optim.steps and finished_step(self.run_dir) == self.step:
            return {"finished_before": True, "is_main": main, "step": self.step, "run_dir": str(self.run_dir)}
        # (past cfg.optim.steps without a summary: the last session stopped before its export; the code below writes it)
        start_step = self.step
        with self.stop.caught():
            self.logger = RunLogger(self.run_dir, main, cfg.log.progress, cfg.optim.steps, self.step)
            real_batches = self.batches()
            try:
                while self.step < cfg.optim.steps:
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
        if self.step % cfg.log.ckpt_every:
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


