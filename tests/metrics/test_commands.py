"""`sahit features fit`, `sahit stats` and `sahit eval` through the real command-line entry point."""

import json

import numpy as np
import pytest
import torch

import sahit
from sahit.cli import main
from sahit.data import BuiltinShapes
from sahit.metrics import load_stats

from .conftest import ToyGenerator


@pytest.fixture
def no_inception_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv("SAHIT_INCEPTION_WEIGHTS", raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("a network call was made")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)


def test_fit_stats_eval(tmp_path, monkeypatch, capsys):
    ext, ref, out = tmp_path / "ext", tmp_path / "ref.npz", tmp_path / "metrics.json"
    assert main(["features", "fit", "--data", "builtin", "--out", str(ext), "--steps", "3", "--resolution", "16"]) == 0
    assert (ext / "model.safetensors").is_file() and (ext / "config.json").is_file()

    assert main(["stats", "--data", "builtin", "--out", str(ref), "--features", str(ext), "--n", "40"]) == 0
    stats = load_stats(ref)
    assert stats.n == 40 and stats.meta["data"] == "builtin" and stats.meta["resolution"] == 16
    assert stats.meta["extractor_spec"] == str(ext) and len(stats.labels) == 40

    monkeypatch.setattr(sahit, "load", lambda run, ema=True, device="cpu": ToyGenerator(resolution=16))
    capsys.readouterr()
    code = main(["eval", "--run", str(tmp_path / "run"), "--features", str(ext), "--ref", str(ref), "--n", "20",
                 "--out", str(out), "--batch-size", "8"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "fid" in printed and "ifid" in printed and "builtin:train@16px" in printed
    payload = json.loads(out.read_text())
    assert set(payload["results"]) == {"fid", "is", "kid", "precision", "recall", "ifid"}
    fid = payload["results"]["fid"]
    assert fid["n_samples"] == 20 and fid["n_reference"] == 40 and fid["extractor"] == "domain-cnn"
    assert fid["weights_hash"] == stats.meta["weights_hash"] and np.isfinite(fid["value"])


def test_eval_computes_and_caches_the_runs_reference(tmp_path, monkeypatch):
    ext, run = tmp_path / "ext", tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("data: builtin\nsteps: 3\n")
    monkeypatch.setenv("SAHIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sahit, "load", lambda run, ema=True, device="cpu": ToyGenerator(resolution=16, num_classes=0))
    assert main(["features", "fit", "--data", "builtin", "--out", str(ext), "--steps", "2", "--resolution", "16"]) == 0
    args = ["eval", "--run", str(run), "--features", str(ext), "--n", "10", "--ref-n", "30", "--metrics", "fid,kid"]
    assert main(args) == 0
    (cached,) = (tmp_path / "cache" / "stats").glob("*.npz")
    assert cached.name.startswith(f"builtin-v{BuiltinShapes.version}-train-16px-domain-cnn-")
    assert cached.name.endswith("-n30.npz")
    stamp = cached.stat().st_mtime_ns
    assert main(args) == 0
    assert cached.stat().st_mtime_ns == stamp  # reused, not recomputed
    assert json.loads((run / "metrics.json").read_text())["results"]["fid"]["n_reference"] == 30


def test_missing_inception_weights_is_a_one_line_error(tmp_path, no_inception_weights, capsys):
    assert main(["stats", "--data", "builtin", "--out", str(tmp_path / "r.npz"), "--resolution", "16"]) == 2
    err = capsys.readouterr().err
    assert "weights-inception-2015-12-05-6726825d.pth" in err and "https://" in err


def test_bad_metric_name(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sahit, "load", lambda run, ema=True, device="cpu": ToyGenerator())
    assert main(["eval", "--run", str(tmp_path), "--metrics", "fid,fd", "--ref", "x.npz"]) == 2
    assert "unknown metric 'fd'" in capsys.readouterr().err


def test_eval_with_truncation_samples_truncated_z(tmp_path, monkeypatch, toy_extractor):
    from sahit.metrics import save_domain_extractor
    from sahit.models import build

    torch.manual_seed(0)
    G, _ = build("quickstart", g_width=8, d_width=8, z_dim=16, g_attn_res=[], d_attn_res=[])  # 16 px
    calls = []
    sample = G.sample
    monkeypatch.setattr(G, "sample", lambda *a, **k: calls.append(k.get("truncation")) or sample(*a, **k))
    monkeypatch.setattr(sahit, "load", lambda run, ema=True, device="cpu": G)
    monkeypatch.setenv("SAHIT_CACHE", str(tmp_path / "cache"))
    save_domain_extractor(toy_extractor, tmp_path / "ext")
    fids = {}
    for truncation in (None, 0.2):
        extra = [] if truncation is None else ["--truncation", str(truncation)]
        out = tmp_path / f"m{truncation}.json"
        assert main(["eval", "--run", str(tmp_path), "--features", str(tmp_path / "ext"), "--ref", "builtin",
                     "--ref-n", "20", "--n", "20", "--metrics", "fid", "--out", str(out), *extra]) == 0
        payload = json.loads(out.read_text())
        assert payload["truncation"] == truncation and calls[-1] == truncation
        fids[truncation] = payload["results"]["fid"]["value"]
    assert fids[None] != fids[0.2]


def test_features_fit_takes_the_stronger_recipe_flags(tmp_path):
    """--layout resnet --augment --optimizer sgd --weight-decay --precision bf16 --in-memory reach the fit."""
    ext = tmp_path / "ext"
    assert main(["features", "fit", "--data", "builtin", "--out", str(ext), "--steps", "2", "--resolution", "16",
                 "--width", "2", "--layout", "resnet", "--augment", "--optimizer", "sgd", "--lr", "0.05",
                 "--weight-decay", "5e-4", "--precision", "bf16", "--in-memory"]) == 0
    saved = json.loads((ext / "config.json").read_text())
    assert saved["layout"] == "resnet" and saved["width"] == 2
    info = saved["info"]
    assert info["augment"] and info["optimizer"] == "sgd" and info["precision"] == "bf16"
    assert info["lr"] == 0.05 and info["weight_decay"] == 5e-4
