"""The metrics by name: what each computes, what it needs, and which direction is better.

Like StyleGAN2-ADA's ``metric_main``: a metric is a named function of the extracted features, registered
with :func:`register_metric`. ``sahit eval``, :func:`sahit.metrics.evaluate_features` and the run report
all read this one table, so adding a metric is one decorated function here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .extractor import FeatureExtractor
from .fid import fid_from_features, frechet_distance, per_class_fid
from .inception_score import inception_score
from .kid import kernel_inception_distance
from .prdc import density_coverage, precision_recall
from .stats import FeatureSet, ReferenceStats

NEEDS = ("features", "logits", "labels")  # what a metric may need beyond the mean / covariance


@dataclass
class MetricResult:
    """One number and where it comes from."""

    metric: str  # "fid", "is", "kid", "precision", "recall", "density", "coverage", "ifid"
    value: float
    std: float | None  # spread over splits / subsets where the metric has one
    n_samples: int  # generated (or evaluated) samples
    n_reference: int | None  # reference samples (None for IS, which has no reference)
    reference: str  # reference set name (data spec, split, resolution)
    extractor: str
    weights_hash: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class MetricInputs:
    """What a metric function is given: both feature sets, the extractor, and the metrics' options."""

    reference: ReferenceStats
    fake: FeatureSet
    extractor: FeatureExtractor
    is_splits: int = 10
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    seed: int = 0

    def result(
        self, metric: str, value: float, std: float | None = None, *, compared: bool = True,
        details: dict[str, Any] | None = None,
    ) -> MetricResult:
        """A :class:`MetricResult` with this evaluation's provenance (``compared``: against the reference)."""
        return MetricResult(
            metric, value, std, n_samples=self.fake.n, n_reference=self.reference.n if compared else None,
            reference=reference_name(self.reference), extractor=self.extractor.name,
            weights_hash=self.extractor.weights_hash, details=details or {},
        )


@dataclass(frozen=True)
class Metric:
    """A registered metric: ``compute(inputs)`` returns one result per output name."""

    name: str  # what a user asks for: "fid", "pr", ...
    compute: Callable[[MetricInputs], list[MetricResult]]
    outputs: tuple[str, ...]  # the result names it gives: ("precision", "recall") for "pr"
    lower_is_better: bool
    needs: frozenset[str]  # a subset of NEEDS
    default: bool  # computed by `sahit eval` when no list is given


_REGISTRY: dict[str, Metric] = {}


def register_metric(
    name: str, *, lower_is_better: bool, needs: Sequence[str] = (), outputs: Sequence[str] | None = None,
    default: bool = True,
) -> Callable[[Callable[[MetricInputs], list[MetricResult]]], Callable[[MetricInputs], list[MetricResult]]]:
    """Decorator: register ``fn(inputs) -> [MetricResult, ...]`` as metric ``name``."""
    unknown = set(needs) - set(NEEDS)
    if unknown:
        raise ValueError(f"metric {name!r} needs {sorted(unknown)}: choose from {', '.join(NEEDS)}")

    def add(fn: Callable[[MetricInputs], list[MetricResult]]) -> Callable[[MetricInputs], list[MetricResult]]:
        _REGISTRY[name] = Metric(name, fn, tuple(outputs or (name,)), lower_is_better, frozenset(needs), default)
        return fn

    return add


def metric_names() -> tuple[str, ...]:
    """Every registered metric, in registration order (the order results come in)."""
    return tuple(_REGISTRY)


def default_metric_names() -> tuple[str, ...]:
    return tuple(name for name, m in _REGISTRY.items() if m.default)


def get_metric(name: str) -> Metric:
    if name not in _REGISTRY:
        raise ValueError(f"unknown metric {name!r}: choose from {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    """Validate metric names (``fid``, ``is``, ``kid``, ``pr``, ``dc``, ``ifid``)."""
    metrics = tuple(metrics)
    for m in metrics:
        get_metric(m)
    if not metrics:
        raise ValueError(f"no metrics requested: choose from {', '.join(_REGISTRY)}")
    return metrics


def needing(need: str, metrics: Sequence[str]) -> list[str]:
    """The metrics among ``metrics`` that need ``need`` (one of :data:`NEEDS`)."""
    return [m for m in metrics if need in get_metric(m).needs]


def lower_is_better(output: str) -> bool:
    """Whether a smaller value of result ``output`` ("fid", "precision", ...) is better; unknown: lower."""
    for metric in _REGISTRY.values():
        if output in metric.outputs:
            return metric.lower_is_better
    return True


def output_names() -> tuple[str, ...]:
    """Every result name the registered metrics give ("fid", "is", "kid", "precision", ...)."""
    return tuple(out for metric in _REGISTRY.values() for out in metric.outputs)


def reference_name(reference: ReferenceStats) -> str:
    meta = reference.meta
    return f"{meta.get('data') or '?'}:{meta.get('split', '?')}@{meta.get('resolution', '?')}px"


@register_metric("fid", lower_is_better=True)
def _fid(x: MetricInputs) -> list[MetricResult]:
    ref, fake = x.reference, x.fake
    if ref.features is not None and fake.features is not None and max(ref.n, fake.n) <= fake.stats.dim:
        value = fid_from_features(ref.features, fake.features)  # few samples: exact low-rank route
    else:
        value = frechet_distance(ref.mu, ref.sigma, fake.stats.mean, fake.stats.covariance)
    return [x.result("fid", value)]


@register_metric("is", lower_is_better=False, needs=("logits",))
def _inception_score(x: MetricInputs) -> list[MetricResult]:
    if x.fake.logits is None:
        raise ValueError("the Inception Score needs the generated logits: extract with keep_logits=True")
    mean, std = inception_score(x.fake.logits, splits=x.is_splits, from_logits=True)
    return [x.result("is", mean, std, compared=False, details={"splits": x.is_splits})]


@register_metric("kid", lower_is_better=True, needs=("features",))
def _kid(x: MetricInputs) -> list[MetricResult]:
    ref, fake = x.reference, x.fake
    mean, std = kernel_inception_distance(
        ref.features, fake.features, subsets=x.kid_subsets, subset_size=x.kid_subset_size, seed=x.seed
    )
    details = {"subsets": x.kid_subsets, "subset_size": min(x.kid_subset_size, ref.n, fake.n)}
    return [x.result("kid", mean, std, details=details)]


@register_metric("pr", lower_is_better=False, needs=("features",), outputs=("precision", "recall"))
def _precision_recall(x: MetricInputs) -> list[MetricResult]:
    values = precision_recall(x.reference.features, x.fake.features, k=3)
    return [x.result(name, v, details={"k": 3}) for name, v in zip(("precision", "recall"), values)]


@register_metric("dc", lower_is_better=False, needs=("features",), outputs=("density", "coverage"), default=False)
def _density_coverage(x: MetricInputs) -> list[MetricResult]:
    values = density_coverage(x.reference.features, x.fake.features, k=5)
    return [x.result(name, v, details={"k": 5}) for name, v in zip(("density", "coverage"), values)]


@register_metric("ifid", lower_is_better=True, needs=("features", "labels"))
def _intra_fid(x: MetricInputs) -> list[MetricResult]:
    ref, fake = x.reference, x.fake
    if ref.labels is None or fake.labels is None:
        raise ValueError("intra-FID needs class labels on both sides: a labelled reference and a conditional generator")
    per_class = per_class_fid(ref.features, ref.labels, fake.features, fake.labels)
    value = float(np.mean(list(per_class.values())))
    return [x.result("ifid", value, details={"per_class": {str(c): v for c, v in per_class.items()}})]


@register_metric("acc", lower_is_better=False, needs=("logits", "labels"), default=False)
def _class_accuracy(x: MetricInputs) -> list[MetricResult]:
    """How often the extractor names the class each sample was drawn for.

    Meaningful only with a domain extractor trained on the generator's own classes (``sahit features
    fit`` on the training data), so the extractor's class count must equal the reference's.
    """
    logits, labels = x.fake.logits, x.fake.labels
    if logits is None or labels is None:
        raise ValueError("class accuracy needs the samples' class labels and the extractor's logits")
    classes = logits.shape[1]
    ref_labels = x.reference.labels
    ref_classes = int(ref_labels.max()) + 1 if ref_labels is not None and len(ref_labels) else None
    if ref_classes != classes or int(labels.max()) >= classes:
        raise ValueError(
            f"class accuracy needs an extractor trained on the data's own classes: {x.extractor.name!r} names "
            f"{classes} classes, the labelled reference has {ref_classes or 'no'} (fit one: sahit features fit --data DATA)"
        )
    accuracy = float(np.mean(logits.argmax(axis=1) == labels))
    per_class = {str(c): float(np.mean(logits[labels == c].argmax(axis=1) == c)) for c in np.unique(labels)}
    return [x.result("acc", accuracy, compared=False, details={"classes": classes, "per_class": per_class})]
