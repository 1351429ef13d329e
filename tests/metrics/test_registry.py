"""The metric registry: one table of names, directions and needs that evaluation and the report read."""

from types import SimpleNamespace

import numpy as np
import pytest

from sahit.metrics import registry
from sahit.metrics.evaluate import evaluate_features
from sahit.metrics.registry import MetricInputs, get_metric, lower_is_better, register_metric
from sahit.metrics.stats import FeatureSet, FeatureStats, ReferenceStats


def feature_sets(dim: int = 4, n: int = 30, shift: float = 0.5):
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(n, dim)), rng.normal(shift, 1.0, size=(n, dim))
    stats = FeatureStats(dim)
    stats.update(fake)
    extractor = SimpleNamespace(name="toy", weights_hash="abc")
    reference = ReferenceStats(mu=real.mean(0), sigma=np.cov(real, rowvar=False), n=n, features=real,
                               meta={"weights_hash": "abc", "data": "toy", "split": "train", "resolution": 8})
    return reference, FeatureSet(stats=stats, features=fake, logits=None, labels=None), extractor


def test_directions_and_needs_of_the_builtin_metrics():
    lower = {"fid": True, "kid": True, "ifid": True, "is": False, "precision": False, "recall": False,
             "density": False, "coverage": False}
    assert {name: lower_is_better(name) for name in lower} == lower
    assert get_metric("is").needs == {"logits"} and get_metric("ifid").needs == {"features", "labels"}
    assert get_metric("fid").needs == frozenset() and get_metric("pr").outputs == ("precision", "recall")
    with pytest.raises(ValueError, match="unknown metric 'fd'"):
        get_metric("fd")


def test_a_registered_metric_is_evaluated_in_registration_order(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_metric("mean_gap", lower_is_better=True, needs=("features",), default=False)
    def mean_gap(x: MetricInputs):
        gap = float(np.abs(x.reference.features.mean(0) - x.fake.features.mean(0)).sum())
        return [x.result("mean_gap", gap)]

    reference, fake, extractor = feature_sets()
    results = evaluate_features(reference, fake, extractor, ["mean_gap", "fid"])
    assert list(results) == ["fid", "mean_gap"]
    expected = np.abs(reference.features.mean(0) - fake.features.mean(0)).sum()
    assert results["mean_gap"].value == pytest.approx(expected)
    assert results["mean_gap"].n_reference == 30 and results["mean_gap"].reference == "toy:train@8px"
    assert lower_is_better("mean_gap") and "mean_gap" not in registry.default_metric_names()


def test_a_metric_must_name_known_needs():
    with pytest.raises(ValueError, match="needs"):
        register_metric("x", lower_is_better=True, needs=("pixels",))


def test_class_accuracy_counts_samples_the_extractor_names_as_drawn():
    reference, fake, extractor = feature_sets()
    rng = np.random.default_rng(1)
    reference.labels = np.arange(30) % 3
    labels = np.arange(30) % 3
    logits = rng.normal(size=(30, 3))
    fake.labels, fake.logits = labels, logits
    result = evaluate_features(reference, fake, extractor, ["acc"])["acc"]
    expected = sum(int(np.argmax(logits[i]) == labels[i]) for i in range(30)) / 30
    assert result.value == pytest.approx(expected) and result.n_reference is None
    assert result.details["per_class"]["1"] == pytest.approx(np.mean(logits[labels == 1].argmax(1) == 1))
    assert not lower_is_better("acc") and "acc" not in registry.default_metric_names()


def test_class_accuracy_refuses_an_extractor_of_other_classes():
    reference, fake, extractor = feature_sets()
    reference.labels = np.arange(30) % 3
    fake.labels, fake.logits = np.arange(30) % 3, np.zeros((30, 1008))  # Inception's ImageNet logits
    with pytest.raises(ValueError, match="trained on the data's own classes"):
        evaluate_features(reference, fake, extractor, ["acc"])
