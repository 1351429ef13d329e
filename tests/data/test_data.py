"""Built-in data and image folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sahit.data import BuiltinShapes, DataError, ImageFolderDataset, make_dataset, symmetry_error
from sahit.data.builtin import render_shape


def test_builtin_is_deterministic_per_seed_and_index():
    a, b = BuiltinShapes(32, seed=3), BuiltinShapes(32, seed=3)
    for i in (0, 7, 123):
        assert torch.equal(a[i][0], b[i][0]) and a[i][1] == b[i][1]
    assert not torch.equal(a[5][0], BuiltinShapes(32, seed=4)[5][0])
    assert not torch.equal(a[5][0], a[15][0])  # same class, other style


@pytest.mark.parametrize("resolution", [16, 32, 64, 128, 256])
def test_builtin_shapes_ranges_and_symmetry(resolution):
    ds = BuiltinShapes(resolution, length=20)
    x = torch.stack([ds[i][0] for i in range(20)])
    assert x.shape == (20, 3, resolution, resolution)
    assert x.min() >= -1 and x.max() <= 1
    assert symmetry_error(x) == 0.0


def test_builtin_class_balance_and_geometry_differs():
    ds = BuiltinShapes(32, length=1000)
    labels = [ds[i][1] for i in range(1000)]
    assert np.bincount(labels).tolist() == [100] * 10
    # Classes differ in geometry, not only colour: with the same random style (size, position,
    # colours) two classes still give different images.
    images = [torch.from_numpy(render_shape(c, np.random.default_rng(0), 32)) for c in range(10)]
    for i in range(10):
        for j in range(i + 1, 10):
            assert (images[i] - images[j]).abs().mean() > 0.01, (i, j)


def test_symmetry_error_is_large_on_noise():
    noise = torch.rand(16, 3, 32, 32) * 2 - 1
    assert symmetry_error(noise) > 0.25  # 1/3 in expectation
    half_broken = BuiltinShapes(32)[0][0].unsqueeze(0).clone()
    half_broken[..., :4] = 1.0
    assert symmetry_error(half_broken) > 0


def test_builtin_rejects_bad_resolution():
    with pytest.raises(ValueError, match="power of two"):
        BuiltinShapes(48)


def test_folder_errors_are_clear(tmp_path):
    with pytest.raises(DataError, match="nor an existing folder"):
        make_dataset(str(tmp_path / "nope"), 32)
    with pytest.raises(DataError, match="does not exist"):
        ImageFolderDataset(tmp_path / "nope", 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        make_dataset(str(tmp_path / "empty"), 32)


def test_folder_converts_modes_and_skips_bad_files(tmp_path, caplog):
    root = tmp_path / "imgs"
    root.mkdir()
    Image.new("L", (20, 30), 128).save(root / "gray.png")
    Image.new("RGBA", (33, 33), (10, 20, 30, 100)).save(root / "rgba.png")
    Image.new("CMYK", (40, 20), (0, 50, 100, 0)).save(root / "cmyk.jpg")
    Image.new("P", (25, 25), 3).save(root / "palette.png")
    Image.fromarray(np.full((20, 20), 40000, dtype=np.uint16)).save(root / "deep.png")
    (root / "zero.png").write_bytes(b"")
    (root / "text.jpg").write_text("not an image")
    good = root / "trunc.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(good)
    good.write_bytes(good.read_bytes()[:40])
    ds = ImageFolderDataset(root, 16)
    assert len(ds) == 5 and len(ds.skipped) == 3
    assert "skipped 3 bad file(s)" in caplog.text
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.shape == (3, 16, 16) and y == 0 and x.min() >= -1 and x.max() <= 1
    with pytest.raises(DataError, match="3 bad file"):
        ImageFolderDataset(root, 16, strict=True)
