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
    "frechet_distance",
    "fid_from_features",
    "inception_score",
    "kernel_inception_distance",
    "precision_recall",
    "density_coverage",
    "intra_fid",
    "per_class_fid",
    "FeatureStats",
    "ReferenceStats",
    "save_stats",
    "load_stats",
    "FeatureExtractor",
    "load_extractor",
    "load_inception",
    "resolve_inception_weights",
    "DomainExtractor",
    "fit_domain_extractor",
    "save_domain_extractor",
    "load_domain_extractor",
    "METRICS",
    "Metric",
    "MetricInputs",
    "register_metric",
    "get_metric",
    "lower_is_better",
    "MetricResult",
    "FeatureSet",
    "extract_features",
    "compute_reference_stats",
    "cached_reference_stats",
    "evaluate_features",
    "evaluate_generator",
    "evaluate_images",
    "truncation_sweep",
    "load_images",
]
