"""Untrusted files run no code: pickles in checkpoints and exports are refused, YAML is data only."""

from __future__ import annotations

import os
import pickle
import shutil

import pytest
import torch

import sahit
from sahit.cli import main
from sahit.training.checkpoint import FORMAT, CheckpointError, load_checkpoint
from sahit.training.config import ConfigError, load_preset

TINY = ["model.g_width=16", "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false"]


class Evil:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def evil_checkpoint(path, marker, zip_format: bool = True) -> None:
    payload = {"format": FORMAT, "step": 99, "G": Evil(marker)}
    if zip_format:
        torch.save(payload, path)  # torch's own zip container with a malicious data.pkl
    else:
        path.write_bytes(pickle.dumps(payload))  # a bare pickle


def test_the_payload_really_is_dangerous(tmp_path):
    """Sanity check: a plain unpickler does run it, so the refusals below mean something."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Evil(marker)))
    assert marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("zip_format", [True, False])
def test_malicious_checkpoint_is_refused_without_running(tmp_path, zip_format):
    marker = tmp_path / "pwned"
    path = tmp_path / "ckpt-00000099.pt"
    evil_checkpoint(path, marker, zip_format)
    with pytest.raises(CheckpointError, match="cannot be loaded safely: it holds objects other than tensors"):
        load_checkpoint(path)
    assert not marker.exists()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from sahit.training import Trainer, prepare_run

    run_dir = tmp_path_factory.mktemp("untrusted") / "r"
    cfg, _ = prepare_run("quickstart", out=run_dir, overrides=[*TINY, "steps=1"])
    Trainer(cfg, run_dir).fit()
    return run_dir


def test_malicious_checkpoint_in_a_run_folder(finished_run, tmp_path, snapshot, capsys, caplog):
    marker = tmp_path / "pwned"
    run_dir = tmp_path / "r"
    shutil.copytree(finished_run, run_dir)
    (run_dir / "checkpoints" / "ckpt-00000001.pt").unlink()
    evil_checkpoint(run_dir / "checkpoints" / "ckpt-00000099.pt", marker)
    before = snapshot(run_dir)
    code = main(["train", "--out", str(run_dir), *TINY, "steps=200"])
    err = capsys.readouterr().err
    assert code == 2 and not marker.exists()
    assert "ckpt-00000099.pt cannot be loaded safely: it holds objects other than tensors" in caplog.text  # the warning
    assert err.startswith("sahit train: error: none of the 1 checkpoint(s)") and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and snapshot(run_dir) == before


def test_malicious_export_is_refused_without_running(finished_run, tmp_path, capsys):
    marker = tmp_path / "pwned"
    export = tmp_path / "export"
    shutil.copytree(finished_run / "export", export)
    (export / "generator_ema.safetensors").write_bytes(pickle.dumps(Evil(marker)))
    torch.save({"G": Evil(marker)}, export / "generator.safetensors")
    with pytest.raises(ValueError, match="generator_ema.safetensors is not a valid safetensors file"):
        sahit.load(export)
    with pytest.raises(ValueError, match="generator.safetensors is not a valid safetensors file"):
        sahit.load(export, ema=False)
    code = main(["sample", "--run", str(export), "--n", "4", "--out", str(tmp_path / "s.png")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not a valid safetensors file" in err
    assert not marker.exists() and not (tmp_path / "s.png").exists()
    (export / "config.json").write_text('{"format": "sahit-generator-1", "model": ')  # half a config
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        sahit.load(export)


EVIL_YAML = 'model: quickstart\nsteps: !!python/object/apply:os.system ["touch {marker}"]\n'


def test_yaml_preset_with_a_python_tag_is_refused(tmp_path, capsys):
    marker = tmp_path / "pwned"
    preset = tmp_path / "evil.yaml"
    preset.write_text(EVIL_YAML.format(marker=marker))
    with pytest.raises(ConfigError, match="uses a YAML tag that is not plain data .*python/object/apply:os.system"):
        load_preset(str(preset))
    code = main(["train", "--preset", str(preset), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not plain data" in err
    assert not marker.exists() and not (tmp_path / "r").exists()


def test_run_folder_config_and_overrides_are_data_only(finished_run, tmp_path, snapshot, capsys):
    marker = tmp_path / "pwned"
    run_dir = tmp_path / "r"
    shutil.copytree(finished_run, run_dir)
    (run_dir / "config.yaml").write_text(EVIL_YAML.format(marker=marker))
    before = snapshot(run_dir)
    code = main(["train", "--out", str(run_dir), *TINY, "steps=1"])
    err = capsys.readouterr().err
    assert code == 2 and "config.yaml uses a YAML tag that is not plain data" in err and not marker.exists()
    assert snapshot(run_dir) == before
    code = main(["train", "--out", str(tmp_path / "r2"), *TINY, f'steps=!!python/object/apply:os.system ["touch {marker}"]'])
    err = capsys.readouterr().err
    assert code == 2 and "steps must be an integer" in err and not marker.exists()
