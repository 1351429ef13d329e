"""experiments/finetune.py on fake CIFAR-10 (a tmp ImageFolder of ten classes) with a tiny source run."""

from __future__ import annotations

import json
import math

import pytest
import torch
from PIL import Image

from experiments import finetune
from sahit.training.config import config_from_dict
from sahit.training.loop import Trainer

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _fake_cifar(root, per_class: int):
    g = torch.Generator().manual_seed(0)
    for k, cls in enumerate(CLASSES):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            pixels = (torch.rand(32, 32, 3, generator=g) * 60 + 20 * k).clamp(0, 255).to(torch.uint8)
            Image.fromarray(pixels.numpy()).save(root / cls / f"{i:03d}.png")
    return root


def test_skips_cleanly_without_cifar10(tmp_path, capsys):
    assert finetune.main(["--cifar", str(tmp_path / "none"), "--out", str(tmp_path)]) is None
    assert "skipped: no CIFAR-10" in capsys.readouterr().out


def test_verdict_reads_means_and_spread():
    def arm(*fids):
        return {"fid": {"mean": sum(fids) / len(fids), "std": 0.1, "min": min(fids), "max": max(fids)}}

    assert finetune.verdict({"arms": {"scratch": arm(3, 4), "finetune": arm(1, 2)}}).startswith("fine-tuning better in every seed")
    assert "seeds overlap" in finetune.verdict({"arms": {"scratch": arm(2, 4), "finetune": arm(1, 3.5)}})
    assert "not better" in finetune.verdict({"arms": {"scratch": arm(1, 2), "finetune": arm(3, 4)}})


@pytest.mark.slow
def test_end_to_end_on_fake_cifar10(tmp_path, single_thread):
    cifar = _fake_cifar(tmp_path / "cifar", per_class=6)
    source = tmp_path / "source"
    Trainer(config_from_dict({"model": "sagan-cifar10", "model_args": {"g_width": 8, "d_width": 8, "g_attn_res": [],
                                                                      "d_attn_res": []},
                              "data": str(cifar), "steps": 2, "batch_size": 4, "device": "cpu", "progress": False,
                              "ema_kimg": 0, "ema_rampup": 0}), source).fit()
    json_path, plot = tmp_path / "finetune.json", tmp_path / "finetune.png"
    payload = finetune.main(["--cifar", str(cifar), "--source", str(source), "--seconds", "0", "--steps", "2",
                             "--seeds", "0", "--batch-size", "4", "--eval-n", "8", "--eval-points", "0",
                             "--features-steps", "2", "--per-class", "2", "--reference-per-class", "2",
                             "--features-per-class", "2", "--out", str(tmp_path / "runs"), "--json", str(json_path),
                             "--plot", str(plot)])
    stored = json.loads(json_path.read_text())
    assert stored["verdict"] == payload["verdict"] and stored["complete"] and stored["n_failed"] == 0
    assert stored["budget"]["init_classes"] == [3, 5] and stored["budget"]["classes"] == ["cat", "dog"]
    for name in ("scratch", "finetune"):
        (record,) = stored["arms"][name]["runs"]
        assert record["status"] == "ok" and math.isfinite(record["fid"])
    ft_config = stored["arms"]["finetune"]["config"]
    assert ft_config["init_from"] == str(source) and ft_config["init_classes"] == [3, 5]
    assert stored["arms"]["scratch"]["config"]["init_from"] == ""
    assert plot.is_file() and plot.stat().st_size > 0


def test_the_reference_is_drawn_from_images_the_source_never_saw(tmp_path):
    """With the source's held-out images given, the reference comes from them only and the other splits avoid
    them; the splits stay disjoint and class-balanced."""
    root = tmp_path / "cifar"
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(20):
            Image.new("RGB", (4, 4), (i, 0, 0)).save(root / cls / f"{i:04d}.png")
    held = {f"{cls}/{i:04d}.png" for cls in ("cat", "dog") for i in range(0, 20, 4)}  # 5 of each class
    counts = {"train": 6, "reference": 4, "features": 5}
    folders = finetune.make_splits(root, ["cat", "dog"], counts, tmp_path / "splits", held)
    names = {k: {f"{p.parent.name}/{p.name}" for p in folder.rglob("*.png")} for k, folder in folders.items()}
    assert len(names["reference"]) == 8 and names["reference"] <= held
    assert not (names["train"] | names["features"]) & held
    assert sum(len(v) for v in names.values()) == len(set().union(*names.values()))  # disjoint
    with pytest.raises(SystemExit, match="too few"):
        finetune.make_splits(root, ["cat", "dog"], {"train": 6, "reference": 6, "features": 5}, tmp_path / "s2", held)
