"""``load_extractor``: the feature extractor a spec names ("inception" or a domain extractor's path)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..zoo import features_folder
from .domain import load_domain_extractor
from .extractor import FeatureExtractor
from .inception import load_inception


def load_extractor(
    spec: str | Path | FeatureExtractor,
    *,
    device: str | torch.device | None = None,
    weights: str | Path | None = None,
    allow_download: bool = False,
) -> FeatureExtractor:
    """Build the extractor named by ``spec``.

    ``"inception"``: the TF-compatible Inception v3 of published FID numbers (``weights`` is an
    explicit weights file; see :func:`sahit.metrics.inception.resolve_inception_weights`).
    A path: a domain extractor saved by :func:`sahit.metrics.domain.save_domain_extractor`.
    ``"zoo:DATA"``: the domain extractor the model zoo's scores are measured with (``zoo:cifar10``).
    An extractor instance is returned as is (moved to ``device`` if given).
    """
    if isinstance(spec, FeatureExtractor):
        return spec if device is None else spec.to(device)
    if str(spec) == "inception":
        extractor: FeatureExtractor = load_inception(weights, allow_download=allow_download)
    else:
        path = features_folder(spec)
        if not path.exists():
            raise ValueError(
                f"unknown feature extractor {str(spec)!r}: pass 'inception' or the path of a domain extractor "
                "saved by `sahit features fit` (no such path)"
            )
        extractor = load_domain_extractor(path)
    return extractor if device is None else extractor.to(device)
