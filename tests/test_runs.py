"""The run-folder contract: atomic writes, tolerant readers, one rule for a finished run."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from sahit import runs


def test_atomic_path_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "a.json"
    runs.write_text_atomic(path, "old")
    with pytest.raises(RuntimeError), runs.atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temporary left behind


def test_atomic_path_keeps_the_suffix_for_writers_that_choose_the_format_by_it(tmp_path):
    with runs.atomic_path(tmp_path / "x.png", keep_suffix=True) as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path
        tmp.write_bytes(b"png")
    assert (tmp_path / "x.png").read_bytes() == b"png"


def test_write_json_and_torch_atomic_round_trip(tmp_path):
    runs.write_json_atomic(tmp_path / "m.json", {"a": 1})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 1}
    runs.save_torch_atomic({"format": runs.CHECKPOINT_FORMAT, "w": torch.ones(2)}, tmp_path / "ckpt-00000003.pt")
    assert runs.list_checkpoints(tmp_path) == [(3, tmp_path / "ckpt-00000003.pt")]
    assert torch.equal(runs.latest_checkpoint(tmp_path)["w"], torch.ones(2))


def test_read_log_skips_a_line_cut_by_a_kill_and_records_without_a_step(tmp_path):
    (tmp_path / runs.LOG).write_text('{"step": 1, "loss_d": 0.5}\n{"note": "x"}\n[1]\n{"step": 2, "fi')
    assert runs.read_log(tmp_path) == [{"step": 1, "loss_d": 0.5}]
    assert runs.read_jsonl(tmp_path / runs.LOG) == [{"step": 1, "loss_d": 0.5}, {"note": "x"}]
    assert runs.final_step(tmp_path) == 1  # not finished: the last logged step
    runs.trim_partial_line(tmp_path / runs.LOG)
    assert (tmp_path / runs.LOG).read_text().endswith("[1]\n")


def test_a_run_is_finished_when_its_summary_follows_an_export(tmp_path):
    assert runs.finished_step(tmp_path) is None
    (tmp_path / runs.SUMMARY).write_text(json.dumps({"step": 7}))
    assert runs.finished_step(tmp_path) is None  # the export is written before the summary: this one was lost
    (tmp_path / runs.EXPORT).mkdir()
    (tmp_path / runs.EXPORT / runs.EXPORT_CONFIG).write_text("{}")
    assert runs.finished_step(tmp_path) == 7 and runs.final_step(tmp_path) == 7


def test_run_and_export_folders_are_found_from_either(tmp_path):
    export = tmp_path / runs.EXPORT
    with pytest.raises(FileNotFoundError, match="holds no exported generator"):
        runs.export_folder(tmp_path)
    export.mkdir()
    (export / runs.EXPORT_CONFIG).write_text("{}")
    assert runs.run_folder(export) == runs.run_folder(tmp_path) == tmp_path
    assert runs.export_folder(export) == runs.export_folder(tmp_path) == export
    with pytest.raises(FileNotFoundError, match="does not exist"):
        runs.run_folder(tmp_path / "absent")


def test_sample_noise_is_fixed_by_the_seed_and_eval_mode_restores_each_mode():
    assert torch.equal(runs.sample_noise(3, 4, seed=5), torch.randn(3, 4, generator=torch.Generator().manual_seed(5)))
    a, b = nn.Dropout(), nn.Dropout().eval()
    with runs.eval_mode(a, b):
        assert not a.training and not b.training
    assert a.training and not b.training
