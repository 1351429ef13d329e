"""The cached folder index: a restart reads no header, a changed folder is re-checked file by file."""

from __future__ import annotations

import json
import logging
import os

import pytest
from PIL import Image

import sahit.data.folder as folder
import sahit.data.index as index
from sahit.data import DataError, ImageFolderDataset


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """Counts header checks; the fallback cache lives in the test's folder."""
    calls: list[str] = []
    real = folder.check_header

    def check(path, size=None):
        calls.append(path.name)
        return real(path, size)

    monkeypatch.setattr(folder, "check_header", check)
    monkeypatch.setattr(index, "CACHE_DIR", tmp_path / "cache")
    return calls


def make_folder(root, n=3):
    for cls, colour in (("cats", (200, 0, 0)), ("dogs", (0, 0, 200))):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (12, 10), colour).save(root / cls / f"{i}.png")
    (root / "dogs" / "bad.png").write_text("not an image")


def same(a: ImageFolderDataset, b: ImageFolderDataset) -> bool:
    return a.classes == b.classes and a.samples == b.samples and a.skipped == b.skipped


def test_restart_reads_no_header_and_gives_the_same_data_set(tmp_path, counted):
    make_folder(tmp_path / "imgs")
    cold = ImageFolderDataset(tmp_path / "imgs", 8)
    assert len(counted) == 7 and len(cold) == 6 and [p.name for p, _ in cold.skipped] == ["bad.png"]
    assert (tmp_path / "imgs" / index.INDEX_NAME).is_file()
    counted.clear()
    warm = ImageFolderDataset(tmp_path / "imgs", 8)
    assert counted == [] and same(cold, warm)
    uncached = ImageFolderDataset(tmp_path / "imgs", 8, use_index=False)
    assert len(counted) == 7 and same(cold, uncached)
    with pytest.raises(DataError, match="1 bad file"):  # the cached answer still refuses in strict mode
        ImageFolderDataset(tmp_path / "imgs", 8, strict=True)


def test_a_changed_folder_is_rechecked_file_by_file(tmp_path, counted, caplog):
    root = tmp_path / "imgs"
    make_folder(root)
    ImageFolderDataset(root, 8)
    counted.clear()
    (root / "cats" / "0.png").write_text("broken since")  # new size
    Image.new("RGB", (12, 10)).save(root / "cats" / "new.png")
    (root / "dogs" / "bad.png").unlink()
    stamp = (root / "dogs" / "1.png").stat()
    os.utime(root / "dogs" / "1.png", ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))  # touched only
    with caplog.at_level(logging.INFO, logger="sahit.data.index"):
        ds = ImageFolderDataset(root, 8)
    assert sorted(counted) == ["0.png", "1.png", "new.png"]
    assert "3 of 7 file(s)" in caplog.text
    assert [p.name for p, _ in ds.skipped] == ["0.png"]
    assert [(p.parent.name, p.name) for p, _ in ds.samples] == [
        ("cats", "1.png"), ("cats", "2.png"), ("cats", "new.png"), ("dogs", "0.png"), ("dogs", "1.png"),
        ("dogs", "2.png")]
    counted.clear()
    assert same(ds, ImageFolderDataset(root, 8)) and counted == []


def test_unwritable_folder_indexes_into_the_cache_and_bad_index_is_ignored(tmp_path, counted, caplog):
    root = tmp_path / "imgs"
    make_folder(root)
    (root / index.INDEX_NAME).mkdir()  # stands for a folder we may not write into (root ignores chmod)
    cold = ImageFolderDataset(root, 8)
    cached = list((tmp_path / "cache").glob("*.json"))
    assert len(cached) == 1 and len(counted) == 7
    counted.clear()
    assert same(cold, ImageFolderDataset(root, 8)) and counted == []

    cached[0].write_text("{not json")
    with caplog.at_level(logging.WARNING):
        again = ImageFolderDataset(root, 8)
    assert "ignoring unreadable folder index" in caplog.text and len(counted) == 7 and same(cold, again)
    data = json.loads(cached[0].read_text())
    data["checker"]["pillow"] = "0.0"  # written by another Pillow: every answer is re-computed
    cached[0].write_text(json.dumps(data))
    counted.clear()
    ImageFolderDataset(root, 8)
    assert len(counted) == 7
