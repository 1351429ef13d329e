"""The divergence guard: non-finite steps are skipped, persistent ones roll back (lr halved) or stop."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from sahit.training import TrainingError
from sahit.training.checkpoint import list_checkpoints, load_checkpoint


class PoisonedLoss:
    """Wraps the trainer's loss; D and G losses become NaN on the train steps listed (1-based)."""

    def __init__(self, loss, bad) -> None:
        self.loss, self.bad, self.calls = loss, bad, 0

    def _poison(self, value: torch.Tensor) -> torch.Tensor:
        return value * float("nan") if self.bad(self.calls) else value

    def d_loss(self, real, fake):
        self.calls += 1  # one D step per train step (n_dis=1)
        return self._poison(self.loss.d_loss(real, fake))

    def g_loss(self, fake):
        return self._poison(self.loss.g_loss(fake))


def _records(run_dir):
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def _params(net):
    return [p.detach().clone() for p in net.parameters()]


def test_a_non_finite_step_is_skipped_at_once(tmp_path, make_trainer):
    t = make_trainer(tmp_path / "r", "steps=4", "log_every=1", "ckpt_every=100")
    t.objective.loss = PoisonedLoss(t.objective.loss, lambda call: call == 2)
    batches = t.batches()
    assert t.train_step(batches)["ok"]
    g, d = _params(t.G), _params(t.D)
    assert not t.train_step(batches)["ok"]  # NaN losses: neither network moves
    assert all(torch.equal(a, b) for a, b in zip(g, t.G.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(d, t.D.parameters()))

    t = make_trainer(tmp_path / "r2", "steps=4", "log_every=1", "ckpt_every=100")
    t.objective.loss = PoisonedLoss(t.objective.loss, lambda call: call == 2)
    t.fit()
    records = _records(tmp_path / "r2")
    assert [r["step"] for r in records] == [1, 2, 3, 4]  # the bad step was redone, not counted
    assert [r["skipped_steps"] for r in records] == [0, 1, 1, 1]
    assert t.objective.loss.calls == 5 and t.rollbacks == 0 and t.lr_scale == 1.0


def test_advance_counts_and_averages_good_steps_only(tmp_path, make_trainer):
    t = make_trainer(tmp_path / "r", "steps=4", "ema_decay=0.5", "ema_start=0")
    t.objective.loss = PoisonedLoss(t.objective.loss, lambda call: call == 2)
    batches = t.batches()
    assert t.advance(batches) is not None and t.step == 1
    ema = _params(t.ema.net)
    assert not all(torch.equal(a, b) for a, b in zip(ema, t.G.parameters()))  # G moved away from its average
    assert t.advance(batches) is None  # the NaN step: no count, no EMA update
    assert t.step == 1 and all(torch.equal(a, b) for a, b in zip(ema, t.ema.net.parameters()))
    stats = t.advance(batches)
    assert stats is not None and "ok" not in stats and t.step == 2
    assert not all(torch.equal(a, b) for a, b in zip(ema, t.ema.net.parameters()))


def test_persistent_non_finite_steps_roll_back_with_lower_lr(tmp_path, make_trainer, caplog):
    t = make_trainer(tmp_path / "r", "steps=5", "log_every=1", "ckpt_every=2", "max_bad_steps=2", "lr_decay_start=1.0")
    t.objective.loss = PoisonedLoss(t.objective.loss, lambda call: call in (4, 5))  # steps 1-3 fine, then two bad in a row
    with caplog.at_level(logging.WARNING):
        t.fit()
    assert "rolled back to step 2 with learning rates x0.5" in caplog.text
    records = _records(tmp_path / "r")
    assert [r["step"] for r in records] == [1, 2, 3, 3, 4, 5]  # step 3 redone from the step-2 checkpoint
    lr_g = t.cfg.lr_g
    assert [r["lr_g"] for r in records] == [lr_g] * 3 + [lr_g / 2] * 3
    assert [r["lr_d"] for r in records][-1] == t.cfg.lr_d / 2
    final = load_checkpoint(list_checkpoints(tmp_path / "r" / "checkpoints")[-1][1])
    assert final["step"] == 5 and final["lr_scale"] == 0.5 and final["rollbacks"] == 1


def test_divergence_that_never_ends_stops_with_a_clear_message(tmp_path, make_trainer):
    t = make_trainer(tmp_path / "r", "steps=8", "ckpt_every=2", "max_bad_steps=2", "max_rollbacks=2", "lr_decay_start=1.0")
    t.objective.loss = PoisonedLoss(t.objective.loss, lambda call: call >= 4)
    with pytest.raises(TrainingError, match=r"training diverged: 2 consecutive steps .* at step 2 after 2 rollback"):
        t.fit()
    # each rollback went back to the same checkpoint and halved the rate again: no endless loop
    assert t.objective.loss.calls == 3 + 2 * 3 and t.rollbacks == 2 and t.lr_scale == 0.25
    assert t.opt_g.param_groups[0]["lr"] == pytest.approx(0.25 * t.cfg.lr_g)
    assert [s for s, _ in list_checkpoints(tmp_path / "r" / "checkpoints")] == [2]


def test_divergence_before_any_checkpoint_says_so(tmp_path, make_trainer):
    t = make_trainer(tmp_path / "r", "steps=4", "max_bad_steps=2")
    t.objective.loss = PoisonedLoss(t.objective.loss, lambda call: True)
    with pytest.raises(TrainingError, match="no checkpoint to roll back to; lower lr_g/lr_d"):
        t.fit()


def test_non_finite_weights_are_never_checkpointed(tmp_path, make_trainer, caplog):
    t = make_trainer(tmp_path / "r", "steps=5", "ckpt_every=1", "max_bad_steps=2")
    with torch.no_grad():
        next(t.D.parameters()).view(-1)[0] = float("nan")
    with caplog.at_level(logging.WARNING):
        assert t.save() is None
    assert "non-finite values in D." in caplog.text and "checkpoint not written" in caplog.text
    assert list_checkpoints(tmp_path / "r" / "checkpoints") == []
    with torch.no_grad():
        next(t.D.parameters()).view(-1)[0] = 0.0
        buffer = next(b for b in t.G.buffers() if b.is_floating_point())
        buffer.view(-1)[0] = float("inf")  # batch-norm statistics count too
    assert t.save() is None

    # A weight turns NaN mid-run (forward hook at step 3): steps are skipped, the run rolls back to the
    # step-2 checkpoint and goes on; no checkpoint on disk ever holds a non-finite value.
    t = make_trainer(tmp_path / "r2", "steps=5", "ckpt_every=1", "max_bad_steps=2", "log_every=1")
    poisoned = []

    def poison(module, args):
        if t.step == 3 and not poisoned:
            poisoned.append(t.step)
            with torch.no_grad():
                next(module.parameters()).fill_(float("nan"))

    t.D.register_forward_pre_hook(poison)
    seen = {}
    real_save = t.save

    def save_and_record():
        path = real_save()
        if path is not None:
            seen[path.name] = load_checkpoint(path)
        return path

    t.save = save_and_record
    t.fit()
    assert poisoned == [3] and t.rollbacks == 1 and t.step == 5
    assert sorted(seen) == [f"ckpt-{s:08d}.pt" for s in (1, 2, 3, 4, 5)]
    for name, state in seen.items():
        for net in ("G", "D", "G_ema"):
            assert all(torch.isfinite(v).all() for v in state[net].values() if v.is_floating_point()), (name, net)
