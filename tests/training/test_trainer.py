"""The trainer end to end on tiny models: files written, resume bit-identical, recipe reaches optimizers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import sahit
from sahit.training import TrainConfig, Trainer, prepare_run
from sahit.training.checkpoint import latest_checkpoint
from sahit.training.config import ConfigError

TINY = ["model.g_width=16", "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false"]


def run(tmp: Path, *overrides: str, preset: str = "quickstart", data: str | None = None) -> dict:
    cfg, run_dir = prepare_run(preset, out=tmp, data=data, overrides=[*TINY, *overrides])
    return Trainer(cfg, run_dir).fit()


def test_few_steps_write_checkpoint_export_grid_and_log(tmp_path):
    summary = run(tmp_path / "r", "steps=4", "ckpt_every=2", "sample_every=2", "log_every=1")
    r = tmp_path / "r"
    assert summary["step"] == 4
    assert sorted(p.name for p in (r / "checkpoints").iterdir()) == ["ckpt-00000002.pt", "ckpt-00000004.pt"]
    assert (r / "export" / "generator.safetensors").is_file()
    assert (r / "export" / "generator_ema.safetensors").is_file()
    assert (r / "samples" / "final.png").is_file() and (r / "samples" / "step-00000002.png").is_file()
    records = [json.loads(line) for line in (r / "log.jsonl").read_text().splitlines()]
    assert [rec["step"] for rec in records] == [1, 2, 3, 4]
    assert all(torch.isfinite(torch.tensor(rec["loss_d"])) for rec in records)
    assert any((r / "tb").iterdir())


def _state(run_dir: Path) -> dict:
    return latest_checkpoint(run_dir / "checkpoints")


def _assert_equal_states(a: dict, b: dict) -> None:
    for key in ("G", "D", "G_ema"):
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name}"
    for key in ("opt_g", "opt_d"):
        for pid, sa in a[key]["state"].items():
            sb = b[key]["state"][pid]
            for name in sa:
                assert torch.equal(torch.as_tensor(sa[name]), torch.as_tensor(sb[name])), f"{key}[{pid}].{name}"
    assert a["batches_consumed"] == b["batches_consumed"]
    assert torch.equal(a["rng"][0]["gen"], b["rng"][0]["gen"])


@pytest.mark.parametrize("n_dis", [1, 2])
def test_resume_is_bit_identical(tmp_path, n_dis):
    # The split run first stops at steps=3, then is extended to 6: a constant learning rate, since a
    # decay schedule (the quickstart's lr_decay_start) is a function of the run's total steps.
    common = ["ckpt_every=3", "sample_every=100", "ema_start=2", f"n_dis={n_dis}", "lr_decay_start=1.0"]
    run(tmp_path / "whole", "steps=6", *common)
    run(tmp_path / "split", "steps=3", *common)
    summary = run(tmp_path / "split", "steps=6", *common)  # same command, more steps: resumes
    assert summary["resumed"] and summary["steps_this_session"] == 3
    _assert_equal_states(_state(tmp_path / "whole"), _state(tmp_path / "split"))


def test_finished_run_says_so(tmp_path):
    run(tmp_path / "r", "steps=2")
    summary = run(tmp_path / "r", "steps=2")
    assert summary["finished_before"] and summary["step"] == 2


def test_resume_with_other_settings_is_refused(tmp_path):
    run(tmp_path / "r", "steps=2")
    with pytest.raises(ValueError, match="lr_d"):
        prepare_run("quickstart", out=tmp_path / "r", overrides=[*TINY, "steps=2", "lr_d=0.001"])


def test_ttur_learning_rates_and_betas_reach_optimizers(tmp_path):
    # sagan-cifar10 trains with the official SAGAN code's recipe: TTUR, Adam (0, 0.999).
    cfg, run_dir = prepare_run("sagan-cifar10", out=tmp_path / "r", overrides=TINY)
    trainer = Trainer(cfg, run_dir)
    assert trainer.opt_g.param_groups[0]["lr"] == 1e-4 and trainer.opt_d.param_groups[0]["lr"] == 4e-4
    assert trainer.opt_g.param_groups[0]["betas"] == (0.0, 0.999) == trainer.opt_d.param_groups[0]["betas"]
    g_ids = {id(p) for p in trainer.G.parameters()}
    assert {id(p) for g in trainer.opt_g.param_groups for p in g["params"]} == g_ids
    assert TrainConfig().loss == "hinge" and TrainConfig().n_dis == 1


def test_linear_lr_decay_follows_the_step(tmp_path):
    cfg, run_dir = prepare_run("quickstart", out=tmp_path / "r",
                               overrides=[*TINY, "steps=10", "lr_decay_start=0.6", "ckpt_every=100"])
    trainer = Trainer(cfg, run_dir)
    for step, factor in [(0, 1.0), (6, 1.0), (7, 0.75), (9, 0.25), (10, 0.0)]:
        trainer.step = step
        assert trainer.lr_decay_factor() == pytest.approx(factor)
    trainer.step = 0
    trainer.fit()  # the last update (from step 9) ran at a quarter of each learning rate
    assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(cfg.lr_g * 0.25)
    assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(cfg.lr_d * 0.25)
    with pytest.raises(ConfigError, match="lr_decay_start"):
        prepare_run("quickstart", out=tmp_path / "bad", overrides=["lr_decay_start=1.5"])


def test_export_reproduces_generator_exactly(tmp_path):
    run(tmp_path / "r", "steps=2", "ema_start=0", "ema_decay=0.5")
    G = sahit.load(tmp_path / "r")
    G_raw = sahit.load(tmp_path / "r", ema=False)
    state = _state(tmp_path / "r")
    cfg, _ = prepare_run("quickstart", out=tmp_path / "r", overrides=[*TINY, "ema_start=0", "ema_decay=0.5"])
    G_ref, _ = sahit.build(cfg.model.name, **cfg.model.args)
    G_ref.load_state_dict(state["G_ema"])
    G_ref.eval()
    a = G.sample(10, seed=3)
    b = G_ref.sample(10, seed=3)
    assert torch.equal(a, b)
    assert a.shape == (10, 3, 16, 16) and a.min() >= -1 and a.max() <= 1  # the quickstart is 16 px
    assert not torch.equal(a, G_raw.sample(10, seed=3))  # EMA and raw weights differ after training
    assert torch.equal(G.sample(10, classes=4, seed=1), G.sample(10, classes=[4] * 10, seed=1))


def test_folder_of_images_trains(tmp_path):
    from PIL import Image

    for c, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (40 + i, 36), colour).save(tmp_path / "imgs" / c / f"{i}.png")
    summary = run(tmp_path / "r", "steps=2", data=str(tmp_path / "imgs"))
    assert summary["step"] == 2
    assert sahit.load(tmp_path / "r").num_classes == 2  # adapted to the folder's classes


CIFAR = Path(__file__).resolve().parents[3] / "shared" / "data" / "cifar10" / "train"


@pytest.mark.skipif(not CIFAR.is_dir(), reason="../shared/data/cifar10/train is not present")
def test_short_run_on_real_cifar10_folder(tmp_path):
    summary = run(tmp_path / "r", "steps=2", data=str(CIFAR))
    assert summary["step"] == 2
    assert sahit.load(tmp_path / "r").num_classes == 10


def test_hit_recipe_with_r1_and_bcr_trains(tmp_path):
    cfg, run_dir = prepare_run("hit-32", out=tmp_path / "r",
                               overrides=["steps=2", "batch_size=8", "bcr_weight=10", "progress=false"])
    assert (cfg.loss, cfg.betas_d, cfg.r1_every) == ("logistic", [0.0, 0.99], 16) and cfg.r1_gamma > 0
    summary = Trainer(cfg, run_dir).fit()
    assert summary["step"] == 2
    G = sahit.load(tmp_path / "r")
    assert G.sample(4, seed=0).shape == (4, 3, 32, 32)


def test_lazy_r1_runs_every_kth_d_step_with_k_times_the_weight(tmp_path, monkeypatch):
    from sahit.training import objective

    calls = []

    def counting_r1(real_logits, real):
        calls.append(trainer.step)
        return torch.ones(())  # a known penalty, so its weight shows in the loss

    monkeypatch.setattr(objective, "r1_penalty", counting_r1)
    cfg, run_dir = prepare_run("quickstart", out=tmp_path / "r",
                               overrides=[*TINY, "r1_gamma=2", "r1_every=3", "n_dis=2", "steps=4"])
    trainer = Trainer(cfg, run_dir)
    trainer.fit()
    assert calls == [0, 1, 3]  # D steps 0, 3, 6 of 8 (two per G step)

    real, y = next(trainer.batches())
    z, y_fake = trainer.latents()
    fake = trainer.G(z, y_fake).detach()
    trainer.D.eval()  # no power iteration between the two passes: the same D twice
    with torch.no_grad():
        plain, _ = trainer.objective.d_loss(real, y, fake, y_fake, with_r1=False)
    lazy, _ = trainer.objective.d_loss(real, y, fake, y_fake, with_r1=True)
    assert lazy.item() == pytest.approx(plain.item() + 2 * 3)


def test_evaluation_during_training_logs_fid_and_keeps_best(tmp_path, monkeypatch):
    from sahit.data import make_dataset
    from sahit.metrics import fit_domain_extractor, save_domain_extractor

    monkeypatch.setenv("SAHIT_CACHE", str(tmp_path / "cache"))
    extractor = fit_domain_extractor(make_dataset("builtin", 32), 10, 32, steps=2, progress=False)
    save_domain_extractor(extractor, tmp_path / "feat")
    run(tmp_path / "r", "steps=4", "eval_every=2", "eval_n=40", f"eval_features={tmp_path / 'feat'}")
    records = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    fids = [r for r in records if "fid" in r]
    assert [r["step"] for r in fids] == [2, 4] and all(r["fid"] > 0 for r in fids)
    best = torch.load(tmp_path / "r" / "checkpoints" / "best.pt", weights_only=True)
    assert best["fid"] == min(r["fid"] for r in fids)


def test_eval_every_needs_features(tmp_path):
    with pytest.raises(ValueError, match="eval_features"):
        prepare_run("quickstart", out=tmp_path / "r", overrides=[*TINY, "eval_every=10"])
