"""precision=auto: bf16 on a CPU only with native bf16 and for a family it speeds up."""

from __future__ import annotations

import pytest
import torch

from sahit.training import TrainConfig, Trainer, precision

CPU = torch.device("cpu")


@pytest.mark.parametrize("flags", [(), ("avx512_bf16",), ("amx_bf16", "avx512_bf16")])
def test_auto_follows_cpu_flags_and_family(monkeypatch, flags):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: flags)
    native = bool(flags)
    assert precision.resolve_precision("auto", CPU, "sagan") == ("bf16" if native else "fp32")
    assert precision.resolve_precision("auto", CPU, "hit") == ("bf16" if native else "fp32")
    assert precision.resolve_precision("auto", CPU, "some-new-family") == "fp32"
    for explicit in ("fp32", "bf16", "fp16"):
        assert precision.resolve_precision(explicit, CPU, "hit") == explicit


def test_cpu_flags_are_read_from_cpuinfo(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile amx_bf16\n")
    monkeypatch.setattr(precision, "Path", lambda _: cpuinfo)
    precision.cpu_bf16_flags.cache_clear()
    try:
        assert precision.cpu_bf16_flags() == ("amx_bf16", "avx512_bf16")
        cpuinfo.write_text("flags\t\t: fpu avx2 fma\n")
        precision.cpu_bf16_flags.cache_clear()
        assert precision.cpu_bf16_flags() == ()
    finally:
        precision.cpu_bf16_flags.cache_clear()


@pytest.mark.parametrize("model,native,expected", [("quickstart", True, torch.bfloat16), ("quickstart", False, None),
                                                   ("hit-32", True, torch.bfloat16), ("hit-32", False, None)])
def test_trainer_uses_the_choice(monkeypatch, tmp_path, model, native, expected):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ("amx_bf16",) if native else ())
    cfg = TrainConfig(model=model, device="cpu", precision="auto", batch_size=4, data_length=8, progress=False)
    assert Trainer(cfg, tmp_path / "run").amp_dtype == expected
