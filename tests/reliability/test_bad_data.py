"""Bad image folders: converted, skipped with a counted warning, or refused (strict_data=true); never a crash."""

from __future__ import annotations

import logging
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from sahit.cli import main
from sahit.data import DataError, ImageFolderDataset

TINY = ["model.g_width=16", "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false"]


def png_header(path, width: int, height: int) -> None:
    """A valid-looking PNG that claims ``width`` x ``height`` pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def good(path, size=(24, 20), colour=(200, 30, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def bad_folder(root):
    """Every kind of bad or odd file next to a few good ones; returns {name: expected skip reason}."""
    root.mkdir()
    Image.new("L", (20, 30), 128).save(root / "gray.png")
    Image.new("RGBA", (33, 33), (10, 20, 30, 100)).save(root / "rgba.png")
    Image.new("CMYK", (40, 20), (0, 50, 100, 0)).save(root / "cmyk.jpg")
    Image.new("P", (25, 25), 3).save(root / "palette.png")
    Image.fromarray(np.full((20, 20), 40000, dtype=np.uint16)).save(root / "deep16.png")
    Image.new("RGB", (300, 7), (9, 9, 9)).save(root / "wide.png")  # mixed sizes: resized, centre-cropped
    good(root / "big.bmp", size=(1000, 800))
    (root / "zero.png").write_bytes(b"")
    (root / "text.jpg").write_text("not an image")
    Image.new("RGB", (64, 64), (1, 2, 3)).save(root / "trunc.png")
    (root / "trunc.png").write_bytes((root / "trunc.png").read_bytes()[:40])
    Image.effect_noise((64, 64), 50).convert("RGB").save(root / "half.jpg")
    (root / "half.jpg").write_bytes((root / "half.jpg").read_bytes()[:300])
    png_header(root / "bomb.png", 30_000, 30_000)  # 900 MP: over twice PIL's limit (an error)
    png_header(root / "bomb2.png", 25_000, 20_000)  # 500 MP: over the limit, PIL would only warn
    (root / "notes.txt").write_text("ignored: not an image extension")
    return {"zero.png": "empty file", "text.jpg": "not a readable image", "trunc.png": "not a readable image",
            "half.jpg": "not a readable image", "bomb.png": "image too large", "bomb2.png": "image too large"}


def test_every_bad_file_is_converted_or_skipped(tmp_path, caplog):
    expected = bad_folder(tmp_path / "imgs")
    with caplog.at_level(logging.WARNING):
        ds = ImageFolderDataset(tmp_path / "imgs", 16)
    assert len(ds) == 7 and ds.num_classes == 0
    skipped = {p.name: why for p, why in ds.skipped}
    assert skipped.keys() == expected.keys()
    for name, why in expected.items():
        assert skipped[name].startswith(why), (name, skipped[name])
    assert f"skipped {len(expected)} bad file(s) in {tmp_path / 'imgs'}, first: " in caplog.text
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.shape == (3, 16, 16) and x.min() >= -1 and x.max() <= 1 and y == 0
    with pytest.raises(DataError, match=rf"{len(expected)} bad file\(s\) in .*: "):
        ImageFolderDataset(tmp_path / "imgs", 16, strict=True)


def test_strict_data_refuses_in_one_line(tmp_path, capsys):
    bad_folder(tmp_path / "imgs")
    code = main(["train", "--data", str(tmp_path / "imgs"), "--out", str(tmp_path / "r"), "strict_data=true", *TINY])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "6 bad file(s) in" in err and "bomb.png: image too large" in err
    assert not (tmp_path / "r").exists()


def test_empty_class_folder_is_ignored_with_a_warning_or_refused(tmp_path, caplog):
    for i in range(3):
        good(tmp_path / "imgs" / "cats" / f"{i}.png")
        good(tmp_path / "imgs" / "dogs" / f"{i}.png", colour=(0, 0, 255))
    (tmp_path / "imgs" / "birds").mkdir()
    (tmp_path / "imgs" / "birds" / "readme.txt").write_text("no images yet")
    with caplog.at_level(logging.WARNING):
        ds = ImageFolderDataset(tmp_path / "imgs", 16)
    assert ds.classes == ["cats", "dogs"] and sorted({y for _, y in ds.samples}) == [0, 1]
    assert "ignoring 1 empty class folder(s): birds" in caplog.text
    with pytest.raises(DataError, match="class folders with no images in .*: birds"):
        ImageFolderDataset(tmp_path / "imgs", 16, strict=True)


def test_files_that_break_after_the_scan_do_not_stop_training(tmp_path, make_trainer, caplog):
    root = tmp_path / "imgs"
    for i in range(8):  # one batch of 8 = the whole folder, so every file is read at every step
        good(root / ("a" if i % 2 else "b") / f"{i}.png", size=(20 + i, 24), colour=(30 * i, 100, 200))
    trainer = make_trainer(tmp_path / "r", "steps=2", data=str(root))
    assert len(trainer.dataset) == 8
    (root / "a" / "1.png").write_text("overwritten by something else")
    (root / "a" / "3.png").write_bytes((root / "a" / "3.png").read_bytes()[:50])
    (root / "b" / "4.png").unlink()
    with caplog.at_level(logging.WARNING):
        summary = trainer.fit()
    assert summary["step"] == 2
    assert trainer.dataset.decode_failures >= 3
    assert "using the next image" in caplog.text


def test_a_folder_where_nothing_decodes_any_more_fails_clearly(tmp_path):
    root = tmp_path / "imgs"
    for i in range(2):
        good(root / f"{i}.png")
    ds = ImageFolderDataset(root, 16)
    for p, _ in ds.samples:
        p.write_text("gone bad")
    with pytest.raises(DataError, match="no image in .* could be decoded"):
        ds[0]
