"""Run folders written by sahit 0.2.0 (a flat config.yaml without a schema) still resume, bit for bit."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from sahit.training import Trainer, prepare_run
from sahit.training.checkpoint import latest_checkpoint

# config.yaml of a real quickstart run made by sahit 0.2.0 (steps=60 ckpt_every=60 sample_every=60 log_every=20
# progress=false), committed as written
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run_0_2_0" / "config.yaml"
# what a resumed run may change (RESUMABLE_CHANGES): a short run, checkpoints every 2 steps
RESUME = ["steps=4", "ckpt_every=2", "sample_every=100", "log_every=100", "progress=false"]


def _fit(run_dir: Path) -> dict:
    cfg, run_dir = prepare_run("quickstart", out=run_dir, overrides=RESUME)
    return Trainer(cfg, run_dir).fit()


def test_a_0_2_0_run_folder_resumes_bit_identically(tmp_path):
    whole = tmp_path / "whole"
    whole.mkdir()
    shutil.copy(FIXTURE, whole / "config.yaml")
    assert _fit(whole)["step"] == 4
    split = tmp_path / "split"
    shutil.copytree(whole, split)  # the same run, stopped after its step-2 checkpoint
    (split / "checkpoints" / "ckpt-00000004.pt").unlink()
    (split / "summary.json").unlink()
    shutil.rmtree(split / "export")
    (split / "config.yaml").write_bytes(FIXTURE.read_bytes())  # as 0.2.0 wrote it, not as this version did
    summary = _fit(split)
    assert summary["resumed"] and summary["steps_this_session"] == 2
    a, b = (latest_checkpoint(d / "checkpoints") for d in (whole, split))
    for key in ("G", "D", "G_ema"):
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name}"
    assert a["batches_consumed"] == b["batches_consumed"]


def test_config_yaml_is_written_in_sections_with_a_schema_and_reads_back(tmp_path):
    import yaml

    from sahit.training.config import SCHEMA, SECTIONS, stored_config

    cfg, run_dir = prepare_run("quickstart", out=tmp_path / "r", overrides=["optim.steps=1", "log.progress=false",
                                                                           "model.g_width=8", "model.d_width=8"])
    tr = Trainer(cfg, run_dir)
    tr._start()  # creates the folder and writes config.yaml
    written = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert list(written) == ["schema", *SECTIONS] and written["schema"] == SCHEMA
    assert written["optim"]["steps"] == 1 and written["model"]["args"] == {"g_width": 8, "d_width": 8}
    assert stored_config(written) == cfg


def test_the_0_2_0_config_reads_as_the_same_values():
    import yaml

    from sahit.training.config import stored_config

    flat = yaml.safe_load(FIXTURE.read_text())
    cfg = stored_config(flat)
    assert cfg.model.name == "sagan-16"  # the model preset's name now; "quickstart" is its earlier name
    assert {k: v for k, v in cfg.flat().items() if k != "model"} == {k: v for k, v in flat.items() if k != "model"}
