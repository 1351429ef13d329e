"""The cached folder index: a restart reads no header, a changed folder is re-checked file by file."""

from __future__ import annotations

import json
import logging
import os

import pytest
from PIL import Image

from sahit.data import DataError, ImageFolderDataset, folder, index


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """Counts header checks; the user cache (where indexes go) lives in the test's folder."""
    calls: list[str] = []
    real = folder.check_header

    def check(path, size=None):
        calls.append(path.name)
        return real(path, size)

    monkeypatch.setattr(folder, "check_header", check)
    monkeypatch.setenv("SAHIT_CACHE", str(tmp_path / "cache"))
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
    assert not (tmp_path / "imgs" / index.INDEX_NAME).exists()  # nothing is written into the data folder
    assert index.index_path(tmp_path / "imgs").parent == tmp_path / "cache" / "index"
    assert index.index_path(tmp_path / "imgs").is_file()
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


def test_the_index_is_keyed_by_absolute_path_and_a_bad_index_is_ignored(tmp_path, counted, caplog, monkeypatch):
    root = tmp_path / "imgs"
    make_folder(root)
    cold = ImageFolderDataset(root, 8)
    cached = list((tmp_path / "cache" / "index").glob("*.json"))
    assert cached == [index.index_path(root)] and len(counted) == 7
    counted.clear()
    monkeypatch.chdir(tmp_path)
    relative = ImageFolderDataset("imgs", 8)  # a relative path finds the same index
    assert counted == [] and [p.resolve() for p, _ in relative.samples] == [p for p, _ in cold.samples]

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


def test_an_index_sahit_0_2_0_wrote_into_the_folder_is_read_and_left_alone(tmp_path, counted, monkeypatch):
    root = tmp_path / "imgs"
    make_folder(root)
    ImageFolderDataset(root, 8)
    index.index_path(root).rename(root / index.INDEX_NAME)  # where 0.2.0 kept it
    legacy = (root / index.INDEX_NAME).read_bytes()
    counted.clear()
    ImageFolderDataset(root, 8)
    assert counted == [] and (root / index.INDEX_NAME).read_bytes() == legacy
    assert not index.index_path(root).exists()  # unchanged folder: nothing new to write
    monkeypatch.setenv("SAHIT_CACHE", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("SAHIT_CACHE_DIR", str(tmp_path / "ignored"))  # SAHIT_CACHE wins over 0.2.0's name
    assert index.cache_dir() == tmp_path / "elsewhere" / "index"


def test_a_folder_that_fails_to_open_leaves_no_index(tmp_path, counted):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images found"):
        ImageFolderDataset(empty, 8)
    make_folder(tmp_path / "imgs")
    with pytest.raises(DataError, match="1 bad file"):
        ImageFolderDataset(tmp_path / "imgs", 8, strict=True)
    assert not (tmp_path / "cache").exists() and list(empty.iterdir()) == []


def test_an_unwritable_cache_warns_and_still_opens_the_folder(tmp_path, counted, caplog, monkeypatch):
    make_folder(tmp_path / "imgs")
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    monkeypatch.setenv("SAHIT_CACHE", str(tmp_path / "blocked"))
    with caplog.at_level(logging.WARNING):
        ds = ImageFolderDataset(tmp_path / "imgs", 8)
    assert len(ds) == 6 and "could not write the folder index" in caplog.text
    assert sorted(p.name for p in (tmp_path / "imgs").iterdir()) == ["cats", "dogs"]
