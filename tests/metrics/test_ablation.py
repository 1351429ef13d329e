"""sahit ablate: knock-outs at sampling time on a tiny trained run."""

from __future__ import annotations

import json

import pytest
import torch

import sahit
from sahit.cli import main
from sahit.export import save_generator
from sahit.metrics.ablation import ablate, arms
from sahit.metrics.domain import DomainConfig, DomainExtractor, save_domain_extractor
from sahit.models import build
from sahit.models.knockout import knockout_names
from sahit.training import Trainer, prepare_run

TINY = ["model.g_width=16", "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false", "steps=2",
        "log_every=1", "sample_every=100", "ckpt_every=2", "data_length=64"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 2-step quickstart run (attention in G at 16x16)."""
    cfg, run_dir = prepare_run("quickstart", out=tmp_path_factory.mktemp("ablate") / "run", overrides=TINY)
    Trainer(cfg, run_dir).fit()
    return run_dir


@pytest.fixture(scope="module")
def extractor_path(tmp_path_factory):
    torch.manual_seed(0)
    extractor = DomainExtractor(DomainConfig(num_classes=10, resolution=16, width=4))
    return save_domain_extractor(extractor, tmp_path_factory.mktemp("extractor") / "domain")


def test_cli_knocks_out_every_layer_and_restores_the_generator(tiny_run, extractor_path, tmp_path, capsys):
    G = sahit.load(tiny_run)
    names = knockout_names(G)
    assert names
    before = G.sample(10, seed=3)
    out, grid = tmp_path / "ablation.json", tmp_path / "ablation.png"
    assert main(["ablate", "--run", str(tiny_run), "--features", str(extractor_path), "--n", "20",
                 "--batch-size", "10", "--out", str(out), "--grid", str(grid), "--device", "cpu"]) == 0
    result = json.loads(out.read_text())
    assert result["layers"] == names  # the JSON names every layer
    labels = [a["knocked_out"] for a in result["arms"]]
    assert labels == ["intact", *names, *(["all"] if len(names) > 1 else [])]
    intact, *knocked = result["arms"]
    assert intact["fid_vs_intact"] == pytest.approx(0, abs=1e-6) and intact["mean_abs_change"] == 0
    assert all(a["mean_abs_change"] > 0 for a in knocked)  # every knock-out changes the samples
    assert all(0 <= a["class_accuracy"] <= 1 and a["ifid_vs_intact"] is not None for a in result["arms"])
    assert result["restored_identical"] is True
    assert grid.is_file() and grid.stat().st_size > 0
    printed = capsys.readouterr().out
    assert "FID vs intact" in printed and names[0] in printed
    assert torch.equal(sahit.load(tiny_run).sample(10, seed=3), before)


def test_library_call_leaves_the_model_bit_identical(tiny_run, extractor_path):
    G = sahit.load(tiny_run)
    for m in G.modules():  # a heavier gamma so that the change is far above rounding
        if hasattr(m, "gamma"):
            m.gamma.data.fill_(1.0)
    state = {k: v.clone() for k, v in G.state_dict().items()}
    before = G.sample(10, seed=3)
    result = ablate(G, extractor_path, n=20, batch_size=10, progress=False)
    assert result["restored_identical"]
    assert torch.equal(G.sample(10, seed=3), before)
    assert all(torch.equal(v, state[k]) for k, v in G.state_dict().items())
    assert result["arms"][1]["fid_vs_intact"] > 0
    assert result["grid"].shape[:2] == (len(result["arms"]), 8)


def test_model_without_attention_says_so_in_one_line(tmp_path, capsys):
    G, _ = build("quickstart", g_width=16, d_width=16, z_dim=16, g_attn_res=[], d_attn_res=[])
    save_generator(tmp_path / "noattn" / "export", G.eval())
    assert main(["ablate", "--run", str(tmp_path / "noattn"), "--n", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no attention layers: there is nothing to knock out" in err


def test_unknown_layer_names_the_valid_ones(tiny_run):
    G = sahit.load(tiny_run)
    with pytest.raises(ValueError, match="no attention layer named 'nope'; this generator has attention"):
        arms(G, ["nope"])


def test_hit_generator_knocks_out_each_branch_and_all(single_thread):
    torch.manual_seed(0)
    G, _ = build("hit-32", widths=[16, 16, 8], heads=[2, 2, 2], block_sizes=[2, 4, None])
    extractor = DomainExtractor(DomainConfig(num_classes=2, resolution=16, width=4))
    result = ablate(G.eval(), extractor, n=6, batch_size=6, grid_n=2, progress=False)
    assert result["layers"] == knockout_names(G) and result["arms"][-1]["knocked_out"] == "all"
    assert all(a["mean_abs_change"] > 0 for a in result["arms"][1:])
    assert result["arms"][0]["class_accuracy"] is None and "unconditional" in result["class_accuracy_note"]
    assert result["restored_identical"]
