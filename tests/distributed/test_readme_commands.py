"""The README's torchrun commands for CPU (gloo), run exactly as written, with a few steps appended."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
TINY = ["steps=4", "batch_size=8", "progress=false"]  # appended: the command's own words stay as written
pytestmark = pytest.mark.slow


def readme_cpu_torchrun_commands() -> list[str]:
    """Lines of the README's bash blocks that start with ``torchrun`` and are marked for CPU / gloo."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line.split("#")[0].strip() for line in lines if line.startswith("torchrun ") and "gloo" in line]


def test_readme_has_a_cpu_torchrun_command():
    assert readme_cpu_torchrun_commands(), "README.md lost its CPU torchrun example"


@pytest.mark.parametrize("command", readme_cpu_torchrun_commands())
def test_readme_torchrun_command_exits_0_with_one_summary(command, tmp_path):
    words = shlex.split(command)
    assert words[0] == "torchrun"
    argv = [sys.executable, "-m", "torch.distributed.run", *words[1:], *TINY]  # `torchrun` of this interpreter
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(argv, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summaries = [line for line in proc.stdout.splitlines() if line.startswith("done: step 4 ")]
    assert len(summaries) == 1, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
