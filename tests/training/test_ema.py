"""The EMA's half-life schedule (ema_kimg, ema_rampup): its decay, how closely it follows G, config, resume."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sahit.faithfulness import preset_report
from sahit.training import Trainer, prepare_run
from sahit.training.config import ConfigError, config_from_dict, differences, load_preset
from sahit.training.ema import EMA, halflife_decay

from .test_trainer import TINY, _assert_equal_states, _state, run


def reference_decay(step: int, batch: int, kimg: float, rampup: float) -> float:
    """exp(-ln 2 * images per step / half-life in images), in float64 (math is float64)."""
    halflife = kimg * 1000 if rampup == 0 else min(kimg * 1000, rampup * step * batch)
    return math.exp(-math.log(2) * batch / halflife)


@pytest.mark.parametrize(("step", "batch", "kimg", "rampup"), [
    (1, 64, 500, 0.05), (10, 64, 500, 0.05), (1900, 64, 500, 0.05), (200_000, 64, 500, 0.05),
    (1, 64, 10, 0.0), (1234, 256, 10, 0.0), (7, 8, 0.05, 0.5)])
def test_decay_from_half_life_matches_a_float64_reference(step, batch, kimg, rampup):
    assert halflife_decay(step, batch, kimg, rampup) == pytest.approx(reference_decay(step, batch, kimg, rampup),
                                                                     rel=1e-12, abs=0)


def test_half_life_halves_the_old_average_every_kimg_thousand_images():
    batch, kimg = 32, 4.0  # 4000 images = 125 steps
    weight = math.prod(halflife_decay(s, batch, kimg) for s in range(1, 126))
    assert weight == pytest.approx(0.5, rel=1e-12)
    # the ramp-up caps the half-life at rampup x images seen: past 4000 / 0.05 = 80k images the cap is gone
    assert halflife_decay(2500, batch, kimg, 0.05) == halflife_decay(2500, batch, kimg) > halflife_decay(2499, batch,
                                                                                                          kimg, 0.05)


def _lag(steps: int, decay: float = 0.0, **schedule) -> float:
    """How many steps the EMA lags behind G when G's one weight moves by 1 per step from 0 (early training),
    after checking the EMA against the float64 recursion ema = d * ema + (1 - d) * G with its own decays."""
    net = nn.Linear(1, 1, bias=False).double()
    nn.init.zeros_(net.weight)
    ema = EMA(net, decay, **schedule)
    expected = 0.0
    for step in range(1, steps + 1):
        with torch.no_grad():
            net.weight.add_(1.0)
        ema.update(net, step)
        d = ema.decay_at(step)
        expected = d * expected + (1 - d) * step
    assert ema.net.weight.item() == pytest.approx(expected, rel=1e-12, abs=1e-12)
    return steps - ema.net.weight.item()


CIFAR = {"halflife_kimg": 500, "rampup": 0.05, "batch_size": 64}  # sagan-cifar10's


def test_ramp_up_makes_the_early_ema_follow_g():
    # after 10 steps the half-life EMA is within a step of G; 0.9999 (from step 0) still sits at the start
    assert _lag(10, **CIFAR) < 1.0
    assert _lag(10, 0.9999, start=0) > 9.9
    # ~2k steps, a short CPU run: the ramp keeps the lag under 10% of the run; 0.9999 from step 1000 lags ~900
    assert _lag(1900, **CIFAR) < 0.1 * 1900
    assert _lag(1900, 0.9999, start=1000) > 800


def test_config_validation():
    for bad, match in (({"ema_kimg": -1}, "ema.kimg must be >= 0"), ({"ema_rampup": -0.05}, "ema.rampup"),
                       ({"ema_rampup": 0.05}, "set ema.kimg > 0")):
        with pytest.raises(ConfigError, match=match):
            config_from_dict(bad)
    assert config_from_dict({"ema_kimg": 10}).ema_kimg == 10.0  # an int is accepted as the float it means


def test_sagan_cifar10_trains_with_the_half_life_and_reports_the_fixed_decay_unused(tmp_path):
    cfg = config_from_dict(load_preset("sagan-cifar10"))
    assert (cfg.ema_kimg, cfg.ema_rampup) == (500.0, 0.05)
    rows = {r["key"]: r for r in preset_report("sagan-cifar10")}
    assert rows["ema_decay"]["value"] == rows["ema_start"]["value"] == "unused"
    assert rows["ema_kimg"]["differs"] and not rows["ema_decay"]["differs"]
    trainer = Trainer(*prepare_run("sagan-cifar10", out=tmp_path / "r", overrides=TINY))
    assert trainer.ema.decay_at(30) == halflife_decay(30, 8, 500, 0.05)  # TINY's batch_size=8 is the global batch


def test_resume_with_a_half_life_is_bit_identical(tmp_path):
    # A half-life of 50 images at batch 8, ramped up: the EMA moves visibly in 6 steps.
    common = ["ckpt_every=3", "sample_every=100", "ema_kimg=0.05", "ema_rampup=0.5", "lr_decay_start=1.0"]
    run(tmp_path / "whole", "steps=6", *common)
    run(tmp_path / "split", "steps=3", *common)
    summary = run(tmp_path / "split", "steps=6", *common)
    assert summary["resumed"] and summary["steps_this_session"] == 3
    whole = _state(tmp_path / "whole")
    _assert_equal_states(whole, _state(tmp_path / "split"))
    assert any(not torch.equal(whole["G"][k], whole["G_ema"][k]) for k in whole["G"] if k.endswith("weight"))


def test_a_fixed_decay_named_beside_a_half_life_is_refused(tmp_path):
    # on the command line: it would do nothing (a preset's own ema_decay is simply replaced: quickstart ema_kimg=1)
    with pytest.raises(ConfigError, match=r"ema_decay has no effect: ema.kimg=500 .*ema.kimg=0 ema.rampup=0"):
        prepare_run("sagan-cifar10", out=tmp_path / "r", overrides=[*TINY, "ema_decay=0.99"])
    cfg, _ = prepare_run("sagan-cifar10", out=tmp_path / "r",
                         overrides=[*TINY, "ema_kimg=0", "ema_rampup=0", "ema_decay=0.99", "ema_start=0"])
    assert (cfg.ema_kimg, cfg.ema_decay, cfg.ema_start) == (0.0, 0.99, 0)
    assert prepare_run("quickstart", out=tmp_path / "q", overrides=[*TINY, "ema_kimg=1"])[0].ema_kimg == 1.0


def test_a_sagan_cifar10_run_from_before_the_half_life_resumes_with_its_fixed_decay(tmp_path):
    import yaml

    cfg, run_dir = prepare_run("sagan-cifar10", out=tmp_path / "old",
                               overrides=["ema_kimg=0", "ema_rampup=0", "ema_start=1000", "steps=2"])
    old = {k: v for k, v in cfg.flat().items() if k not in ("ema_kimg", "ema_rampup")}  # written before them
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(old))
    with pytest.raises(ConfigError, match="ema.kimg"):  # the new preset's half-life is another computation
        prepare_run("sagan-cifar10", out=run_dir, overrides=["steps=4"])
    resumed, _ = prepare_run("sagan-cifar10", out=run_dir,
                             overrides=["ema_kimg=0", "ema_rampup=0", "ema_start=1000", "steps=4"])
    assert (resumed.ema_kimg, resumed.ema_decay, resumed.ema_start, resumed.steps) == (0.0, 0.9999, 1000, 4)


def test_resume_compares_only_the_keys_that_act():
    half = config_from_dict({"ema_kimg": 500, "ema_decay": 0.9999, "ema_start": 2000})
    assert differences(half, config_from_dict({"ema_kimg": 500, "ema_decay": 0.5, "ema_start": 0})) == []
    assert differences(half, config_from_dict({"ema_kimg": 0, "ema_decay": 0.5, "ema_start": 2000})) == [
        "ema.decay: 0.9999 -> 0.5", "ema.kimg: 500.0 -> 0.0"]
