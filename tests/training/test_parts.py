"""EMA, sampler, config parsing and checkpoint files."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sahit.training.checkpoint import CheckpointError, list_checkpoints, load_checkpoint, save_checkpoint
from sahit.training.config import ConfigError, config_from_dict, load_preset, parse_overrides
from sahit.training.ema import EMA
from sahit.training.sampler import ResumableBatchSampler


def test_ema_math():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = EMA(net, decay=0.9, start=2)
    old = [p.detach().clone() for p in ema.net.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    ema.update(net, step=1)  # before start: copies
    for pe, p in zip(ema.net.parameters(), net.parameters()):
        assert torch.equal(pe, p)
    before = [p.detach().clone() for p in ema.net.parameters()]
    net(torch.randn(8, 3))  # moves batch-norm running stats
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(2.0)
    ema.update(net, step=2)
    for pe, pb, p in zip(ema.net.parameters(), before, net.parameters()):
        assert torch.allclose(pe, 0.9 * pb + 0.1 * p)
    assert not any(torch.equal(a, b) for a, b in zip(old, ema.net.parameters()))
    rm_ema, rm = ema.net[1].running_mean, net[1].running_mean
    assert torch.allclose(rm_ema, 0.1 * rm)  # averaged from zeros, not copied


def test_sampler_resumes_and_shards():
    full = ResumableBatchSampler(20, 4, seed=1)
    it = iter(full)
    batches = [next(it) for _ in range(12)]  # crosses an epoch (5 batches/epoch)
    resumed = iter(ResumableBatchSampler(20, 4, seed=1, start_batch=7))
    assert [next(resumed) for _ in range(5)] == batches[7:12]
    assert sorted(i for batch in batches[:5] for i in batch) == list(range(20))  # each epoch is a permutation
    r0 = iter(ResumableBatchSampler(20, 4, seed=1, rank=0, world=2))
    r1 = iter(ResumableBatchSampler(20, 4, seed=1, rank=1, world=2))
    for b in batches[:5]:
        assert next(r0) + next(r1) == b
    with pytest.raises(ValueError, match="divide"):
        ResumableBatchSampler(20, 5, seed=0, world=2)


def test_overrides_parse_as_yaml_data():
    assert parse_overrides(["steps=10", "model.attn_res=[8, 16]", "flip=false", "data=/x"]) == {
        "steps": 10, "model_args": {"attn_res": [8, 16]}, "flip": False, "data": "/x"}


def test_exponent_notation_is_a_number():
    """YAML 1.1 reads `1e-4` as a string; in a float field it means the number."""
    cfg = config_from_dict({"model": "quickstart", **parse_overrides(["lr_g=1e-4", "lr_d=4E-4", "r1_gamma=1.e+1"])})
    assert (cfg.lr_g, cfg.lr_d, cfg.r1_gamma) == (1e-4, 4e-4, 10.0)


def test_integer_betas_reach_adam_as_floats():
    cfg = config_from_dict({"model": "quickstart", **parse_overrides(["betas_g=[0, 0.99]", "betas_d=[0, 0.5]"])})
    assert cfg.betas_g == [0.0, 0.99] and all(isinstance(b, float) for b in cfg.betas_g + cfg.betas_d)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)], betas=cfg.betas_g)  # refuses [0, 0.99] as given


@pytest.mark.parametrize(
    "values, match",
    [
        ({"stpes": 3}, "did you mean 'steps'"),
        ({"lr_g": -1e-4}, "lr_g must be a positive"),
        ({"batch_size": 0}, "batch_size must be a positive"),
        ({"batch_size": "big"}, "batch_size must be an integer"),
        ({"steps": 1.5}, "steps must be an integer"),
        ({"model_args": {"resolution": 48}}, "resolution 48"),
        ({"model_args": {"attn_res": [7]}}, "attention at 7x7"),
        ({"precision": "fp8"}, "precision"),
        ({"loss": "hing"}, "hinge"),
        ({"lr_g": "fast"}, "lr_g must be a number"),
        ({"lr_d": "-1e-4"}, "lr_d must be a positive"),
    ],
)
def test_bad_config_values(values, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict({"model": "quickstart", **values})


def test_unknown_preset_and_model_presets():
    with pytest.raises(ConfigError, match="quickstart"):
        load_preset("quikstart")
    from sahit.models.registry import family_of

    # a model preset without a training preset trains with its family's recipe, not SAGAN's by default;
    # the training presets that only name a model state nothing else
    assert load_preset("sagan-128-tf") == {**family_of("sagan").recipe, "model": "sagan-128-tf"}
    assert load_preset("sagan-imagenet128-tf") == {**family_of("sagan").recipe, "model": "sagan-128-tf"}
    assert load_preset("hit-64") == {**family_of("hit").recipe, "model": "hit-64"}
    assert load_preset("hit-64")["update"] == "simultaneous"


def test_checkpoints_rotate_and_refuse_garbage(tmp_path):
    for step in (1, 2, 3, 4):
        save_checkpoint({"x": torch.tensor([step])}, tmp_path, step, keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [3, 4]
    assert load_checkpoint(tmp_path / "ckpt-00000004.pt")["x"].item() == 4
    bad = tmp_path / "ckpt-00000005.pt"
    bad.write_bytes((tmp_path / "ckpt-00000004.pt").read_bytes()[:100])  # truncated
    with pytest.raises(CheckpointError, match="cannot be loaded"):
        load_checkpoint(bad)
