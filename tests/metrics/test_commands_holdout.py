"""`--holdout N` in `sahit features fit`, `sahit stats` and `sahit eval`: the held-out images are the reference."""

import json

import numpy as np
import pytest

import sahit
from sahit.cli import main
from sahit.data import make_dataset
from sahit.metrics import load_stats

from .conftest import ToyGenerator

SIZES = {"a": 5, "b": 5}


@pytest.fixture
def fitted(image_folder, tmp_path, capsys):
    """(data folder, domain extractor fitted on all but 4 of its images, what `features fit` printed)."""
    data, ext = image_folder("set", SIZES), tmp_path / "ext"
    assert main(["features", "fit", "--data", str(data), "--out", str(ext), "--steps", "2", "--resolution", "16",
                 "--width", "4", "--batch-size", "4", "--holdout", "4"]) == 0
    return data, ext, capsys.readouterr().out


def test_features_fit_reports_the_held_out_accuracy(fitted):
    _, ext, printed = fitted
    info = json.loads((ext / "config.json").read_text())["info"]
    assert info["holdout"] == 4 and 0 <= info["holdout_accuracy"] <= 1
    assert f"held-out accuracy {info['holdout_accuracy']:.3f} on 4 images" in printed


def test_stats_of_the_held_out_split(fitted, tmp_path):
    data, ext, _ = fitted
    out = tmp_path / "held.npz"
    assert main(["stats", "--data", str(data), "--features", str(ext), "--holdout", "4", "--split", "holdout",
                 "--out", str(out)]) == 0
    stats = load_stats(out)
    held = make_dataset(str(data), 16, holdout=4, split="holdout")
    assert stats.n == 4 and stats.meta["split"] == "holdout4"
    assert sorted(stats.labels.tolist()) == sorted(held.labels) == [0, 0, 1, 1]

    rest = tmp_path / "rest.npz"
    assert main(["stats", "--data", str(data), "--features", str(ext), "--holdout", "4", "--out", str(rest)]) == 0
    assert load_stats(rest).n == 6 and load_stats(rest).meta["split"] == "train-without-holdout4"


def test_eval_compares_a_run_with_its_held_out_images(fitted, tmp_path, monkeypatch):
    data, ext, _ = fitted
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(f"data: {data}\ndata_holdout: 4\n")
    monkeypatch.setenv("SAHIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sahit, "load", lambda run, ema=True, device="cpu": ToyGenerator(resolution=16))
    assert main(["eval", "--run", str(run), "--features", str(ext), "--n", "8", "--metrics", "fid"]) == 0
    payload = json.loads((run / "metrics.json").read_text())
    assert payload["reference_meta"]["split"] == "holdout4" and payload["results"]["fid"]["n_reference"] == 4
    assert np.isfinite(payload["results"]["fid"]["value"])
    # --holdout 0 overrides the run's: the whole data set
    assert main(["eval", "--run", str(run), "--features", str(ext), "--n", "8", "--metrics", "fid",
                 "--holdout", "0"]) == 0
    assert json.loads((run / "metrics.json").read_text())["results"]["fid"]["n_reference"] == 10


@pytest.mark.parametrize(("args", "message"), [
    (["stats", "--data", "DATA", "--split", "holdout"], "--split holdout needs --holdout N"),
    (["stats", "--data", "DATA", "--split", "test", "--holdout", "4"], "the test set"),
    (["stats", "--data", "DATA", "--holdout", "3"], "does not divide over the 2 classes"),
    (["eval", "--images", "DATA", "--ref", "REF", "--holdout", "4"], "is an .npz"),
])
def test_holdout_errors_are_one_line(fitted, tmp_path, capsys, args, message):
    data, ext, _ = fitted
    np.savez(tmp_path / "ref.npz", mu=np.zeros(1))
    paths = {"DATA": str(data), "REF": str(tmp_path / "ref.npz")}
    out = tmp_path / ("o.npz" if args[0] == "stats" else "o.json")
    assert main([paths.get(a, a) for a in args] + ["--features", str(ext), "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
