"""Streaming float64 statistics and the .npz reference-statistics format."""

import json

import numpy as np
import pytest
import torch

from sahit.metrics import FeatureStats, ReferenceStats, load_stats, save_stats


def test_streaming_stats_match_numpy_even_with_a_large_offset():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1000, 16)) @ rng.standard_normal((16, 16)) + 1e4
    stats = FeatureStats(16)
    for start in range(0, 1000, 96):  # uneven batches, float32 tensors and float64 arrays mixed
        batch = x[start : start + 96]
        stats.update(torch.from_numpy(batch) if start % 192 else batch)
    assert stats.n == 1000
    np.testing.assert_allclose(stats.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.covariance, np.cov(x, rowvar=False), rtol=1e-8, atol=1e-8)
    assert stats.covariance.dtype == np.float64


def test_combined_stats_equal_one_pass_over_all_parts():
    # Processes each see a part (with its own shift, one sees nothing); combined, they equal numpy on everything.
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 8)) @ rng.standard_normal((8, 8)) + 1e3
    parts = []
    for chunk in (x[:100], x[100:100], x[100:280], x[280:]):
        part = FeatureStats(8)
        for start in range(0, len(chunk), 64):
            part.update(chunk[start : start + 64])
        parts.append(part)
    combined = FeatureStats.combine(parts)
    assert combined.n == 300
    np.testing.assert_allclose(combined.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(combined.covariance, np.cov(x, rowvar=False), rtol=1e-8, atol=1e-8)
    with pytest.raises(ValueError, match="dimension 3"):
        FeatureStats.combine([FeatureStats(8), FeatureStats(3)])


def test_stats_errors():
    stats = FeatureStats(3)
    with pytest.raises(ValueError, match="undefined"):
        _ = stats.mean
    stats.update(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        _ = stats.covariance
    with pytest.raises(ValueError, match="dimension 4"):
        stats.update(np.zeros((2, 4)))


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    features = rng.standard_normal((50, 6))
    labels = np.arange(50) % 5
    meta = {"data": "builtin", "split": "train", "resolution": 32, "extractor": "x", "weights_hash": "abc"}
    stats = ReferenceStats.from_features(features, labels, meta=meta)
    path = save_stats(stats, tmp_path / "sub" / "ref.npz")
    loaded = load_stats(path)
    np.testing.assert_array_equal(loaded.mu, stats.mu)
    np.testing.assert_array_equal(loaded.sigma, stats.sigma)
    np.testing.assert_array_equal(loaded.features, features.astype(np.float32))
    np.testing.assert_array_equal(loaded.labels, labels)
    assert loaded.n == 50 and loaded.meta == meta
    with np.load(path, allow_pickle=False) as raw:  # nothing in the file needs pickle
        assert json.loads(str(raw["meta"]))["weights_hash"] == "abc"


def test_save_without_features_and_bad_files(tmp_path):
    stats = ReferenceStats.from_features(np.random.default_rng(2).standard_normal((10, 3)), keep_features=False)
    loaded = load_stats(save_stats(stats, tmp_path / "ref.npz"))
    assert loaded.features is None and loaded.labels is None
    with pytest.raises(ValueError, match=".npz"):
        save_stats(stats, tmp_path / "ref.pkl")
    with pytest.raises(FileNotFoundError, match="sahit stats"):
        load_stats(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", mu=np.zeros(3))
    with pytest.raises(ValueError, match="not a sahit statistics file"):
        load_stats(tmp_path / "other.npz")
