"""Measuring generators: FID, Inception Score, KID, precision/recall, density/coverage, intra-FID.

Low level, on features (numpy arrays or torch tensors, computed in float64)::

    frechet_distance(mu1, sigma1, mu2, sigma2) -> float
    inception_score(probs, splits=10) -> (mean, std)
    kernel_inception_distance(f1, f2) -> (mean, std)
    precision_recall(real, fake, k=3) -> (precision, recall)

High level, on images: ``load_extractor("inception" | path)``, ``compute_reference_stats``,
``save_stats`` / ``load_stats``, ``evaluate_generator`` and ``evaluate_images`` (any folder or
npz of images), whose results record sample counts, reference set, extractor and weights hash
beside every number. The metrics are a registry (``register_metric``, ``get_metric``): each has a
name, a function of the features, what it needs and whether lower is better.
"""

from .domain import DomainExtractor, fit_domain_extractor, load_domain_extractor, save_domain_extractor
from .evaluate import (
    METRICS,
    FeatureSet,
    MetricResult,
    cached_reference_stats,
    compute_reference_stats,
    evaluate_features,
    evaluate_generator,
    evaluate_images,
    extract_features,
    truncation_sweep,
)
from .extractor import FeatureExtractor
from .fid import fid_from_features, frechet_distance, intra_fid, per_class_fid
from .images import load_images
from .inception import load_inception, resolve_inception_weights
from .inception_score import inception_score
from .kid import kernel_inception_distance
from .loading import load_extractor
from .prdc import density_coverage, precision_recall
from .registry import Metric, MetricInputs, get_metric, lower_is_better, register_metric
from .stats import FeatureStats, ReferenceStats, load_stats, save_stats

__all__ = [
    "METRICS",
    "DomainExtractor",
    "FeatureExtractor",
    "FeatureSet",
    "FeatureStats",
    "Metric",
    "MetricInputs",
    "MetricResult",
    "ReferenceStats",
    "cached_reference_stats",
    "compute_reference_stats",
    "density_coverage",
    "evaluate_features",
    "evaluate_generator",
    "evaluate_images",
    "extract_features",
    "fid_from_features",
    "fit_domain_extractor",
    "frechet_distance",
    "get_metric",
    "inception_score",
    "intra_fid",
    "kernel_inception_distance",
    "load_domain_extractor",
    "load_extractor",
    "load_images",
    "load_inception",
    "load_stats",
    "lower_is_better",
    "per_class_fid",
    "precision_recall",
    "register_metric",
    "resolve_inception_weights",
    "save_domain_extractor",
    "save_stats",
    "truncation_sweep",
]
