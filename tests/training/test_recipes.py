"""The official code's training semantics: fresh latents for the G step, D's power iteration once per iteration,
the EMA generator's spectral norm, HiT's simultaneous update and unconditional default, data crops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.utils import parametrize

from sahit.data.folder import image_transform
from sahit.layers.spectral import largest_singular_value, spectral_norms
from sahit.models import model_config
from sahit.training import Trainer, prepare_run
from sahit.training.config import ConfigError, config_from_dict, load_preset
from sahit.training.loop import adapt_num_classes

# sagan-cifar10 (the official recipe) cut to 16 px and width 8
TINY = ["model.resolution=16", "model.attn_res=[8]", "model.g_width=8", "model.d_width=8", "model.z_dim=16",
        "batch_size=4", "progress=false"]
TINY_HIT = ["model.widths=[16, 16, 8]", "model.z_dim=16", "batch_size=4", "progress=false"]


def trainer(tmp_path, *overrides: str, preset: str = "sagan-cifar10") -> Trainer:
    tiny = TINY_HIT if preset.startswith("hit") else TINY
    cfg, run_dir = prepare_run(preset, out=tmp_path / "r", overrides=[*tiny, *overrides])
    return Trainer(cfg, run_dir)


def record_latents(tr: Trainer) -> list[torch.Tensor]:
    """Every z G is called with, in order."""
    seen: list[torch.Tensor] = []
    tr.G.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    return seen


def test_g_step_sees_fresh_latents_by_default(tmp_path):
    tr = trainer(tmp_path)
    assert tr.cfg.reuse_fake is False
    seen = record_latents(tr)
    tr.train_step(tr.batches())
    assert len(seen) == 2  # the D step's fakes, then the G step's
    assert seen[0].shape == seen[1].shape and not torch.equal(seen[0], seen[1])


def test_reuse_fake_runs_g_once_per_step(tmp_path):
    tr = trainer(tmp_path, "reuse_fake=true")
    seen = record_latents(tr)
    tr.train_step(tr.batches())
    assert len(seen) == 1


@pytest.mark.parametrize("in_g_step", [False, True])
def test_d_power_iteration_advances_once_per_iteration(tmp_path, in_g_step):
    """Official SAGAN: u advances in the D step only; with d_sn_in_g_step the G step's D pass advances it too."""
    tr = trainer(tmp_path, f"d_sn_in_g_step={str(in_g_step).lower()}")
    sn = spectral_norms(tr.D)[0]
    after_pass: list[torch.Tensor] = []
    tr.D.register_forward_hook(lambda module, args, out: after_pass.append(sn._u.clone()))
    tr.train_step(tr.batches())
    assert len(after_pass) == 2  # the D step's real+fake pass, the G step's pass
    assert not torch.equal(after_pass[0], after_pass[1])  # each pass iterates from the stored u ...
    expected = after_pass[1] if in_g_step else after_pass[0]  # ... but the G step's is stored only if asked
    assert torch.equal(sn._u, expected)


def max_sigma_error(G: torch.nn.Module) -> float:
    """max |sigma_max(W) - 1| over G's spectrally normalised layers, on the effective weights in eval mode."""
    G.eval()
    with torch.no_grad():
        errors = [abs(largest_singular_value(m.weight) - 1) for m in G.modules()
                  if parametrize.is_parametrized(m, "weight") and spectral_norms(m)]
    assert errors
    return max(errors)


@pytest.mark.slow
def test_ema_generator_keeps_spectral_norm_at_one(tmp_path):
    """After a few hundred steps with EMA, the averaged G's layers are no further from sigma 1 than the live G's.

    (With ema_spectral_norm=copy, the u, v of the live G, they end ~100x further: ~1e-2 against ~1e-4.) Two
    threads, whatever the machine's: at one thread the rounding differs and the two end within 4% of each other
    with the live G a hair closer.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        live, ema = _sigma_errors_after_ema_training(tmp_path)
    finally:
        torch.set_num_threads(threads)
    assert ema <= live + 1e-6, (ema, live)


def _sigma_errors_after_ema_training(tmp_path) -> tuple[float, float]:
    tr = trainer(tmp_path, "steps=150", "ema_kimg=0", "ema_rampup=0", "ema_decay=0.99", "ema_start=0", "lr_g=0.002",
                 "lr_d=0.002")
    batches = tr.batches()
    for step in range(1, 151):
        assert tr.train_step(batches)["ok"]
        tr.ema.update(tr.G, step)
    return max_sigma_error(tr.G), max_sigma_error(tr.ema.net)


def test_simultaneous_update_one_forward_updates_both(tmp_path):
    tr = trainer(tmp_path, "update=simultaneous", "reuse_fake=false", preset="hit-32")  # with R1 10 every step
    assert (tr.cfg.r1_gamma, tr.cfg.r1_every) == (1.0, 16)
    tr.cfg.r1_gamma, tr.cfg.r1_every = 10.0, 1
    seen = record_latents(tr)
    g0 = [p.detach().clone() for p in tr.G.parameters()]
    d0 = [p.detach().clone() for p in tr.D.parameters()]
    stats = tr.train_step(tr.batches())
    assert stats["ok"] and torch.isfinite(stats["loss_d"]) and torch.isfinite(stats["loss_g"])
    assert len(seen) == 1  # one G forward serves both updates
    assert any(not torch.equal(a, b) for a, b in zip(g0, tr.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, tr.D.parameters()))


def test_simultaneous_gradients_come_from_each_networks_own_loss(tmp_path):
    """D's gradient is that of D's loss alone, G's that of G's loss alone (as HiT's two gradient tapes)."""
    tr = trainer(tmp_path, "update=simultaneous", "reuse_fake=false", preset="hit-32")
    real, y_real = next(tr.batches())
    z, y = tr.latents()
    loss_d, stats = tr.objective.d_loss(real, y_real, tr.G(z, y), y, keep_fake_logits=True)
    loss_g = tr.objective.loss.g_loss(stats["fake_logits"])
    d_params, g_params = list(tr.D.parameters()), list(tr.G.parameters())
    ref_d = torch.autograd.grad(loss_d, d_params, retain_graph=True, allow_unused=True)
    ref_g = torch.autograd.grad(loss_g, g_params, retain_graph=True, allow_unused=True)
    tr._backward(loss_d, tr.D, tr.opt_d, tr.scaler_d, retain_graph=True, inputs=d_params)
    tr._backward(loss_g, tr.G, tr.opt_g, tr.scaler_g, inputs=g_params)
    for params, refs in ((d_params, ref_d), (g_params, ref_g)):
        for p, ref in zip(params, refs):
            assert (p.grad is None) if ref is None else torch.equal(p.grad, ref)


def test_simultaneous_needs_one_d_step():
    with pytest.raises(ConfigError, match="n_dis"):
        config_from_dict({"model": "hit-32", "update": "simultaneous", "n_dis": 2})


@pytest.mark.parametrize("preset, expected", [("hit-64", 0), ("hit-128", 0), ("hit-32", 10), ("quickstart", 10)])
def test_hit_is_unconditional_unless_the_preset_asks(preset, expected):
    cfg = config_from_dict(load_preset(preset))
    adapt_num_classes(cfg, 10)  # labelled data, e.g. CIFAR-10 or ImageNet folders
    assert model_config(cfg.model.name, **cfg.model.args).num_classes == expected


def test_class_conditional_override_wins():
    cfg = config_from_dict({**load_preset("hit-64"), "class_conditional": True})
    adapt_num_classes(cfg, 10)
    assert cfg.model_args["num_classes"] == 10
    cfg = config_from_dict({**load_preset("quickstart"), "class_conditional": False})
    adapt_num_classes(cfg, 10)
    assert cfg.model_args["num_classes"] == 0


def test_hit_imagenet_crop_is_random_875_and_evaluation_crops_the_centre():
    from PIL import Image

    image = Image.fromarray(torch.arange(48 * 64 * 3, dtype=torch.int64).remainder(251).to(torch.uint8)
                            .reshape(48, 64, 3).numpy())
    train = image_transform(42, "random", 0.875, "bicubic")  # side 0.875 * 48 = 42: a crop without resizing
    crops = {tuple(train(image).flatten()[:20].tolist()) for _ in range(20)}
    assert len(crops) > 1  # random positions
    centre = image_transform(42, "center", 0.875, "bicubic")(image)
    expected = torch.from_numpy(np.array(image)).permute(2, 0, 1)[:, 3:45, 11:53]
    assert torch.allclose(centre, expected.float() / 127.5 - 1, atol=1e-6)


def test_a_run_made_before_the_new_keys_resumes_as_it_started(tmp_path):
    """config.yaml of a 0.1.0 run lacks the keys added since: resuming keeps the old behaviour, not the new defaults."""
    import yaml

    cfg, run_dir = prepare_run("quickstart", out=tmp_path / "old", overrides=["steps=2"])
    old = {k: v for k, v in cfg.flat().items() if k not in ("update", "d_sn_in_g_step", "ema_spectral_norm",
                                                                   "class_conditional", "data_crop")}
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(old))
    resumed, _ = prepare_run("quickstart", out=run_dir, overrides=["steps=4"])  # no "other settings" error
    assert (resumed.d_sn_in_g_step, resumed.ema_spectral_norm, resumed.update) == (True, "copy", "alternating")
    from sahit.training.config import SCHEMA, stored_config

    assert resumed.to_dict()["schema"] == SCHEMA  # what this version writes back: the sections, with a schema
    with pytest.raises(ConfigError, match="schema 99"):
        stored_config({**resumed.to_dict(), "schema": 99})
