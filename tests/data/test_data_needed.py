"""Data sets that sahit cannot supply itself: presets without default data, LSUN without lmdb."""

from __future__ import annotations

import sys

import pytest

from sahit.cli import main
from sahit.data import DataError, make_dataset
from sahit.training import ConfigError, prepare_run


def test_imagenet_preset_refuses_to_train_on_builtin_data(tmp_path, capsys):
    with pytest.raises(ConfigError, match="trains on ImageNet at 128x128.*pass --data PATH"):
        prepare_run("sagan-imagenet128", out=tmp_path / "r")
    assert main(["train", "--preset", "sagan-imagenet128", "--out", str(tmp_path / "r")]) == 2
    assert "pass --data PATH" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_imagenet_preset_takes_data_from_the_option_or_an_override(tmp_path):
    cfg, _ = prepare_run("sagan-imagenet128", out=tmp_path / "a", data=str(tmp_path))
    assert cfg.data.source == str(tmp_path)
    cfg, _ = prepare_run("sagan-imagenet128", out=tmp_path / "b", overrides=["data=builtin"])
    assert cfg.data.source == "builtin"


def test_lsun_without_lmdb_names_the_missing_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "lmdb", None)  # import lmdb raises ImportError
    with pytest.raises(DataError, match=r"lmdb package: pip install 'sahit\[lsun\]'"):
        make_dataset("lsun:bedroom", 16, root=tmp_path)
