"""Bad configuration and bad checkpoints: one clear line, exit 2, nothing in the run folder touched."""

from __future__ import annotations

import logging
import shutil

import pytest

from sahit.cli import main
from sahit.training.config import load_preset

PRESET_LR_D = load_preset("quickstart")["lr_d"]
TINY = ["model.g_width=16", "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false"]


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory):
    from sahit.training import Trainer, prepare_run

    run_dir = tmp_path_factory.mktemp("cfg") / "r"
    cfg, _ = prepare_run("quickstart", out=run_dir, overrides=[*TINY, "steps=2", "ckpt_every=1"])
    Trainer(cfg, run_dir).fit()
    return run_dir


def refused(args, capsys) -> str:
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"sahit {args[0]}: error: ")
    return err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["stepz=5"], "unknown config key 'stepz'; did you mean 'steps'?"),
        (["batch_size=big"], "batch_size must be an integer, got 'big'"),
        (["steps=1.5"], "steps must be an integer, got 1.5"),
        (["flip=maybe"], "flip must be true or false, got 'maybe'"),
        (["lr_g=0"], "lr_g must be a positive number, got 0.0"),
        (["lr_d=-0.1"], "lr_d must be a positive number, got -0.1"),
        (["batch_size=0"], "batch_size must be a positive integer, got 0"),
        (["steps=-5"], "steps must be a positive integer, got -5"),
        (["betas_g=[a,b]"], "betas_g must be two numbers in [0, 1)"),
        (["adam_eps=0"], "adam_eps must be a positive number"),
        (["model_args=3"], "model.args must be a mapping"),
        (["model.resolution=48"], "resolution 48 is not supported"),
        (["model.attn_res=[64]"], "attention at 64x64 is impossible in G"),
        (["model.widht=8"], "unknown sagan model option 'widht'"),
        (["precision=fp8"], "precision must be one of fp32, bf16, fp16, auto"),
        ([f"lr_d={2 * PRESET_LR_D}"], f"holds a run with other settings (optim.lr_d: {PRESET_LR_D} -> {2 * PRESET_LR_D})"),
        (["model.g_width=32"], "holds a run with other settings"),
    ],
)
def test_bad_values_are_refused_and_nothing_is_touched(existing_run, snapshot, capsys, extra, message):
    before = snapshot(existing_run)
    err = refused(["train", "--out", str(existing_run), *TINY, "steps=3", *extra], capsys)
    assert message in err
    assert snapshot(existing_run) == before


def test_unknown_preset_is_refused_with_a_suggestion(tmp_path, capsys):
    err = refused(["train", "--preset", "quickstrat", "--out", str(tmp_path / "r")], capsys)
    assert "unknown preset 'quickstrat'; did you mean 'quickstart'?" in err
    assert not (tmp_path / "r").exists()


def test_checkpoint_of_another_architecture_names_the_tensors(existing_run, tmp_path, train_run, snapshot, capsys):
    run_dir = tmp_path / "r"
    shutil.copytree(existing_run, run_dir)
    other = tmp_path / "wide"
    train_run(other, "steps=1", "model.g_width=32")  # same run otherwise, G twice as wide
    shutil.copy(other / "checkpoints" / "ckpt-00000001.pt", run_dir / "checkpoints" / "ckpt-00000003.pt")
    before = snapshot(run_dir)
    err = refused(["train", "--out", str(run_dir), *TINY, "steps=4", "ckpt_every=1"], capsys)
    assert "was made by a different architecture: size mismatch for " in err
    assert "from checkpoint, the shape in current model is torch.Size(" in err  # both shapes are quoted
    assert snapshot(run_dir) == before


def test_truncated_checkpoint_falls_back_to_the_previous_one(existing_run, tmp_path, train_run, caplog):
    run_dir = tmp_path / "r"
    shutil.copytree(existing_run, run_dir)
    newest = run_dir / "checkpoints" / "ckpt-00000002.pt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    with caplog.at_level(logging.WARNING):
        summary = train_run(run_dir, "steps=3", "ckpt_every=1")
    assert "ckpt-00000002.pt cannot be loaded safely: truncated or corrupt" in caplog.text and "trying an older one" in caplog.text
    assert summary["resumed"] and summary["steps_this_session"] == 2  # from step 1, not from scratch


def test_no_loadable_checkpoint_left_is_an_error_not_a_fresh_start(existing_run, tmp_path, snapshot, capsys):
    run_dir = tmp_path / "r"
    shutil.copytree(existing_run, run_dir)
    for path in (run_dir / "checkpoints").iterdir():
        path.write_bytes(path.read_bytes()[:1000])
    before = snapshot(run_dir)
    err = refused(["train", "--out", str(run_dir), *TINY, "steps=3", "ckpt_every=1"], capsys)
    assert "none of the 2 checkpoint(s) in " in err and "restore a good one, or choose a new --out" in err
    assert snapshot(run_dir) == before
