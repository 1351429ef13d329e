"""`sahit sample --format png|npz`: one file per image (or one npz), labels recorded, resumable."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import sahit.samples
from sahit.cli import main
from sahit.export import save_generator
from sahit.metrics.images import load_images
from sahit.models import build
from sahit.samples import write_samples

N, BATCH, CHUNK = 13, 4, 4  # 4 chunks: 3 full, 1 partial


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    G, _ = build("quickstart", g_width=8, d_width=8, z_dim=16, g_attn_res=[], d_attn_res=[])
    return G.eval()


@pytest.fixture(scope="module")
def export(G, tmp_path_factory):
    folder = tmp_path_factory.mktemp("samples") / "run"
    save_generator(folder / "export", G, G)
    return folder / "export"


def quantised(images: torch.Tensor) -> np.ndarray:
    """The obvious reference: [-1, 1] floats to uint8 as a PNG stores them, (N, H, W, 3)."""
    return np.rint((images.numpy().transpose(0, 2, 3, 1) + 1) * 127.5).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("truncation", [None, 0.7])
def test_npz_round_trips_to_g_sample(G, tmp_path, truncation):
    job = write_samples(G, N, tmp_path / "s", format="npz", classes=[3] * 6 + [7] * 7, seed=11,
                        truncation=truncation, batch_size=BATCH, chunk_images=CHUNK, progress=False)
    expected = G.sample(N, classes=[3] * 6 + [7] * 7, seed=11, batch_size=BATCH, truncation=truncation)
    with np.load(tmp_path / "s" / "samples.npz") as data:
        assert set(data.files) == {"arr_0", "labels"}
        np.testing.assert_array_equal(data["arr_0"], quantised(expected))
        np.testing.assert_array_equal(data["labels"], [3] * 6 + [7] * 7)
    assert job.generated == N and not (tmp_path / "s" / "chunks").exists()
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["job"]["seed"] == 11 and manifest["job"]["truncation"] == truncation


def test_png_folder_round_trips_and_reads_back_with_labels(G, tmp_path):
    write_samples(G, N, tmp_path / "s", format="png", seed=2, batch_size=BATCH, chunk_images=CHUNK, progress=False)
    files = sorted(p.name for p in (tmp_path / "s").glob("*.png"))
    assert files == [f"{i:06d}.png" for i in range(N)]
    pngs = np.stack([np.asarray(Image.open(tmp_path / "s" / f)) for f in files])
    np.testing.assert_array_equal(pngs, quantised(G.sample(N, seed=2, batch_size=BATCH)))
    dataset = load_images(tmp_path / "s")  # what `sahit eval --images` reads: labels from the manifest
    assert dataset.num_classes == 10 and [dataset[i][1] for i in range(N)] == [i % 10 for i in range(N)]


@pytest.mark.parametrize("fmt", ["png", "npz"])
def test_interrupted_job_resumes_to_the_same_result(G, tmp_path, monkeypatch, fmt):
    kwargs = {"format": fmt, "seed": 4, "truncation": 1.0, "batch_size": BATCH, "chunk_images": CHUNK,
              "progress": False}
    write_samples(G, N, tmp_path / "whole", **kwargs)

    real_write = sahit.samples.write_chunk
    calls = []

    def crash_on_third_chunk(*args):
        calls.append(args[2])
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_write(*args)

    monkeypatch.setattr(sahit.samples, "write_chunk", crash_on_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        write_samples(G, N, tmp_path / "resumed", **kwargs)
    monkeypatch.setattr(sahit.samples, "write_chunk", real_write)
    assert not json.loads((tmp_path / "resumed" / "manifest.json").read_text())["complete"]
    job = write_samples(G, N, tmp_path / "resumed", **kwargs)
    assert job.generated == N - 2 * CHUNK  # the two chunks already written were kept
    _assert_same_samples(tmp_path / "whole", tmp_path / "resumed", fmt)
    if fmt == "png":  # files lost at the tail are regenerated too
        for i in (N - 1, N - 3):  # in the last two chunks
            (tmp_path / "resumed" / f"{i:06d}.png").unlink()
        assert write_samples(G, N, tmp_path / "resumed", **kwargs).generated == N - 2 * CHUNK
        _assert_same_samples(tmp_path / "whole", tmp_path / "resumed", fmt)
    assert write_samples(G, N, tmp_path / "resumed", **kwargs).generated == 0


def _assert_same_samples(a, b, fmt):
    if fmt == "npz":
        with np.load(a / "samples.npz") as x, np.load(b / "samples.npz") as y:
            np.testing.assert_array_equal(x["arr_0"], y["arr_0"])
            np.testing.assert_array_equal(x["labels"], y["labels"])
    else:
        names = sorted(p.name for p in a.iterdir())
        assert names == sorted(p.name for p in b.iterdir())
        for name in names:
            if name.endswith(".png"):
                assert np.array_equal(np.asarray(Image.open(a / name)), np.asarray(Image.open(b / name)))


def test_a_folder_with_another_job_is_refused(G, tmp_path):
    write_samples(G, 4, tmp_path / "s", format="npz", seed=0, batch_size=BATCH, progress=False)
    with pytest.raises(ValueError, match="different sampling job .*seed"):
        write_samples(G, 4, tmp_path / "s", format="npz", seed=1, batch_size=BATCH, progress=False)
    with pytest.raises(ValueError, match="different sampling job .*classes"):
        write_samples(G, 4, tmp_path / "s", format="npz", seed=0, classes=2, batch_size=BATCH, progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a sahit samples folder"):
        write_samples(G, 4, tmp_path / "other", format="png", progress=False)


def test_cli_per_image_output_and_default_grid(export, G, tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["sample", "--run", str(export), "--n", "6", "--out", str(out), "--format", "npz", "--classes", "1",
                 "2", "--truncation", "0.5", "--seed", "3"]) == 0
    assert "wrote 6 samples (npz, 6 generated now)" in capsys.readouterr().out
    with np.load(out / "samples.npz") as data:
        expected = G.sample(6, classes=[1, 1, 1, 2, 2, 2], seed=3, truncation=0.5)
        np.testing.assert_array_equal(data["arr_0"], quantised(expected))
    assert main(["sample", "--run", str(export), "--n", "6", "--out", str(out), "--format", "npz", "--classes", "1",
                 "2", "--truncation", "0.5", "--seed", "3"]) == 0
    assert "all already there" in capsys.readouterr().out
    assert main(["sample", "--run", str(export), "--n", "6", "--out", str(out), "--format", "npz"]) == 2
    assert "different sampling job" in capsys.readouterr().err
    assert main(["sample", "--run", str(export), "--n", "4", "--out", str(tmp_path / "g.png")]) == 0  # no --format
    assert Image.open(tmp_path / "g.png").size[0] > 64
    assert main(["sample", "--run", str(export), "--n", "4", "--truncation", "0"]) == 2
    assert "truncation must be a number > 0" in capsys.readouterr().err
