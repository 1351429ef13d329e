"""data_in_memory: items after the first read come from memory, bit-identical to reading the files again."""

import numpy as np
import pytest
import torch
from PIL import Image

from sahit.data import make_dataset
from sahit.data.builtin import BuiltinShapes
from sahit.data.memory import InMemory
from sahit.training.config import ConfigError, config_from_dict


def _noisy_folder(tmp_path, classes=2, per_class=3, size=24):
    rng = np.random.default_rng(0)
    for c in range(classes):
        (tmp_path / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size + 5, 3), dtype=np.uint8)).save(tmp_path / f"c{c}/{i}.png")
    return tmp_path


def test_items_from_memory_equal_the_files_bit_for_bit(tmp_path):
    root = _noisy_folder(tmp_path)
    files = make_dataset(str(root), 16)  # resized and cropped: every value comes from a resized uint8 image
    cached = InMemory(make_dataset(str(root), 16))
    first = [cached[i] for i in range(len(files))]
    for i in range(len(files)):
        expected, label = files[i]
        again, again_label = cached[i]  # from memory now
        assert torch.equal(first[i][0], expected) and torch.equal(again, expected) and again_label == label
        assert cached._items[i][0].dtype == torch.uint8  # kept at a quarter of the size
    assert cached.num_classes == files.num_classes and len(cached) == len(files)


def test_items_that_are_not_uint8_images_are_kept_as_they_are():
    shapes = BuiltinShapes(16, length=4, seed=0)
    cached = InMemory(shapes)
    for i in range(4):
        cached[i]
    for i in range(4):
        assert torch.equal(cached[i][0], shapes[i][0])


def test_a_random_crop_cannot_be_kept_in_memory():
    with pytest.raises(ConfigError, match="freeze data.crop=random"):
        config_from_dict({"model": "quickstart", "data_in_memory": True, "data_crop": "random"})


def test_training_from_memory_is_bit_identical_to_training_from_files(tmp_path):
    from sahit.training.checkpoint import latest_checkpoint
    from sahit.training.loop import Trainer
    from sahit.training.run import prepare_run

    root = _noisy_folder(tmp_path / "data", per_class=4)
    states = []
    for in_memory in ("false", "true"):
        overrides = ["model.g_width=8", "model.d_width=8", "model.z_dim=8", "batch_size=2", "steps=9", "ckpt_every=9",
                     "progress=false", f"data_in_memory={in_memory}"]  # 4 batches an epoch: 2 epochs from memory
        cfg, run_dir = prepare_run("quickstart", out=tmp_path / in_memory, data=str(root), overrides=overrides)
        Trainer(cfg, run_dir).fit()
        states.append(latest_checkpoint(run_dir / "checkpoints"))
    for name, value in states[0]["G"].items():
        assert torch.equal(value, states[1]["G"][name]), name
