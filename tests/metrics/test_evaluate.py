"""High-level evaluation: reference statistics, generator sampling, and the provenance of every number."""

import numpy as np
import pytest
import torch

from sahit.metrics import (
    compute_reference_stats,
    evaluate_generator,
    fid_from_features,
    load_stats,
    save_stats,
)
from sahit.metrics.evaluate import generated_batches

from .conftest import ToyGenerator, ToyShapes


@pytest.fixture(scope="module")
def reference(toy_extractor):
    return compute_reference_stats(ToyShapes(200), toy_extractor, data_name="toy", progress=False, batch_size=64)


def test_reference_stats_record_their_origin(reference, toy_extractor):
    meta = reference.meta
    assert meta["data"] == "toy" and meta["split"] == "train" and meta["resolution"] == 16 and meta["n"] == 200
    assert meta["extractor"] == "domain-cnn" and meta["weights_hash"] == toy_extractor.weights_hash
    assert reference.features.shape == (200, toy_extractor.feature_dim)
    np.testing.assert_array_equal(reference.labels, np.arange(200) % 2)
    np.testing.assert_allclose(reference.mu, reference.features.astype(np.float64).mean(0), rtol=1e-5, atol=1e-6)


def test_reference_subset_is_seeded(toy_extractor):
    a = compute_reference_stats(ToyShapes(100), toy_extractor, n=30, seed=1, progress=False)
    b = compute_reference_stats(ToyShapes(100), toy_extractor, n=30, seed=1, progress=False)
    assert a.n == 30 and np.array_equal(a.features, b.features)
    with pytest.raises(ValueError, match="has 100"):
        compute_reference_stats(ToyShapes(100), toy_extractor, n=101, progress=False)


def test_generated_batches_are_balanced_and_reproducible():
    G = ToyGenerator()
    labels = torch.cat([y for _, y in generated_batches(G, 10, 4, seed=3)])
    assert labels.tolist() == [0, 1] * 5
    again = torch.cat([x for x, _ in generated_batches(G, 10, 4, seed=3)])
    first = torch.cat([x for x, _ in generated_batches(G, 10, 4, seed=3)])
    torch.testing.assert_close(again, first)


def test_evaluate_generator_all_metrics(reference, toy_extractor, tmp_path):
    path = save_stats(reference, tmp_path / "ref.npz")
    G = ToyGenerator()
    results = evaluate_generator(
        G, path, toy_extractor, ("fid", "is", "kid", "pr", "dc", "ifid"), n=60, batch_size=16, progress=False
    )
    assert set(results) == {"fid", "is", "kid", "precision", "recall", "density", "coverage", "ifid"}
    for r in results.values():
        assert r.n_samples == 60 and r.extractor == "domain-cnn" and r.weights_hash == toy_extractor.weights_hash
        assert r.reference == "toy:train@16px" and np.isfinite(r.value)
        assert set(r.to_dict()) >= {"metric", "value", "std", "n_samples", "n_reference", "reference", "weights_hash"}
    assert results["fid"].n_reference == 200 and results["is"].n_reference is None
    assert 1.0 <= results["is"].value <= 2.0 + 1e-9
    assert set(results["ifid"].details["per_class"]) == {"0", "1"}
    assert 0 <= results["precision"].value <= 1 and 0 <= results["coverage"].value <= 1

    noise = evaluate_generator(ToyGenerator(noise=True), load_stats(path), toy_extractor, ("fid",), n=60,
                               progress=False)
    assert noise["fid"].value > 3 * results["fid"].value


def test_fid_equals_fid_of_the_features(reference, toy_extractor):
    G = ToyGenerator()
    results = evaluate_generator(G, reference, toy_extractor, ("fid",), n=40, batch_size=40, seed=7, progress=False)
    images = torch.cat([x for x, _ in generated_batches(G, 40, 40, seed=7)])
    fake = toy_extractor(images)[0]
    assert results["fid"].value == pytest.approx(fid_from_features(reference.features, fake), rel=1e-4)


def test_mismatches_are_errors(reference, toy_extractor):
    from sahit.metrics import ReferenceStats

    other = ReferenceStats(reference.mu, reference.sigma, reference.n, meta={**reference.meta, "weights_hash": "x"})
    with pytest.raises(ValueError, match="recompute them with the same extractor"):
        evaluate_generator(ToyGenerator(), other, toy_extractor, ("fid",), n=4, progress=False)
    with pytest.raises(ValueError, match="reference statistics are at 16px"):
        evaluate_generator(ToyGenerator(resolution=32), reference, toy_extractor, ("fid",), n=4, progress=False)
    with pytest.raises(ValueError, match="unconditional"):
        evaluate_generator(ToyGenerator(num_classes=0), reference, toy_extractor, ("ifid",), n=4, progress=False)
    with pytest.raises(ValueError, match="unknown metric 'fd'"):
        evaluate_generator(ToyGenerator(), reference, toy_extractor, ("fd",), n=4, progress=False)
    slim = ReferenceStats(reference.mu, reference.sigma, reference.n, meta=reference.meta)
    with pytest.raises(ValueError, match="keep_features=True"):
        evaluate_generator(ToyGenerator(), slim, toy_extractor, ("kid",), n=4, progress=False)


@pytest.fixture(scope="module")
def inception_reference(random_inception):
    return compute_reference_stats(ToyShapes(8), random_inception, data_name="toy", progress=False, batch_size=4)


def test_inception_random_weights_end_to_end(random_inception, inception_reference):
    results = evaluate_generator(ToyGenerator(), inception_reference, random_inception, ("is", "kid", "pr"), n=8,
                                 batch_size=4, is_splits=2, progress=False)
    assert results["kid"].extractor == "inception-v3-tf" and results["kid"].weights_hash == "random-seed0"
    assert results["is"].value >= 1.0 - 1e-9 and np.isfinite(results["kid"].value)
    assert inception_reference.features.shape == (8, 2048)


def test_inception_random_weights_fid(random_inception, inception_reference):
    """8 samples of 2048-d features: the low-rank route, no 2048x2048 eigendecomposition."""
    results = evaluate_generator(ToyGenerator(), inception_reference, random_inception, ("fid",), n=8, batch_size=4,
                                 progress=False)
    images = torch.cat([x for x, _ in generated_batches(ToyGenerator(), 8, 4, seed=0)])
    fake = random_inception(images)[0]
    assert results["fid"].value == pytest.approx(fid_from_features(inception_reference.features, fake), rel=1e-4)
    assert results["fid"].value > 0
