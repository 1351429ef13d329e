"""`sahit eval --images DIR|NPZ --ref DATA|STATS`: scoring images that any tool made."""

import json

import numpy as np
import pytest
from PIL import Image

from sahit.cli import main
from sahit.metrics import evaluate_images, load_images, save_domain_extractor

from .conftest import ToyShapes

N = 40


def to_uint8(image) -> np.ndarray:
    return np.rint((image.numpy().transpose(1, 2, 0) + 1) * 127.5).astype(np.uint8)


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory, toy_extractor):
    """Real toy images (class subfolders, and an npz with labels), another draw of them and uniform noise
    (flat folders), and a toy extractor."""
    root = tmp_path_factory.mktemp("images")
    real = [ToyShapes(N, resolution=16, seed=5)[i] for i in range(N)]
    for i, (image, label) in enumerate(real):
        (root / "real" / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(to_uint8(image)).save(root / "real" / str(label) / f"{i:03d}.png")
    (root / "other").mkdir()  # another draw of the same distribution: the yardstick for "large"
    for i in range(N):
        Image.fromarray(to_uint8(ToyShapes(N, resolution=16, seed=6)[i][0])).save(root / "other" / f"{i:03d}.png")
    np.savez(root / "real.npz", arr_0=np.stack([to_uint8(x) for x, _ in real]), labels=[y for _, y in real])
    (root / "noise").mkdir()
    rng = np.random.default_rng(0)
    for i in range(N):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / "noise" / f"{i:03d}.png")
    save_domain_extractor(toy_extractor, root / "ext")
    return root


def _eval(image_sets, images, ref, tmp_path, monkeypatch, *extra):
    monkeypatch.setenv("SAHIT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "metrics.json"
    args = ["eval", "--images", str(images), "--ref", str(ref), "--features", str(image_sets / "ext"),
            "--out", str(out), "--batch-size", "16", *extra]
    assert main(args) == 0
    return json.loads(out.read_text())


def test_same_images_score_fid_zero_and_noise_scores_large(image_sets, tmp_path, monkeypatch):
    same = _eval(image_sets, image_sets / "real", image_sets / "real", tmp_path, monkeypatch)
    noise = _eval(image_sets, image_sets / "noise", image_sets / "real", tmp_path, monkeypatch, "--metrics", "fid,kid")
    other = _eval(image_sets, image_sets / "other", image_sets / "real", tmp_path, monkeypatch, "--metrics", "fid,kid")
    assert same["labelled"] and set(same["results"]) == {"fid", "is", "kid", "precision", "recall", "ifid"}
    fid_same, fid_noise = same["results"]["fid"]["value"], noise["results"]["fid"]["value"]
    fid_other = other["results"]["fid"]["value"]
    assert abs(fid_same) < 1e-6 * fid_noise and fid_noise > 5 * fid_other
    assert abs(same["results"]["ifid"]["value"]) < 1e-6 * fid_noise
    assert same["results"]["precision"]["value"] == same["results"]["recall"]["value"] == 1.0
    assert not noise["labelled"] and noise["results"]["kid"]["value"] > 5 * other["results"]["kid"]["value"]


def test_npz_with_labels_against_saved_stats(image_sets, tmp_path, monkeypatch):
    stats = tmp_path / "ref.npz"
    assert main(["stats", "--data", str(image_sets / "real"), "--out", str(stats), "--features",
                 str(image_sets / "ext")]) == 0
    result = _eval(image_sets, image_sets / "real.npz", stats, tmp_path, monkeypatch, "--metrics", "fid,ifid")
    assert result["results"]["fid"]["n_samples"] == N and result["results"]["fid"]["n_reference"] == N
    assert abs(result["results"]["fid"]["value"]) < 1e-6 and abs(result["results"]["ifid"]["value"]) < 1e-6


def test_library_call_equals_the_command(image_sets, toy_extractor, tmp_path, monkeypatch):
    from sahit.metrics import compute_reference_stats

    reference = compute_reference_stats(load_images(image_sets / "real"), toy_extractor, progress=False)
    results = evaluate_images(image_sets / "noise", reference, toy_extractor, ["fid"], progress=False)
    command = _eval(image_sets, image_sets / "noise", image_sets / "real", tmp_path, monkeypatch, "--metrics", "fid")
    assert results["fid"].value == pytest.approx(command["results"]["fid"]["value"], rel=1e-9)


def test_errors_are_one_line(image_sets, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAHIT_CACHE", str(tmp_path / "cache"))
    assert main(["eval", "--images", str(tmp_path / "nope"), "--ref", "x.npz"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["eval", "--images", str(image_sets / "noise"), "--metrics", "ifid", "--ref", str(image_sets / "real"),
                 "--features", str(image_sets / "ext")]) == 2
    assert "intra-FID needs labelled images" in capsys.readouterr().err
    assert main(["eval", "--images", str(image_sets / "noise"), "--features", str(image_sets / "ext")]) == 2
    assert "needs a reference" in capsys.readouterr().err
    assert main(["eval", "--images", str(image_sets / "noise"), "--ref", "builtin", "--truncation", "0.5"]) == 2
    assert "--images are scored as they are" in capsys.readouterr().err
