"""A full disk or an unwritable folder: the previous checkpoints stay intact and the user is told."""

from __future__ import annotations

import errno
import os

import pytest
import torch

from sahit.cli import main
from sahit.training.checkpoint import CheckpointError, latest_checkpoint, list_checkpoints

TINY = ["model.g_width=16", "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false"]


def _full_disk_save(real_save):
    """torch.save that writes part of the file, then fails like a full disk."""
    def save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return save


@pytest.fixture
def run_with_two_checkpoints(tmp_path, train_run, snapshot):
    run_dir = tmp_path / "r"
    train_run(run_dir, "steps=2", "ckpt_every=1")
    return run_dir, snapshot(run_dir / "checkpoints")


def test_full_disk_keeps_previous_checkpoints(run_with_two_checkpoints, make_trainer, snapshot, monkeypatch):
    run_dir, before = run_with_two_checkpoints
    monkeypatch.setattr(torch, "save", _full_disk_save(torch.save))
    with pytest.raises(CheckpointError, match=r"could not write checkpoint .*ckpt-00000003.pt: No space left on device; "
                                              r"the earlier checkpoints are untouched"):
        make_trainer(run_dir, "steps=4", "ckpt_every=1").fit()
    assert snapshot(run_dir / "checkpoints") == before  # no .tmp left, old files byte for byte the same
    monkeypatch.undo()
    assert latest_checkpoint(run_dir / "checkpoints")["step"] == 2
    summary = make_trainer(run_dir, "steps=4", "ckpt_every=1").fit()  # space is back: the run goes on
    assert summary["resumed"] and summary["steps_this_session"] == 2


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.EIO])
def test_failed_rename_keeps_previous_checkpoints(run_with_two_checkpoints, make_trainer, snapshot, monkeypatch, code):
    run_dir, before = run_with_two_checkpoints
    real_replace = os.replace

    def replace(src, dst):
        if str(src).endswith(".pt.tmp"):
            raise OSError(code, os.strerror(code))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(CheckpointError, match=os.strerror(code)):
        make_trainer(run_dir, "steps=3", "ckpt_every=1").fit()
    assert snapshot(run_dir / "checkpoints") == before


def test_cli_reports_a_full_disk_in_one_line(run_with_two_checkpoints, snapshot, monkeypatch, capsys):
    run_dir, before = run_with_two_checkpoints
    monkeypatch.setattr(torch, "save", _full_disk_save(torch.save))
    code = main(["train", "--out", str(run_dir), "steps=3", "ckpt_every=1", *TINY])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("sahit train: error: could not write checkpoint ") and "No space left on device" in err
    assert "run the same command to resume" in err
    assert snapshot(run_dir / "checkpoints") == before


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_checkpoint_folder(run_with_two_checkpoints, make_trainer, snapshot):
    run_dir, before = run_with_two_checkpoints
    os.chmod(run_dir / "checkpoints", 0o555)
    try:
        with pytest.raises(CheckpointError, match="Permission denied"):
            make_trainer(run_dir, "steps=3", "ckpt_every=1").fit()
    finally:
        os.chmod(run_dir / "checkpoints", 0o755)
    assert snapshot(run_dir / "checkpoints") == before
    assert [s for s, _ in list_checkpoints(run_dir / "checkpoints")] == [1, 2]
