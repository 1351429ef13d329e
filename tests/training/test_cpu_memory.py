"""On glibc, the trainer keeps freed activations in the heap for reuse instead of returning them to the OS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MODULE = Path(__file__).resolve().parents[2] / "src/sahit/training/cpu_memory.py"
glibc_linux = pytest.mark.skipif(not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"),
                                 reason="glibc's mallopt thresholds")

# In a fresh process: call keep_freed_memory (the module alone, no torch), then malloc and free a 16 MiB
# block as a training step does with an activation, and read glibc's accounting (mallinfo2):
# was the block mmap'ed, and is it still held as free heap memory after free()?
PROBE = f"""
import ctypes, importlib.util
spec = importlib.util.spec_from_file_location("cpu_memory", {str(MODULE)!r})
cpu_memory = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cpu_memory)

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype, libc.malloc.restype, libc.free.argtypes = MallInfo2, ctypes.c_void_p, [ctypes.c_void_p]
kept = cpu_memory.keep_freed_memory()
before = libc.mallinfo2()
block = libc.malloc(2**24)
mmapped = libc.mallinfo2().hblkhd - before.hblkhd >= 2**24
libc.free(block)
held = libc.mallinfo2().fordblks - before.fordblks >= 2**24
print(kept, mmapped, held)
"""


def _probe(**env: str) -> list[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "SAHIT_KEEP_FREED_MEMORY"}
    return subprocess.run([sys.executable, "-c", PROBE], env={**environ, **env}, check=True,
                          capture_output=True, text=True).stdout.split()


@glibc_linux
def test_freed_activations_stay_in_the_heap():
    # kept: served from the heap, and still held once freed, for the next step to reuse without page faults
    assert _probe() == ["True", "False", "True"]
    # glibc's defaults: mmap'ed (over 128 KiB) and unmapped on free, so the next step faults in fresh pages
    assert _probe(SAHIT_KEEP_FREED_MEMORY="0") == ["False", "True", "False"]


@glibc_linux
def test_users_own_glibc_tuning_is_left_alone():
    assert _probe(MALLOC_MMAP_THRESHOLD_="1048576")[0] == "False"


def test_trainer_sets_it_on_the_cpu(monkeypatch, tmp_path):
    from sahit.training import TrainConfig, Trainer, loop

    calls = []
    monkeypatch.setattr(loop, "keep_freed_memory", lambda: calls.append(1))
    Trainer(TrainConfig(model="quickstart", device="cpu", batch_size=4, data_length=8, progress=False), tmp_path / "run")
    assert calls == [1]
