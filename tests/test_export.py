"""Sharing a generator: the model card, the version in config.json, torch.hub and ``hf:`` ids."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import sahit
from sahit import _version
from sahit.cli import main
from sahit.model_card import TrainingRecord, render_command, training_record
from sahit.models import build

ROOT = Path(__file__).resolve().parents[1]
TINY = {"g_width": 16, "d_width": 16, "z_dim": 16}
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def G() -> torch.nn.Module:
    torch.manual_seed(0)
    G, _ = build("quickstart", **TINY)
    with torch.no_grad():  # non-trivial batch-norm statistics, so the check covers buffers too
        for m in G.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    return G.eval()


@pytest.fixture
def export(G, tmp_path) -> Path:
    return sahit.save_generator(tmp_path / "run" / "export", G)


def test_card_without_a_training_record_says_what_it_does_not_know(export, G):
    card = (export / "README.md").read_text()
    front = card.split("---")[1]
    assert "license: apache-2.0" in front and "library_name: sahit" in front
    assert "| family | sagan |" in card and "| resolution | 16 px |" in card and "| classes | 10 |" in card
    assert f"| parameters | {sum(p.numel() for p in G.parameters()):,} |" in card
    assert "Steps: unknown" in card and "Recipe: unknown" in card and "Command: unknown" in card
    assert f"Written by sahit {sahit.__version__}" in card


def test_card_from_a_run_has_recipe_metrics_and_command(G, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    log = [{"step": 10, "loss_d": 1.0}, {"step": 100, "fid": 30.5, "eval_n": 500, "extractor": "inception",
                                         "reference": "builtin"},
           {"step": 200, "fid": 12.25, "eval_n": 500}, {"step": 300, "fid": 14.0, "eval_n": 500}]
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log) + '{"step": 4')  # a torn last line
    config = {"model": "quickstart", "data": "builtin", "data_length": 5000, "batch_size": 8, "n_dis": 2,
              "loss": "hinge", "lr_g": 1e-4, "lr_d": 4e-4, "betas_g": [0.0, 0.9], "ema_decay": 0.999}
    record = training_record(run, config, 300, command=["/venv/bin/sahit", "train", "--out", "my runs/x", "steps=300"])
    assert [r["step"] for r in record.evals] == [100, 200, 300]
    card = (sahit.save_generator(run / "export", G, G, record, license="mit") / "README.md").read_text()
    assert card.startswith("---\nlicense: mit\n")
    assert "# sahit sagan generator (quickstart)" in card and "| preset | quickstart |" in card
    assert "builtin (sahit's built-in shapes, 5,000 images)" in card
    assert "Steps: 300 generator updates (4,800 real images shown to D)" in card
    assert "| lr_d | 0.0004 |" in card and "| betas_g | [0.0, 0.9] |" in card and "| n_dis | 2 |" in card
    assert "| best | 200 | 12.25 | 500 |" in card and "| last | 300 | 14 | 500 |" in card
    assert "sahit train --out 'my runs/x' steps=300" in card
    assert "generator_ema.safetensors" in card


def test_render_command():
    assert render_command(["/x/sahit/__main__.py", "sample", "--run", "r"]) == "sahit sample --run r"
    assert render_command(["train.py", "--lr", "1"]) == "python train.py --lr 1"
    assert TrainingRecord().evals == []


def test_config_records_the_version_and_old_exports_still_load(export, G):
    config = json.loads((export / "config.json").read_text())
    assert config["sahit_version"] == sahit.__version__
    del config["sahit_version"]  # as written by sahit 0.1.0
    (export / "config.json").write_text(json.dumps(config))
    assert torch.equal(sahit.load(export).sample(4, seed=1), G.sample(4, seed=1))


def test_version_from_the_checkout_then_metadata(monkeypatch, tmp_path, capsys):
    assert sahit.__version__ == _version.package_version() and sahit.__version__.count(".") == 2
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"sahit {sahit.__version__}"
    monkeypatch.setattr(_version, "_PYPROJECT", tmp_path / "absent.toml")  # an installed wheel: no pyproject
    monkeypatch.setattr(_version, "version", lambda name: "9.8.7")
    assert _version.package_version() == "9.8.7"

    def not_installed(name):
        raise _version.PackageNotFoundError(name)

    monkeypatch.setattr(_version, "version", not_installed)
    assert _version.package_version() == "0+unknown"


def test_torch_hub_local_entries_load_the_export(export, G):
    expected = G.sample(6, seed=3)
    for entry, path in (("sagan", export), ("generator", export.parent)):  # export or run folder
        loaded = torch.hub.load(str(ROOT), entry, path=str(path), source="local")
        assert not loaded.training and torch.equal(loaded.sample(6, seed=3), expected)
    with pytest.raises(ValueError, match="holds a sagan generator, not hit"):
        torch.hub.load(str(ROOT), "hit", path=str(export), source="local")
    untrained = torch.hub.load(str(ROOT), "sagan", source="local", preset="quickstart", **TINY)
    assert untrained.resolution == 16 and untrained.z_dim == 16


def _hub_cache(cache: Path, repo_id: str, export: Path) -> None:
    """A Hugging Face hub cache holding ``export`` as ``repo_id`` at COMMIT: blobs, a snapshot of links, refs/main."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for f in export.iterdir():
        data = f.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / f.name).symlink_to(os.path.relpath(blob, snapshot))


HF_SCRIPT = """
import sys
import sahit
from safetensors.torch import save_file

out, commit = sys.argv[1:]
save_file({"main": sahit.load("hf:org/tiny").sample(6, seed=3).contiguous(),
           "commit": sahit.load("hf:org/tiny@" + commit, ema=False).sample(6, seed=3).contiguous()}, out)
try:
    sahit.load("hf:org/absent")
except FileNotFoundError as exc:
    print("absent:", exc)
"""


@pytest.mark.slow  # a subprocess: huggingface_hub reads HF_HUB_CACHE and HF_HUB_OFFLINE once, at import
def test_hf_id_loads_from_the_hub_cache_offline(export, G, tmp_path):
    pytest.importorskip("huggingface_hub")
    cache = tmp_path / "hf-cache"
    _hub_cache(cache, "org/tiny", export)
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    out = tmp_path / "samples.safetensors"
    proc = subprocess.run([sys.executable, "-c", HF_SCRIPT, str(out), COMMIT], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    samples = load_file(str(out))
    expected = G.sample(6, seed=3)
    assert torch.equal(samples["main"], expected) and torch.equal(samples["commit"], expected)
    assert "absent: cannot get hf:org/absent from the Hugging Face hub" in proc.stdout


def test_hf_id_without_huggingface_hub_names_the_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails as if not installed
    with pytest.raises(RuntimeError, match=r"pip install sahit\[hf\]"):
        sahit.load("hf:org/tiny")
    assert main(["sample", "--run", "hf:org/tiny", "--out", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err
    assert "sahit sample: error: loading hf:org/tiny needs huggingface_hub: pip install sahit[hf]" in err
    for bad in ("hf:", "hf:a/b/c", "hf:org/tiny@"):
        with pytest.raises(ValueError, match="hub id|empty revision"):
            sahit.load(bad)
