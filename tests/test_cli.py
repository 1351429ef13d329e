"""The `sahit` command: one clear line of error, non-zero exit, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from sahit.cli import main

TINY = ["model.g_width=16", "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--preset", "nope"], "unknown preset 'nope'"),
        (["train", "--data", "/does/not/exist"], "nor an existing folder"),
        (["train", "lr_d=-0.1"], "lr_d must be a positive number"),
        (["train", "batch_size=-4"], "batch_size must be a positive integer"),
        (["train", "stepz=5"], "did you mean 'steps'"),
        (["train", "model.attn_res=[12]"], "attention at 12x12"),
        (["sample", "--run", "/does/not/exist"], "does not exist"),
    ],
)
def test_errors_are_one_line(args, message, capsys, tmp_path):
    code = main([*args, "--out", str(tmp_path / "r")] if args[0] == "train" else args)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    if args[0] == "train":
        assert not (tmp_path / "r" / "config.yaml").exists()  # nothing written


def test_empty_folder_error_in_a_subprocess(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = subprocess.run([sys.executable, "-m", "sahit", "train", "--data", str(tmp_path / "empty"),
                           "--out", str(tmp_path / "r")], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "no images found" in proc.stderr and "Traceback" not in proc.stderr


def test_a_closed_pipe_is_not_an_error():
    """`sahit presets | head -1`: the reader leaves early; sahit stops quietly, exit 0, nothing on stderr."""
    script = ("import os, sys; r, w = os.pipe(); os.close(r); os.dup2(w, 1); sys.stdout.reconfigure(line_buffering=True)\n"
              "from sahit.cli import main; sys.exit(main(['presets']))")
    proc = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == ""


def test_train_sample_and_finished_run(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert main(["train", "--out", out, "steps=2", *TINY]) == 0
    assert "done: step 2" in capsys.readouterr().out
    assert main(["train", "--out", out, "steps=2", *TINY]) == 0
    assert "already finished at step 2" in capsys.readouterr().out
    png = tmp_path / "s.png"
    assert main(["sample", "--run", out, "--n", "20", "--classes", "1", "2", "--out", str(png)]) == 0
    assert png.is_file()


def test_presets_and_help(capsys):
    assert main(["presets"]) == 0
    text = capsys.readouterr().out
    assert "quickstart" in text and "sagan-cifar10" in text
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0


def test_overrides_anywhere_on_the_line_and_plain_progress_lines(tmp_path, capsys):
    """key=value before and after options; stderr is not a terminal here, so progress comes as plain lines."""
    out = tmp_path / "r"
    argv = ["train", "--preset", "quickstart", "batch_size=8", "--out", str(out), "steps=2", "model.g_width=16",
            "--data", "builtin", "model.d_width=16", "model.z_dim=16", "ema_start=0"]
    assert main(argv) == 0
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert (config["optim"]["batch_size"], config["optim"]["steps"], config["ema"]["start"]) == (8, 2, 0)
    assert config["model"]["args"] == {"g_width": 16, "d_width": 16, "z_dim": 16}
    err = capsys.readouterr().err
    assert "\r" not in err and "train: 0/2 (0%)" in err and "train: 2/2 (100%)" in err
    card = (out / "export" / "README.md").read_text()  # the trainer's model card
    assert "Steps: 2 generator updates (16 real images shown to D)" in card and "| batch_size | 8 |" in card
    assert "None measured during training" in card and "```bash\n" in card


def test_nested_and_option_only_commands_still_parse(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["features", "fit", "--help"])
    assert exc.value.code == 0 and "--resolution" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["train", "--out", "x", "steps=1", "--bogus"])
    assert exc.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err
