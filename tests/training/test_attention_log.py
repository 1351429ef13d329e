"""Attention's weight over training: gamma and contribution ratio per layer at every log step."""

from __future__ import annotations

import json

import pytest
import torch

from sahit.models import build
from sahit.models.contribution import attention_contributions
from sahit.models.knockout import knockout_names
from sahit.training import Trainer, prepare_run
from sahit.training.attention_log import AttentionLog, attention_series, parse_attention_key
from sahit.training.checkpoint import latest_checkpoint

TINY = ["model.resolution=32", "model.g_attn_res=[16]", "model.d_attn_res=[16]", "model.g_width=16",
        "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false", "steps=3", "log_every=1",
        "sample_every=100", "ckpt_every=3", "data_length=64"]


def test_sagan_ratio_is_gamma_times_branch_over_input(single_thread):
    torch.manual_seed(0)
    G, _ = build("quickstart", g_width=16, z_dim=16)
    layer = dict(G.named_modules())[knockout_names(G)[0]]
    layer.gamma.data.fill_(-0.5)
    captured = {}
    layer.register_forward_hook(lambda m, args, out: captured.update(x=args[0], y=out))
    z = G.sample_noise(4, seed=0)
    values = attention_contributions(G.train(), z, G.sample_labels(4, None))
    assert G.training  # the mode is put back
    x, y = captured["x"], captured["y"]
    expected = float((y - x).norm() / x.norm())
    assert values[knockout_names(G)[0]] == {"ratio": pytest.approx(expected, rel=1e-4), "gamma": -0.5}


def test_hit_ratio_is_attention_output_over_tokens(single_thread):
    torch.manual_seed(0)
    G, _ = build("hit-32", widths=[16, 16, 8], heads=[2, 2, 2])
    G.eval()
    layer = G.stages[0].layers[0]
    captured = {}
    layer.register_forward_hook(lambda m, args, out: captured.update(t=args[0]))
    values = attention_contributions(G, G.sample_noise(2, seed=0))
    t = captured["t"]
    with torch.no_grad():
        a = layer.attn.forward_blocked(layer.norm(t))
    assert set(values) == set(knockout_names(G)) and "gamma" not in values["stages.0.layers.0"]
    assert values["stages.0.layers.0"]["ratio"] == pytest.approx(float(a.norm() / t.norm()), rel=1e-4)
    assert all(v["ratio"] > 0 for v in values.values())


def test_network_without_attention_gives_nothing():
    G, D = build("quickstart", g_width=16, d_width=16, z_dim=16, g_attn_res=[], d_attn_res=[])
    log = AttentionLog(G, D, seed=0, device=torch.device("cpu"))
    assert log.values() == {}
    assert parse_attention_key("loss_d") is None
    assert parse_attention_key("attention/G/stages.0.layers.1/ratio") == ("G", "stages.0.layers.1", "ratio")


def _train(tmp_path, name, *extra):
    cfg, run_dir = prepare_run("quickstart", out=tmp_path / name, overrides=[*TINY, *extra])
    Trainer(cfg, run_dir).fit()
    return run_dir


def test_log_holds_every_layer_at_every_log_step(tmp_path, single_thread):
    run_dir = _train(tmp_path, "r")
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    G, D = build("quickstart", resolution=32, g_attn_res=[16], d_attn_res=[16], g_width=16, d_width=16, z_dim=16)
    layers = {"G": knockout_names(G), "D": knockout_names(D)}
    assert layers["G"] and layers["D"]
    for record in records:
        for net, names in layers.items():
            for name in names:
                for what in ("gamma", "ratio"):
                    assert isinstance(record[f"attention/{net}/{name}/{what}"], float)
    series = attention_series(records)
    assert set(series) == {("G", "gamma"), ("G", "ratio"), ("D", "gamma"), ("D", "ratio")}
    gammas = series[("G", "gamma")][layers["G"][0]]
    assert [s for s, _ in gammas] == [1, 2, 3] and gammas[0][1] != 0.0  # gamma moved off its 0 start
    tags = _tensorboard_tags(run_dir / "tb")
    assert f"attention/G/{layers['G'][0]}/ratio" in tags


def _tensorboard_tags(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return set(acc.Tags()["scalars"])


def test_measuring_leaves_training_bit_identical(tmp_path, monkeypatch, single_thread):
    measured = latest_checkpoint(_train(tmp_path, "measured") / "checkpoints")
    monkeypatch.setattr(AttentionLog, "values", lambda self: {})
    plain = latest_checkpoint(_train(tmp_path, "plain") / "checkpoints")
    for part in ("G", "D", "G_ema", "opt_g", "opt_d", "rng"):
        _assert_same(measured[part], plain[part], part)


def _assert_same(a, b, where):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where
