"""Gradient accumulation (accum_steps): D's gradient equals the unsplit batch's; power iterations advance once."""

from __future__ import annotations

import pytest
import torch

from sahit.layers.spectral import paused_power_iteration, spectral_norms
from sahit.training.accumulation import accumulated_d_grads, accumulated_g_grads
from sahit.training.config import ConfigError, config_from_dict
from sahit.training.loop import Trainer


def _trainer(tmp_path, accum_steps: int, **extra) -> Trainer:
    cfg = config_from_dict({"model": "quickstart", "model_args": {"g_width": 8, "d_width": 8}, "batch_size": 8,
                            "data_length": 32, "device": "cpu", "progress": False, "accum_steps": accum_steps,
                            **extra})
    return Trainer(cfg, tmp_path / f"run{accum_steps}")


def _u(net) -> list[torch.Tensor]:
    return [sn._u.clone() for sn in spectral_norms(net)]


@pytest.mark.parametrize("extra", [{}, {"r1_gamma": 1.0}], ids=["hinge", "hinge+R1"])
def test_d_gradient_equals_unsplit_batch(tmp_path, single_thread, extra):
    whole, split = _trainer(tmp_path, 1, **extra), _trainer(tmp_path, 4, **extra)
    assert all(torch.equal(a, b) for a, b in zip(whole.D.parameters(), split.D.parameters()))
    torch.manual_seed(0)
    real, fake = torch.rand(8, 3, 16, 16) * 2 - 1, torch.rand(8, 3, 16, 16) * 2 - 1
    y_real, y_fake = torch.randint(0, 10, (8,)), torch.randint(0, 10, (8,))
    loss, stats = whole.objective.d_loss(real, y_real, fake, y_fake, with_r1=True)
    whole._backward(loss, whole.D, whole.opt_d, whole.scaler_d)
    loss_split, stats_split = accumulated_d_grads(split, real, y_real, fake, y_fake, with_r1=True)
    assert torch.allclose(loss_split, loss, atol=1e-6)
    assert torch.allclose(stats_split["d_real"], stats["d_real"], atol=1e-6)
    for (name, p), q in zip(whole.D.named_parameters(), split.D.parameters()):
        assert torch.allclose(q.grad, p.grad, rtol=1e-4, atol=1e-6), name
    for a, b in zip(_u(whole.D), _u(split.D)):  # the power iteration advanced once in both
        assert torch.allclose(a, b, atol=1e-6)


def test_g_step_advances_power_iterations_once_and_trains(tmp_path, single_thread):
    whole, split = _trainer(tmp_path, 1), _trainer(tmp_path, 2)
    d_u = _u(split.D)
    loss = accumulated_g_grads(split)
    assert torch.isfinite(loss) and all(p.grad is not None for p in split.G.parameters())
    assert all(p.grad is None for p in split.D.parameters())
    assert all(torch.equal(a, b) for a, b in zip(d_u, _u(split.D)))  # D's u: the D step's only (default)
    z, y = whole.latents()
    whole.G(z, y)  # one training-mode pass: G's u advance once
    for a, b in zip(_u(whole.G), _u(split.G)):
        assert torch.allclose(a, b, atol=1e-6)
    stats = split.advance(split.batches())
    assert split.step == 1 and torch.isfinite(stats["loss_d"]) and torch.isfinite(stats["loss_g"])


def test_paused_power_iteration_keeps_u_and_restores_mode(single_thread):
    from sahit.models import build

    _, D = build("quickstart", d_width=8)
    u = _u(D)
    with paused_power_iteration(D):
        D(torch.rand(2, 3, 16, 16), torch.tensor([0, 1]))
    assert all(torch.equal(a, b) for a, b in zip(u, _u(D)))
    assert all(sn.training for sn in spectral_norms(D))
    D(torch.rand(2, 3, 16, 16), torch.tensor([0, 1]))
    assert not all(torch.equal(a, b) for a, b in zip(u, _u(D)))


def test_accum_steps_is_validated():
    with pytest.raises(ConfigError, match="does not split into accum_steps=3"):
        config_from_dict({"batch_size": 8, "accum_steps": 3})
    with pytest.raises(ConfigError, match="update=alternating and reuse_fake=false"):
        config_from_dict({"batch_size": 8, "accum_steps": 2, "reuse_fake": True})
    with pytest.raises(ConfigError, match="did you mean 'accum_steps'"):
        config_from_dict({"accum_step": 2})
