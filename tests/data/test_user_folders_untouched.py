"""sahit leaves the user's data folders exactly as it found them: names, sizes and modification
times of every file and folder, recursively, are the same after every command that reads them,
and after every command that fails on them."""

from __future__ import annotations

import json
import os

import pytest
from PIL import Image

from sahit.cli import main
from sahit.data.index import index_path

TINY = ["model.g_width=8", "model.d_width=8", "model.z_dim=16", "batch_size=4", "progress=false",
        "sample_every=100000", "ckpt_every=100000"]


def snapshot(root) -> dict[str, tuple[bool, int, int]]:
    """{path relative to ``root``: (is a folder, size, mtime in ns)} of everything under ``root``, and
    ``root`` itself (a file written and removed again still changes its folder's mtime)."""
    found = {".": (True, 0, os.stat(root).st_mtime_ns)}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            found[os.path.relpath(path, root)] = (name in dirs, 0 if name in dirs else st.st_size, st.st_mtime_ns)
    return found


@pytest.fixture
def data(tmp_path):
    """A labelled folder: two class folders (one with a nested folder), 16x16 PNGs, and a non-image file."""
    root = tmp_path / "data"
    for c, name in enumerate(("cats", "dogs")):
        for i in range(6):
            path = root / name / ("nested" if i == 5 else "") / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.effect_noise((16, 16), 30 + 40 * c).convert("RGB").save(path)
    (root / "README.txt").write_text("a note the owner keeps with the data\n")
    return root


def test_train_eval_pack_and_features_leave_the_data_folder_as_it_was(data, tmp_path, monkeypatch, sahit_cache):
    monkeypatch.chdir(tmp_path)
    before = snapshot(data)
    assert main(["train", "--preset", "quickstart", "--data", str(data), "--out", str(tmp_path / "run"),
                 "steps=2", *TINY]) == 0
    assert index_path(data).is_file() and index_path(data).is_relative_to(sahit_cache)  # the index went to the cache
    assert main(["features", "fit", "--data", str(data), "--out", str(tmp_path / "ext"), "--steps", "2",
                 "--resolution", "16", "--width", "4", "--holdout", "4"]) == 0
    assert main(["eval", "--images", str(data), "--ref", str(data), "--features", str(tmp_path / "ext"),
                 "--metrics", "fid", "--batch-size", "8"]) == 0
    assert json.loads((tmp_path / "data.metrics.json").read_text())["results"]["fid"]["n_samples"] == 12
    assert main(["data", "pack", str(data), str(tmp_path / "data.zip")]) == 0
    assert snapshot(data) == before


def test_eval_out_goes_where_asked_and_npz_results_go_to_the_current_folder(data, tmp_path, monkeypatch):
    import numpy as np

    images = tmp_path / "images"
    images.mkdir()
    np.savez(images / "fakes.npz", arr_0=np.zeros((6, 16, 16, 3), np.uint8))
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    before = snapshot(images)
    assert main(["features", "fit", "--data", str(data), "--out", str(tmp_path / "ext"), "--steps", "1",
                 "--resolution", "16", "--width", "4"]) == 0
    common = ["--ref", str(data), "--features", str(tmp_path / "ext"), "--metrics", "fid", "--batch-size", "8"]
    assert main(["eval", "--images", str(images / "fakes.npz"), *common]) == 0
    assert main(["eval", "--images", str(images / "fakes.npz"), *common, "--out", str(tmp_path / "out" / "m.json")]) == 0
    assert sorted(p.name for p in here.iterdir()) == ["fakes.metrics.json"]
    assert (tmp_path / "out" / "m.json").is_file() and snapshot(images) == before


def test_commands_that_fail_on_a_folder_write_nothing(data, tmp_path, monkeypatch, sahit_cache, capsys):
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no images here\n")
    (data / "dogs" / "broken.png").write_text("not an image")
    before_empty, before_data = snapshot(empty), snapshot(data)
    failures = [
        ["train", "--preset", "quickstart", "--data", str(empty), "--out", str(tmp_path / "r1"), *TINY],
        ["data", "pack", str(empty), str(tmp_path / "e.zip")],
        ["data", "pack", "--strict", str(data), str(tmp_path / "d.zip")],
        ["eval", "--images", str(data), "--ref", "builtin", "--metrics", "fid"],  # strict: refuses broken.png
    ]
    for args in failures:
        assert main(args) == 2, args
        assert capsys.readouterr().err.count("\n") == 1  # one line, no traceback
    assert snapshot(empty) == before_empty and snapshot(data) == before_data
    assert not (sahit_cache / "index").exists()
    assert not list(tmp_path.glob("*.zip")) and not list(tmp_path.glob("*.metrics.json"))
