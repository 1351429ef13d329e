"""StudioGAN's SAGAN checkpoints convert exactly: fixtures made with StudioGAN's own code
(tests/fixtures/studiogan/make_fixtures.py), compared in fp32 and eval mode."""

from __future__ import annotations

import copy
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import sahit
from sahit.cli import main
from sahit.convert import convert_studiogan
from sahit.convert.studiogan import _strip, discriminator_state, generator_state, studiogan_config
from sahit.convert.studiogan_files import read_checkpoint
from sahit.models import build
from sahit.models.registry import build_generator_from_config
from sahit.viz.run_files import load_discriminator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "studiogan"
CASES = ["embed-32", "linear-32", "embed-128", "linear-128"]
TOL = 1e-5


def _make_fixtures_module():
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE = _make_fixtures_module()


def _expected(case: str) -> dict:
    return torch.load(FIXTURES / case / "expected.pt", weights_only=True)


def _g_images(G, expected: dict) -> torch.Tensor:
    with torch.no_grad():
        return MAKE.crop(G(expected["z"], expected["y"]), expected["crop"])


def _d_logits(D, expected: dict, resolution: int) -> torch.Tensor:
    x = MAKE.d_inputs(expected["g"], resolution)
    with torch.no_grad():
        return D(x, torch.arange(len(x)) % MAKE.NUM_CLASSES)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("converted")
        yield {case: (convert_studiogan(FIXTURES / case, out / case), out / case) for case in CASES}
    finally:
        torch.set_num_threads(threads)  # later tests depend on the thread count


def test_fixtures_stay_small():
    total = sum(f.stat().st_size for f in FIXTURES.rglob("*") if f.is_file())
    assert total < 800_000


@pytest.mark.parametrize("case", CASES)
def test_generator_matches_studiogan(converted, case):
    """The conversion loads StudioGAN's weights with strict=True; sahit.load reads the export strictly too."""
    summary, run = converted[case]
    assert summary["cbn_format"] == case.split("-")[0].replace("embed", "embedding")
    G = sahit.load(run, ema=False)
    assert G.resolution == int(case.split("-")[1])
    expected = _expected(case)
    assert torch.allclose(_g_images(G, expected), expected["g"], atol=TOL, rtol=0)


@pytest.mark.parametrize("case", CASES)
def test_discriminator_matches_studiogan(converted, case):
    _, run = converted[case]
    D = load_discriminator(run)
    expected = _expected(case)
    logits = _d_logits(D, expected, D.resolution)
    assert torch.allclose(logits, expected["d"], atol=TOL, rtol=TOL)


def test_ema_generator_is_converted_when_present(converted):
    _, run = converted["linear-32"]
    expected = _expected("linear-32")
    assert torch.allclose(_g_images(sahit.load(run, ema=True), expected), expected["g_ema"], atol=TOL, rtol=0)
    assert not (converted["embed-32"][1] / "export" / "generator_ema.safetensors").exists()


@pytest.mark.parametrize("case", ["embed-32", "linear-32"])
def test_studiogan_sampling_option_reproduces_its_first_sampling_call(converted, case):
    """g_eval_power_iteration (convert --studiogan-sampling): one power iteration per call in eval mode, in the
    order of torch's older hook, as StudioGAN's sampling; both class-table forms iterate as StudioGAN's."""
    G = sahit.load(converted[case][1], ema=False)
    sampling = build_generator_from_config({**G.config, "g_eval_power_iteration": True})
    sampling.load_state_dict(G.state_dict(), strict=True)
    sampling.eval()
    expected = _expected(case)
    assert torch.allclose(_g_images(sampling, expected), expected["g_first_call"], atol=TOL, rtol=0)
    assert not torch.allclose(expected["g_first_call"], expected["g"], atol=1e-4)  # the option matters here
    u = sampling.linear.parametrizations.weight[0]._u.clone()
    copy.deepcopy(sampling).sample(2, seed=0)
    assert torch.equal(u, sampling.linear.parametrizations.weight[0]._u)  # a copy iterates on its own u
    sampling.sample(2, seed=0)
    assert not torch.equal(u, sampling.linear.parametrizations.weight[0]._u)  # every call advances u


@pytest.mark.parametrize("option, value", [("d_shortcut_relu", False), ("bn_eps", 1e-5)])
def test_each_studiogan_option_is_needed(option, value):
    """Without StudioGAN's in-place-ReLU shortcut or its batch-norm eps the outputs differ (the fixtures see them)."""
    g = _strip(read_checkpoint(next((FIXTURES / "linear-32").glob("model=G-*")))["state_dict"])
    d = _strip(read_checkpoint(next((FIXTURES / "linear-32").glob("model=D-*")))["state_dict"])
    config = {**studiogan_config(g, d), option: value}
    G, D = build("sagan", **config)
    G.load_state_dict(generator_state(g, "linear"))
    D.load_state_dict(discriminator_state(d))
    expected = _expected("linear-32")
    if option == "bn_eps":
        assert not torch.allclose(_g_images(G.eval(), expected), expected["g"], atol=1e-4)
    else:
        assert not torch.allclose(_d_logits(D.eval(), expected, 32), expected["d"], atol=1e-3)


def test_shared_embedding_format_is_folded_exactly():
    """StudioGAN Jan-Mar 2022: gain(y) = 1 + SN-linear(shared[y]); the folded plain tables give the same rows,
    checked against torch's own spectral-norm hook (the one StudioGAN uses) in eval mode."""
    g = _strip(read_checkpoint(next((FIXTURES / "linear-32").glob("model=G-*")))["state_dict"])
    z_dim = g["linear0.weight_orig"].shape[1]
    torch.manual_seed(0)
    shared = torch.randn(MAKE.NUM_CLASSES, z_dim)
    legacy = {"shared.weight": shared}
    for key, value in g.items():  # gain/bias linears now take the shared embedding (z_dim) instead of one-hot (K)
        if key.endswith((".gain.weight_orig", ".bias.weight_orig")):
            value = torch.randn(value.shape[0], z_dim)
        elif key.endswith((".gain.weight_v", ".bias.weight_v")):
            value = torch.nn.functional.normalize(torch.randn(z_dim), dim=0)
        legacy[key] = value
    config = studiogan_config(legacy, None)
    assert config["cbn_spectral_norm"] == "none" and config["num_classes"] == MAKE.NUM_CLASSES
    G, _ = build("sagan", **config)
    G.load_state_dict(generator_state(legacy, "shared"), strict=True)
    for table, offset in (("gain", 1.0), ("bias", 0.0)):
        name = f"blocks.1.0.bn2.{table}"
        linear = torch.nn.utils.spectral_norm(torch.nn.Linear(z_dim, legacy[f"{name}.weight_orig"].shape[0], bias=False),
                                              eps=1e-6)
        linear.load_state_dict({k.split(".")[-1]: legacy[k] for k in legacy if k.startswith(name + ".")})
        with torch.no_grad():
            reference = offset + linear.eval()(shared)  # (K, C): StudioGAN's gain / bias of each class
        assert torch.allclose(getattr(G.blocks[1].bn2, table).weight, reference, atol=1e-6)


def test_cli_converts_and_reports_one_line_errors(tmp_path, capsys):
    files = [str(p) for p in (FIXTURES / "embed-32").glob("model=G-*")]  # a single G file: an export only
    assert main(["convert", "studiogan", *files, "--out", str(tmp_path / "run")]) == 0
    assert "converted" in capsys.readouterr().out
    G = sahit.load(tmp_path / "run")
    assert G.config["d_shortcut_relu"] and G.config["bn_eps"] == 1e-4
    assert not (tmp_path / "run" / "checkpoints").exists()
    bad = tmp_path / "model=G-best-weights-step=5.pth"
    bad.write_bytes(b"not a pickle")
    assert main(["convert", "studiogan", str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sahit convert: error:") and "\n" not in err
    odd = tmp_path / "odd" / "model=G-best-weights-step=5.pth"
    odd.parent.mkdir()
    torch.save({"state_dict": {"linear0.weight_orig": torch.zeros(64, 8), "blocks.0.0.bn1.bn.running_mean":
                               torch.zeros(4)}}, odd)
    assert main(["convert", "studiogan", str(odd.parent), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no entry 'blocks.0.0.conv2d1.weight_orig'" in err and "\n" not in err


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo unpickled",))


def test_foreign_objects_are_refused_without_running_them(tmp_path):
    path = tmp_path / "model=D-best-weights-step=1.pth"
    torch.save({"state_dict": {}, "extra": _Evil()}, path)
    with pytest.raises(ValueError, match="other than tensors, plain data and numpy scalars"):
        read_checkpoint(path)


def test_numpy_scalars_are_read(tmp_path):
    state = read_checkpoint(next((FIXTURES / "embed-32").glob("model=D-*")))  # torch's pre-1.6 format
    assert isinstance(state["best_fid"], np.float64) and state["best_fid"] == 12.5
    state = read_checkpoint(next((FIXTURES / "linear-32").glob("model=D-*")))  # zip format
    assert state["best_fid"] == 12.5


def _renumber(state: dict, mapping: dict[int, int]) -> dict:
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "blocks" and int(parts[1]) in mapping:
            parts[1] = str(mapping[int(parts[1])])
        out[".".join(parts)] = value
    return out


def test_unsupported_layouts_name_the_problem():
    g = _strip(read_checkpoint(next((FIXTURES / "linear-32").glob("model=G-*")))["state_dict"])
    d = _strip(read_checkpoint(next((FIXTURES / "linear-32").glob("model=D-*")))["state_dict"])
    block = {k: v for k, v in g.items() if k.startswith("blocks.0.")}
    seven_blocks = {**g, **{k.replace("blocks.0.", f"blocks.{j}."): v for j in (4, 5, 6, 7) for k, v in block.items()}}
    with pytest.raises(ValueError, match=r"7 blocks \(512 px\) is not supported; supported: StudioGAN's SAGAN"):
        studiogan_config(seven_blocks, d)
    no_sn = {k.replace("weight_orig", "weight"): v for k, v in g.items() if not k.endswith(("_u", "_v"))}
    with pytest.raises(ValueError, match="without spectral norm"):
        studiogan_config(no_sn, d)
    biggan_like = {**g, "shared.weight": torch.zeros(3, 5)}  # shared embedding of 5, gain layers take 3 inputs
    with pytest.raises(ValueError, match="take 3 inputs, not the shared embedding's 5"):
        generator_state(biggan_like, "shared")
    with pytest.raises(ValueError, match="linear2"):  # a classifier head (d_cond_mtd AC), not projection
        discriminator_state({**d, "linear2.weight_orig": torch.zeros(3, 8)})
    # D: block 0 (16x16), attention, blocks 2, 3 (8x8). Attention after D's second 8x8 block instead: sahit's D
    # places attention after the first block of a size only
    late = _renumber(d, {1: 3, 2: 1, 3: 2})
    with pytest.raises(ValueError, match="first block of a size"):
        studiogan_config(g, late)


def test_64px_generator_layout_is_inferred_as_g_arch():
    """StudioGAN's 64-px G (16, 8, 4, 2, 1 x g_conv_dim) becomes g_arch; sahit's default 64-px G is unchanged."""
    c, z_dim, k = 2, 8, 3
    state = {"linear0.weight_orig": torch.zeros(16 * c * 16, z_dim), "linear0.weight_u": torch.zeros(1)}
    for j, width in enumerate([8 * c, 4 * c, 2 * c, c]):
        state[f"blocks.{j}.0.conv2d1.weight_orig"] = torch.zeros(width, 1, 3, 3)
        state[f"blocks.{j}.0.bn1.gain.weight_orig"] = torch.zeros(width, k)
    layout = studiogan_config(state, None)
    assert layout["resolution"] == 64 and layout["g_arch"] == [16, 8, 4, 2, 1] and layout["g_width"] == c
    G, _ = build("sagan", **layout)
    assert [b.conv1.parametrizations.weight.original.shape[0] for b in G.blocks] == [16, 8, 4, 2]
    default, _ = build("sagan", resolution=64, g_width=c, d_width=c, num_classes=k, g_attn_res=[], d_attn_res=[])
    assert [b.conv1.parametrizations.weight.original.shape[0] for b in default.blocks] == [32, 16, 8, 4]
    with pytest.raises(ValueError, match="g_arch must be 5 positive integers"):
        build("sagan", resolution=64, g_arch=[16, 8])
