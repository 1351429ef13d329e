"""experiments/augmentation.py: its arms are valid configs; its CIFAR-10 splits are balanced and disjoint."""

import importlib
import json

from sahit.training.config import config_from_dict, load_preset, merge, parse_overrides


def load_script():
    return importlib.import_module("experiments.augmentation")


def test_arms_are_valid_configs_that_differ_only_in_augment():
    module = load_script()
    configs = {}
    for arm in module.arms(32):
        overrides = parse_overrides([*arm.overrides, "seed=1", "steps=4", "batch_size=4"])
        configs[arm.name] = config_from_dict(merge(load_preset(arm.preset), overrides)).flat()
    assert configs["none"]["augment"] == "" and configs["diffaug"]["augment"] == "diffaug:color,translation,cutout"
    assert {k for k in configs["none"] if configs["none"][k] != configs["diffaug"][k]} == {"augment"}


def test_splits_are_class_balanced_disjoint_and_made_once(tmp_path, monkeypatch):
    module = load_script()
    monkeypatch.setattr(module, "SPLITS", (("train", 2), ("reference", 3), ("features", 1)))
    source = tmp_path / "cifar"
    for cls in ("cat", "dog"):
        (source / cls).mkdir(parents=True)
        for i in range(7):
            (source / cls / f"{i:04d}.png").write_bytes(b"")
    folders = module.make_splits(source, tmp_path / "data")
    names = {split: {(p.parent.name, p.name) for p in folder.rglob("*.png")} for split, folder in folders.items()}
    assert [len(names[s]) for s in ("train", "reference", "features")] == [4, 6, 2]
    assert not names["train"] & names["reference"] and not names["features"] & (names["train"] | names["reference"])
    assert all(p.is_symlink() and p.resolve().parent.parent == source for p in folders["train"].rglob("*.png"))
    index = json.loads((tmp_path / "data" / "index.json").read_text())
    assert index["splits"]["train"]["cat"] == sorted(p for c, p in names["train"] if c == "cat")
    assert module.make_splits(source, tmp_path / "data") == folders  # the index exists: nothing redrawn
