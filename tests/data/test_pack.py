"""The packed format: a zip of images read in place, trained on exactly as the folder it came from."""

from __future__ import annotations

import json
import pickle
import zipfile

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torch.utils.data import DataLoader

from sahit.cli import main
from sahit.data import DataError, ImageFolderDataset, ZipImageDataset, make_dataset, pack_folder

TINY = ["model.g_width=16", "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false",
        "sample_every=100000", "ckpt_every=100000"]


def make_folder(root, per_class=5):
    for c, name in enumerate(("b_dogs", "a_cats")):
        for i in range(per_class):
            path = root / name / ("deep" if i == 3 else "") / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.effect_noise((10 + i, 12), 40 + 30 * c).convert("RGB").save(path)
    (root / "a_cats" / "broken.png").write_text("not an image")
    return root


def test_pack_keeps_order_labels_and_pixels(tmp_path, capsys):
    src = make_folder(tmp_path / "imgs")
    assert main(["data", "pack", str(src), str(tmp_path / "set.zip")]) == 0
    assert "packed 10 images (2 classes, skipped 1 bad file(s))" in capsys.readouterr().out
    folder, packed = ImageFolderDataset(src, 8), make_dataset(str(tmp_path / "set.zip"), 8)
    assert isinstance(packed, ZipImageDataset)
    assert packed.classes == folder.classes == ["a_cats", "b_dogs"] and packed.num_classes == 2
    assert [y for _, y in packed.samples] == [y for _, y in folder.samples]
    for i in range(len(folder)):
        assert torch.equal(packed[i][0], folder[i][0])
    with zipfile.ZipFile(tmp_path / "set.zip") as zf:  # StyleGAN's layout: stored files, labels in dataset.json
        meta = json.loads(zf.read("dataset.json"))
        assert meta["labels"][0] == ["00000/img00000000.png", 0]
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
    assert main(["data", "pack", str(src), str(tmp_path / "set.zip")]) == 2  # never overwrites
    assert "exists already" in capsys.readouterr().err


def test_zip_layouts_without_our_metadata(tmp_path):
    png = tmp_path / "x.png"
    Image.new("RGB", (9, 9), (5, 6, 7)).save(png)
    with zipfile.ZipFile(tmp_path / "folders.zip", "w") as zf:  # class folders inside the zip
        for name in ("dog/1.png", "cat/2.png", "cat/1.png", "cat/.hidden.png", "__MACOSX/cat/1.png"):
            zf.write(png, name)
    ds = ZipImageDataset(tmp_path / "folders.zip", 8)
    assert ds.classes == ["cat", "dog"] and ds.samples == [("cat/1.png", 0), ("cat/2.png", 0), ("dog/1.png", 1)]
    with zipfile.ZipFile(tmp_path / "stylegan.zip", "w") as zf:  # dataset_tool without labels
        for name in ("00000/img00000001.png", "00000/img00000000.png"):
            zf.write(png, name)
        zf.writestr("dataset.json", json.dumps({"labels": None}))
    ds = ZipImageDataset(tmp_path / "stylegan.zip", 8)
    assert ds.num_classes == 0 and [n for n, _ in ds.samples] == ["00000/img00000000.png", "00000/img00000001.png"]
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable zip"):
        make_dataset(str(tmp_path / "bad.zip"), 8)
    with zipfile.ZipFile(tmp_path / "broken.zip", "w") as zf:
        zf.write(png, "a.png")
        zf.writestr("b.png", b"garbage")
    assert len(ZipImageDataset(tmp_path / "broken.zip", 8)) == 2  # found when decoded, replaced by the next
    with pytest.raises(DataError, match="1 bad file.*b.png: not a readable image"):
        ZipImageDataset(tmp_path / "broken.zip", 8, strict=True)


def test_zip_works_in_dataloader_workers(tmp_path):
    pack_folder(make_folder(tmp_path / "imgs"), tmp_path / "set.zip", progress=False)
    ds = ZipImageDataset(tmp_path / "set.zip", 8)
    first = ds[0][0]  # the parent now holds an open handle; workers must open their own
    pickle.loads(pickle.dumps(ds))
    loader = DataLoader(ds, batch_size=5, num_workers=2, multiprocessing_context="fork")
    images = torch.cat([x for x, _ in loader])
    assert images.shape == (10, 3, 8, 8) and torch.equal(images[0], first)


def test_training_on_the_zip_is_bit_identical_to_the_folder(tmp_path):
    src = make_folder(tmp_path / "imgs", per_class=8)
    pack_folder(src, tmp_path / "set.zip", progress=False)
    weights = []
    for name, data in (("folder", src), ("zip", tmp_path / "set.zip")):
        code = main(["train", "--preset", "quickstart", "--data", str(data), "--out", str(tmp_path / name),
                     "steps=3", *TINY])
        assert code == 0
        export = tmp_path / name / "export"
        weights.append({f"{f}.{k}": v for f in ("generator", "generator_ema")
                        for k, v in load_file(export / f"{f}.safetensors").items()})
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
