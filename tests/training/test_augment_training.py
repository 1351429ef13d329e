"""``augment=diffaug:...``: what D sees in both steps, R1 and bCR alongside, seeded and resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sahit.augment import diff_augment
from sahit.training import Trainer, prepare_run
from sahit.training.checkpoint import latest_checkpoint
from sahit.training.config import ConfigError

TINY = ["model.g_width=8", "model.d_width=8", "model.z_dim=8", "batch_size=4", "progress=false"]
AUG = "augment=diffaug:color,translation,cutout"


def trainer(tmp: Path, *overrides: str) -> Trainer:
    cfg, run_dir = prepare_run("quickstart", out=tmp, overrides=[*TINY, *overrides])
    return Trainer(cfg, run_dir)


def test_bad_augment_setting_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown augmentation 'flip'"):
        prepare_run("quickstart", out=tmp_path / "a", overrides=["augment=diffaug:color,flip"])
    with pytest.raises(ConfigError, match="augment must look like diffaug"):
        prepare_run("quickstart", out=tmp_path / "b", overrides=["augment=randaugment"])


def test_d_sees_augmented_reals_and_fakes_in_both_steps(tmp_path):
    t = trainer(tmp_path / "r", AUG, "reuse_fake=true", "r1_gamma=0", "bcr_weight=0")
    seen, fakes, reals = [], [], []
    d_run, g_run = t.objective.D_run, t.G_run
    t.objective.D_run = lambda x, y: (seen.append(x.detach().clone()), d_run(x, y))[1]
    t.G_run = lambda z, y: (fakes.append(g_run(z, y)), fakes[-1])[1]
    batches = t.batches()

    def recording():
        for real, y in batches:
            reals.append(real)
            yield real, y

    aug_state = t.objective.aug_gen.get_state()
    t.train_step(recording())
    assert len(seen) == 2  # one D pass in D's step, one in G's step
    # The reference: the same draws from a copy of the trainer's augmentation generator.
    g = torch.Generator().set_state(aug_state)
    fake = fakes[0].detach()
    expected_d = diff_augment(torch.cat([reals[0], fake]), "color,translation,cutout", generator=g)
    expected_g = diff_augment(fake, "color,translation,cutout", generator=g)
    assert torch.equal(seen[0], expected_d) and torch.equal(seen[1], expected_g)
    assert not torch.equal(seen[0][: len(reals[0])], reals[0]) and not torch.equal(seen[1], fake)


def test_without_augment_d_sees_the_images_themselves(tmp_path):
    t = trainer(tmp_path / "r", "reuse_fake=true")
    seen = []
    d_run = t.objective.D_run
    t.objective.D_run = lambda x, y: (seen.append(x.detach().clone()), d_run(x, y))[1]
    real, y = next(t.batches())
    t.train_step(iter([(real, y)]))
    assert torch.equal(seen[0][: len(real)], real)


def test_g_learns_through_the_augmentation(tmp_path):
    t = trainer(tmp_path / "r", AUG)
    t.train_step(t.batches())
    grads = [p.grad for p in t.G.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0


def test_r1_is_taken_on_the_unaugmented_reals_through_the_augmentation(tmp_path, monkeypatch):
    from sahit.training import objective

    calls = []
    original = objective.r1_penalty
    monkeypatch.setattr(objective, "r1_penalty", lambda logits, real: calls.append((real, original(logits, real))) or
                        calls[-1][1])
    t = trainer(tmp_path / "r", AUG, "r1_gamma=1", "r1_every=1")
    real, y = next(t.batches())
    z, y_fake = t.latents()
    fake = t.G(z, y_fake).detach()
    t.D.eval()  # no power iteration between passes: the same D every time
    aug_state = t.objective.aug_gen.get_state()
    t.objective.d_loss(real, y, fake, y_fake, with_r1=True)
    (r1_input, penalty), = calls
    assert torch.equal(r1_input.detach(), real)  # the un-augmented reals
    # Reference: the gradient of D(augment(x)) with respect to x, with the same augmentation draws.
    x = real.clone().requires_grad_(True)
    g = torch.Generator().set_state(aug_state)
    seen = diff_augment(torch.cat([x, fake]), "color,translation,cutout", generator=g)
    (grad,) = torch.autograd.grad(t.D(seen, torch.cat([y, y_fake]))[: len(real)].sum(), x)
    plain_grad = torch.autograd.grad(t.D(x, y).sum(), x)[0]
    assert penalty.item() == pytest.approx(grad.square().sum((1, 2, 3)).mean().item(), rel=1e-5)
    assert penalty.item() > 0 and not torch.allclose(grad, plain_grad)


def test_few_steps_with_augment_r1_and_bcr_are_finite(tmp_path):
    t = trainer(tmp_path / "r", AUG, "r1_gamma=1", "r1_every=2", "bcr_weight=5", "steps=3", "log_every=1",
                "sample_every=100")
    assert t.fit()["step"] == 3
    records = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(torch.isfinite(torch.tensor([r["loss_d"], r["loss_g"]])).all() for r in records)


def test_same_seed_same_run_other_seed_other_augmentation(tmp_path):
    states = [trainer(tmp_path / name, AUG, f"seed={seed}").objective.aug_gen.get_state() for name, seed in
              (("a", 0), ("b", 0), ("c", 1))]
    assert torch.equal(states[0], states[1]) and not torch.equal(states[0], states[2])


def test_resume_with_augment_is_bit_identical(tmp_path):
    common = [AUG, "ckpt_every=2", "sample_every=100", "ema_start=1", "lr_decay_start=1.0", "bcr_weight=1"]
    trainer(tmp_path / "whole", "steps=4", *common).fit()
    trainer(tmp_path / "split", "steps=2", *common).fit()
    assert trainer(tmp_path / "split", "steps=4", *common).fit()["resumed"]
    a, b = (latest_checkpoint(tmp_path / name / "checkpoints") for name in ("whole", "split"))
    assert a["step"] == b["step"] == 4
    for key in ("G", "D", "G_ema"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name}"
    for key in ("torch", "gen", "augment"):
        assert torch.equal(a["rng"][0][key], b["rng"][0][key]), key
