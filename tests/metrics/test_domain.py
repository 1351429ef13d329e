"""Domain feature extractor: training, safetensors round trip, and on the built-in data a useful FID."""

import json

import pytest
import torch

from sahit.metrics import fit_domain_extractor, load_domain_extractor, load_extractor, save_domain_extractor
from sahit.metrics.domain import DomainConfig
from sahit.metrics.fid import fid_from_features

from .conftest import ToyShapes


def test_learns_the_toy_classes(toy_extractor):
    images = torch.stack([ToyShapes(40, seed=1)[i][0] for i in range(40)])
    labels = torch.arange(40) % 2
    features, logits = toy_extractor(images)
    assert features.shape == (40, toy_extractor.feature_dim) and logits.shape == (40, 2)
    assert (logits.argmax(1) == labels).float().mean() > 0.8
    assert toy_extractor.info["steps"] == 25


def test_save_load_round_trip(toy_extractor, tmp_path):
    folder = save_domain_extractor(toy_extractor, tmp_path / "ext")
    config = json.loads((folder / "config.json").read_text())
    assert config["family"] == "sahit-domain-cnn" and config["num_classes"] == 2 and "train_accuracy" in config["info"]
    images = torch.rand(4, 3, 32, 32) * 2 - 1  # another resolution: resized to the extractor's 16 px
    for spec in (folder, folder / "model.safetensors", str(folder)):
        loaded = load_extractor(spec)
        assert loaded.weights_hash == toy_extractor.weights_hash
        torch.testing.assert_close(loaded(images), toy_extractor(images))
    assert loaded.metadata()["extractor_spec"] == str(folder)


def test_load_errors(tmp_path):
    with pytest.raises(ValueError, match="pass 'inception' or the path"):
        load_extractor(tmp_path / "missing")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="model.safetensors is missing"):
        load_domain_extractor(tmp_path / "half")


def test_config_validation():
    with pytest.raises(ValueError, match=">= 2 classes"):
        DomainConfig(num_classes=1, resolution=32)
    with pytest.raises(ValueError, match="power of two"):
        DomainConfig(num_classes=3, resolution=24)
    with pytest.raises(ValueError, match="steps"):
        fit_domain_extractor(ToyShapes(8), 2, 16, steps=0)


def test_fitting_is_reproducible():
    a = fit_domain_extractor(ToyShapes(32), 2, 16, steps=3, width=4, seed=5, progress=False)
    b = fit_domain_extractor(ToyShapes(32), 2, 16, steps=3, width=4, seed=5, progress=False)
    assert a.weights_hash == b.weights_hash


@pytest.mark.slow
def test_builtin_data_extractor_ranks_a_trained_generator(tmp_path):
    """Fitted on the built-in shapes in under 2 minutes: FID(real, real') ~ 0, FID(real, noise) large,
    and a briefly trained quickstart generator lands between them, below the same G untrained."""
    import sahit
    from sahit.data import make_dataset
    from sahit.training import train

    res = sahit.build("quickstart")[0].resolution  # the quickstart's images (16 px)
    train_set = make_dataset("builtin", res, train=True)
    extractor = fit_domain_extractor(train_set, train_set.num_classes, res, progress=False)  # timed in benchmarks/metrics.py
    assert extractor.info["train_accuracy"] > 0.9

    def features(images):
        return torch.cat([extractor(images[i : i + 500])[0] for i in range(0, len(images), 500)])

    def generated(G):
        with torch.no_grad():
            return features(G.sample(2000, classes=torch.arange(2000) % 10, seed=1))

    test = make_dataset("builtin", res, train=False)
    real = features(torch.stack([train_set[i][0] for i in range(1000, 3000)]))
    real2 = features(torch.stack([test[i][0] for i in range(2000)]))
    noise = features(torch.rand(2000, 3, res, res, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    same, different = fid_from_features(real, real2), fid_from_features(real, noise)
    assert same < 0.01 * different
    assert same < 0.5

    run = tmp_path / "run"
    # A constant learning rate: the quickstart's decay would spend 400 of these 1000 steps slowing down.
    quick = ["steps=1000", "lr_decay_start=1.0", "sample_every=1000", "ckpt_every=1000", "log_every=100",
             "progress=false"]
    train("quickstart", out=run, overrides=quick)
    torch.manual_seed(0)
    untrained = sahit.build("quickstart")[0].eval()
    trained = sahit.load(run)
    fid_untrained, fid_trained = fid_from_features(real, generated(untrained)), fid_from_features(real, generated(trained))
    assert same < fid_trained < different
    assert fid_trained < 0.75 * fid_untrained  # measured: 0.72 after 600 steps, 0.14 after 5000


def test_flip_and_crop_matches_a_slice_of_the_padded_image():
    """Each output image is its (maybe mirrored) input, reflect-padded by H/8, cut at some offset: found by search."""
    import torch.nn.functional as F

    from sahit.metrics.domain import flip_and_crop

    images = torch.randn(16, 3, 16, 16)
    out = flip_and_crop(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    offsets, flips = set(), 0
    for x, y in zip(images, out):
        matches = [(f, i, j) for f in (False, True) for i in range(5) for j in range(5)
                   if torch.equal(F.pad((x.flip(2) if f else x)[None], (2, 2, 2, 2), mode="reflect")[0,
                                  :, i:i + 16, j:j + 16], y)]
        assert matches, "an output is not a crop of its padded input"
        offsets.add(matches[0][1:])
        flips += matches[0][0]
    assert len(offsets) > 3 and 0 < flips < 16  # random offsets and flips, not one fixed cut


@pytest.mark.parametrize("resolution", [16, 32, 64])
def test_resnet_layout_round_trips(tmp_path, resolution):
    """The resnet layout fits (augmented, SGD, bf16 autocast), saves and loads to the same features."""
    extractor = fit_domain_extractor(ToyShapes(16), 2, resolution, steps=2, width=2, layout="resnet", augment=True,
                                     optimizer="sgd", lr=0.05, weight_decay=5e-4, precision="bf16", progress=False)
    assert extractor.info["layout"] == "resnet" and extractor.info["augment"]
    loaded = load_domain_extractor(save_domain_extractor(extractor, tmp_path / "ext"))
    images = torch.randint(0, 256, (3, 3, resolution, resolution), dtype=torch.uint8)
    features, logits = loaded(images)
    assert features.shape == (3, extractor.config.feature_dim) and logits.shape == (3, 2)
    assert torch.equal(features, extractor(images)[0])


def test_bad_fit_options_are_refused():
    with pytest.raises(ValueError, match="layout"):
        fit_domain_extractor(ToyShapes(8), 2, 16, steps=1, layout="vgg")
    with pytest.raises(ValueError, match="optimizer"):
        fit_domain_extractor(ToyShapes(8), 2, 16, steps=1, optimizer="lion")
