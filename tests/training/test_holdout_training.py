"""`data_holdout=N`: training reads only the rest of the data, evaluation compares with the held-out images."""

from __future__ import annotations

import json

import pytest

from sahit.data import make_dataset
from sahit.training import Trainer, prepare_run
from sahit.training.config import ConfigError

TINY = ["model.g_width=8", "model.d_width=8", "model.z_dim=16", "batch_size=4", "progress=false"]


def test_training_reads_only_the_rest_and_evaluates_on_the_held_out_images(image_folder, tmp_path, monkeypatch):
    from sahit.metrics import fit_domain_extractor, save_domain_extractor

    data = str(image_folder("set", {"a": 6, "b": 6}))
    held = make_dataset(data, 16, holdout=4, split="holdout")
    save_domain_extractor(fit_domain_extractor(held, 2, 16, steps=1, width=4, progress=False), tmp_path / "feat")
    monkeypatch.setenv("SAHIT_CACHE", str(tmp_path / "cache"))
    cfg, run_dir = prepare_run("quickstart", out=tmp_path / "r", data=data, overrides=[
        *TINY, "data_holdout=4", "steps=2", "eval_every=2", "eval_n=8", f"eval_features={tmp_path / 'feat'}"])
    trainer = Trainer(cfg, run_dir)
    assert len(trainer.dataset) == 8 and not set(trainer.dataset.indices) & set(held.indices)
    assert trainer.dataset.num_classes == 2
    trainer.fit()
    (fid,) = [r for r in map(json.loads, (run_dir / "log.jsonl").read_text().splitlines()) if "fid" in r]
    assert fid["reference"] == f"{data}:holdout4@16px"
    (cached,) = (tmp_path / "cache" / "stats").glob("*.npz")
    assert "-holdout4-16px-" in cached.name


def test_data_holdout_must_not_be_negative(tmp_path):
    with pytest.raises(ConfigError, match="data.holdout must be >= 0"):
        prepare_run("quickstart", out=tmp_path / "r", overrides=["data_holdout=-1"])
