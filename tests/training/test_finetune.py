"""Fine-tuning: init_from (run folder, export, converted StudioGAN run), init_classes, freeze_d, bad inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import sahit
from sahit.convert import convert_studiogan
from sahit.training.config import ConfigError, config_from_dict
from sahit.training.loop import Trainer
from sahit.viz.run_files import load_discriminator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "studiogan"
TINY = {"model": "quickstart", "model_args": {"g_width": 8, "d_width": 8}, "batch_size": 4, "data_length": 16,
        "device": "cpu", "progress": False, "sample_every": 1000, "log_every": 1000, "ema_start": 0}


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """A tiny trained SAGAN run (2 steps on the built-in data, 10 classes)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = tmp_path_factory.mktemp("source") / "run"
        Trainer(config_from_dict({**TINY, "steps": 2}), run).fit()
    finally:
        torch.set_num_threads(threads)  # later tests depend on the thread count
    return run


def _trainer(tmp_path, name="ft", **values) -> Trainer:
    return Trainer(config_from_dict({**TINY, "steps": 1, **values}), tmp_path / name)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_init_from_run_takes_g_ema_and_d_at_step_0(source_run, tmp_path, single_thread):
    t = _trainer(tmp_path, init_from=str(source_run))
    t._start()
    assert t.step == 0 and not t.opt_g.state and not t.opt_d.state  # fresh optimisers
    assert _same(t.G.state_dict(), sahit.load(source_run, ema=False).state_dict())
    assert _same(t.ema.net.state_dict(), sahit.load(source_run, ema=True).state_dict())
    assert _same(t.D.state_dict(), load_discriminator(source_run).state_dict())


def test_init_from_export_only_leaves_d_random(source_run, tmp_path, single_thread):
    t = _trainer(tmp_path, init_from=str(source_run / "export"))
    assert t.init_source.D is None or _same(t.init_source.D, load_discriminator(source_run).state_dict())


def test_init_classes_rows_and_reinit(source_run, tmp_path, image_folder, single_thread):
    data = image_folder("two", {"a": 4, "b": 4})
    source_g = sahit.load(source_run, ema=False).state_dict()
    source_d = load_discriminator(source_run).state_dict()
    t = _trainer(tmp_path, data=str(data), init_from=str(source_run), init_classes=[3, 5])
    t._start()
    assert t.G.num_classes == 2
    g = t.G.state_dict()
    assert torch.equal(g["blocks.0.bn1.gain.weight"], source_g["blocks.0.bn1.gain.weight"][[3, 5]])
    assert torch.equal(g["blocks.0.conv1.parametrizations.weight.original"],
                       source_g["blocks.0.conv1.parametrizations.weight.original"])
    key = "embed.parametrizations.weight.original"
    assert torch.equal(t.D.state_dict()[key], source_d[key][[3, 5]])
    t.advance(t.batches())  # trains with the new classes
    r = _trainer(tmp_path, "reinit", data=str(data), init_from=str(source_run), init_classes="reinit")
    r._start()
    assert r.G.state_dict()["blocks.0.bn1.gain.weight"].shape == (2, 8)
    assert torch.equal(r.G.state_dict()["blocks.0.bn1.gain.weight"], torch.ones(2, 8))  # fresh: gains at 1
    with pytest.raises(ConfigError, match="the data has 2 classes and init_from's model 10: set init_classes"):
        _trainer(tmp_path, "no-map", data=str(data), init_from=str(source_run))
    with pytest.raises(ValueError, match="no class 12"):
        _trainer(tmp_path, "bad-row", data=str(data), init_from=str(source_run), init_classes=[3, 12])._start()


def test_freeze_d_keeps_first_blocks(source_run, tmp_path, single_thread):
    t = _trainer(tmp_path, init_from=str(source_run), freeze_d=1)
    t._start()
    before = {k: v.clone() for k, v in t.D.named_parameters()}
    t.advance(t.batches())
    after = dict(t.D.named_parameters())
    frozen = [k for k in before if k.startswith(("blocks.0.", "attention.0."))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("blocks.1."))
    with pytest.raises(ConfigError, match="D has only 3 blocks"):
        _trainer(tmp_path, "too-many", init_from=str(source_run), freeze_d=4)


def test_bad_sources_get_one_line(source_run, tmp_path, single_thread):
    with pytest.raises(ConfigError, match="is a sagan model; this run's model 'hit-32' is hit"):
        _trainer(tmp_path, "hit", model="hit-32", model_args={}, init_from=str(source_run))
    with pytest.raises(ValueError, match=r"\(D\): layer blocks\.0\.conv1\.bias has shape \(8,\) in the source and \(16,\)"):
        _trainer(tmp_path, "wide", model_args={"g_width": 8, "d_width": 16}, init_from=str(source_run))._start()
    with pytest.raises(FileNotFoundError):
        _trainer(tmp_path, "missing", init_from=str(tmp_path / "nothing"))


def test_init_from_converted_studiogan_run(tmp_path, image_folder, single_thread):
    converted = tmp_path / "studiogan"
    convert_studiogan(FIXTURES / "linear-32", converted)
    data = image_folder("three", {"a": 2, "b": 2, "c": 2})
    t = _trainer(tmp_path, model="sagan-cifar10", model_args={}, data=str(data), init_from=str(converted))
    t._start()
    assert t.G.config["d_shortcut_relu"] and t.G.resolution == 32  # the source's options
    assert _same(t.G.state_dict(), sahit.load(converted, ema=False).state_dict())
    assert _same(t.D.state_dict(), load_discriminator(converted).state_dict())
    stats = t.advance(t.batches())
    assert stats is not None and torch.isfinite(stats["loss_d"])
    with pytest.raises(Exception, match="holds weights only"):
        Trainer(config_from_dict({**TINY, "model": "sagan-cifar10", "model_args": dict(t.cfg.model_args),
                                  "data": str(data)}), converted).resume()


def test_class_rows_pick_spectral_norms_vector_over_classes(single_thread):
    """With as many channels as classes, the vector over classes is found by the norm's dim, not by its size."""
    from sahit.models import build
    from sahit.training.finetune import transplant

    G, D = build("sagan", resolution=32, g_width=8, d_width=8, num_classes=8, cbn_spectral_norm="linear")
    G2, D2 = build("sagan", resolution=32, g_width=8, d_width=8, num_classes=2, cbn_spectral_norm="linear")
    transplant(G2, G.state_dict(), [3, 5], "G")
    transplant(D2, D.state_dict(), [3, 5], "D")
    gain, new = "blocks.0.bn1.gain.parametrizations.weight", G2.state_dict()
    assert torch.equal(new[f"{gain}.original"], G.state_dict()[f"{gain}.original"][[3, 5]])
    assert torch.equal(new[f"{gain}.0._u"], G.state_dict()[f"{gain}.0._u"])  # over channels (dim 1): kept
    assert torch.allclose(new[f"{gain}.0._v"].norm(), torch.tensor(1.0))  # over classes: picked, renormalised
    embed = "embed.parametrizations.weight"
    assert torch.equal(D2.state_dict()[f"{embed}.0._v"], D.state_dict()[f"{embed}.0._v"])  # over channels
    assert D2.state_dict()[f"{embed}.0._u"].shape == (2,)
