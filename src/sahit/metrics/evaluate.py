"""From images to numbers: feature extraction, reference statistics, and whole-generator evaluation.

``compute_reference_stats`` runs once per (data set, split, resolution, extractor) and is saved
with ``save_stats``; ``evaluate_generator`` samples a generator (balanced over classes), extracts
features and returns one :class:`MetricResult` per number, each carrying its provenance.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from ..progress import progress as progress_bar
from .extractor import FeatureExtractor
from .loading import load_extractor
from .registry import MetricInputs, MetricResult, check_metrics, default_metric_names, get_metric, metric_names, needing
from .stats import FeatureSet, FeatureStats, ReferenceStats, load_stats, save_stats

METRICS = metric_names()
DEFAULT_METRICS = default_metric_names()
NEEDS_FEATURES = set(needing("features", METRICS))  # metrics that need every feature vector, not only mu / sigma


def default_cache_dir() -> Path:
    """Where cached reference statistics live: ``$SAHIT_CACHE/stats`` or ``~/.cache/sahit/stats``."""
    return Path(os.environ.get("SAHIT_CACHE", Path.home() / ".cache" / "sahit")) / "stats"


class Shard(Protocol):
    """The processes sharing one evaluation: this one is ``rank`` of ``world``, and ``gather_objects(obj)``
    returns every process's ``obj`` in rank order (``sahit.training.distributed.DistContext`` is one)."""

    rank: int
    world: int

    def gather_objects(self, obj: Any) -> list[Any]: ...


def shard_batches(n: int, batch_size: int, shard: Shard | None = None) -> list[range]:
    """The sample indices of the batches this process handles: batch ``i`` of all ``ceil(n / batch_size)``
    goes to process ``i % world``, so the batches, and every image in them, are those of one process."""
    rank, world = (shard.rank, shard.world) if shard is not None else (0, 1)
    return [range(start, min(start + batch_size, n)) for start in range(rank * batch_size, n, world * batch_size)]


def _sample_numbers(batches: list[range]) -> np.ndarray:
    return np.fromiter((i for batch in batches for i in batch), dtype=np.int64)


def gather_features(local: FeatureSet, index: np.ndarray, shard: Shard | None) -> FeatureSet:
    """Every process's features as one set: statistics combined, vectors in sample order (``index``
    holds the sample number of each of this process's rows). The same on every process."""
    if shard is None or shard.world <= 1:
        return local
    everyone = shard.gather_objects((local, index))
    stats = FeatureStats.combine([fs.stats for fs, _ in everyone])
    if stats.n == 0:
        raise ValueError("no images to extract features from")
    parts = [(fs, i) for fs, i in everyone if fs.n]
    order = np.argsort(np.concatenate([i for _, i in parts]), kind="stable")

    def rows(name: str) -> np.ndarray | None:
        arrays = [getattr(fs, name) for fs, _ in parts]
        return None if any(a is None for a in arrays) else np.concatenate(arrays)[order]

    return FeatureSet(stats=stats, features=rows("features"), logits=rows("logits"), labels=rows("labels"))


def extract_features(
    batches: Iterable[tuple[torch.Tensor, Any]],
    extractor: FeatureExtractor,
    *,
    keep_features: bool = True,
    keep_logits: bool = False,
    total: int | None = None,
    progress: bool = True,
    desc: str = "features",
    allow_empty: bool = False,
) -> FeatureSet:
    """Run ``extractor`` over ``(images, labels or None)`` batches (images uint8 or float in [-1, 1]).

    ``allow_empty``: no batches give an empty set (a process whose share of a sharded job is empty).
    """
    stats = FeatureStats(extractor.feature_dim)
    features, logits, labels = [], [], []
    has_labels = True
    for images, y in progress_bar(batches, total=total, desc=desc, unit="batch", disable=not progress, leave=False):
        f, logit = extractor(images)
        stats.update(f.double())
        if keep_features:
            features.append(f.cpu().numpy())
        if keep_logits:
            logits.append(logit.cpu().numpy())
        if y is None:
            has_labels = False
        elif has_labels:
            labels.append(torch.as_tensor(y).cpu().numpy().astype(np.int64))
    if stats.n == 0 and not allow_empty:
        raise ValueError("no images to extract features from")
    if not features:
        features = [np.zeros((0, extractor.feature_dim), np.float32)]
    return FeatureSet(
        stats=stats,
        features=np.concatenate(features) if keep_features else None,
        logits=np.concatenate(logits) if keep_logits and logits else None,
        labels=np.concatenate(labels) if has_labels and labels else None,
    )


def compute_reference_stats(
    dataset: Dataset,
    extractor: str | Path | FeatureExtractor,
    *,
    n: int | None = None,
    batch_size: int = 100,
    keep_features: bool = True,
    data_name: str = "",
    split: str = "train",
    seed: int = 0,
    num_workers: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    shard: Shard | None = None,
) -> ReferenceStats:
    """Statistics of a real data set of ``(image (3, R, R) in [-1, 1], label)`` pairs.

    ``n``: use a seeded random subset of that size (default: the whole data set).
    ``keep_features``: also store every feature vector and label (needed for KID,
    precision/recall, density/coverage and intra-FID; 8 KiB per image for Inception).
    ``shard``: split the batches over processes (every one gets the whole result; see :func:`shard_batches`).
    """
    extractor = load_extractor(extractor, device=device or "cpu")
    size = len(dataset)  # type: ignore[arg-type]
    if n is not None:
        if not isinstance(n, int) or n < 2:
            raise ValueError(f"n must be an integer >= 2, got {n!r}")
        if n > size:
            raise ValueError(f"asked for {n} reference images but the data set has {size}")
        if n < size:
            picked = torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:n].sort().values
            dataset = Subset(dataset, picked.tolist())
    count = len(dataset)  # type: ignore[arg-type]
    num_classes = getattr(getattr(dataset, "dataset", dataset), "num_classes", None)
    mine = shard_batches(count, batch_size, shard)
    loader = DataLoader(dataset, batch_sampler=mine, num_workers=num_workers)
    labelled = num_classes != 0
    batches = ((images, labels if labelled else None) for images, labels in loader)
    fs = extract_features(
        batches, extractor, keep_features=keep_features, total=len(loader), progress=progress, desc="reference",
        allow_empty=shard is not None,
    )
    fs = gather_features(fs, _sample_numbers(mine), shard)
    resolution = int(dataset[0][0].shape[-1])
    meta = {
        "data": data_name,
        "split": split,
        "resolution": resolution,
        "n": count,
        "num_classes": num_classes,
        "seed": seed,
        **extractor.metadata(),
    }
    return ReferenceStats(
        mu=fs.stats.mean,
        sigma=fs.stats.covariance,
        n=fs.n,
        features=fs.features,
        labels=fs.labels if keep_features else None,
        meta=meta,
    )


def cached_reference_stats(
    data: str,
    resolution: int,
    extractor: str | Path | FeatureExtractor,
    *,
    n: int | None = None,
    train: bool = True,
    holdout: int = 0,
    cache_dir: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    shard: Shard | None = None,
    **kwargs: Any,
) -> ReferenceStats:
    """Reference statistics of ``sahit.data.make_dataset(data, resolution, train)``, computed once.

    ``holdout`` > 0: of the images held out of training instead (``make_dataset(..., holdout=holdout,
    split="holdout")``), which a generator trained with that ``holdout`` never saw.

    Cached under ``cache_dir`` (default ``$SAHIT_CACHE/stats`` or ``~/.cache/sahit/stats``) in a
    file named after data, split, resolution, extractor, weights hash and ``n`` (``None`` or
    at least the data set's size: all of it). With ``shard``, the processes compute them together
    unless every one finds the cache, and process 0 writes it.
    """
    from ..data import make_dataset, split_name

    extractor = load_extractor(extractor, device=device or "cpu")
    part = "holdout" if holdout else "train"
    dataset = make_dataset(data, resolution, train=train, holdout=holdout, split=part)
    if n is not None and n >= len(dataset):  # type: ignore[arg-type]
        n = None  # the whole data set
    split = split_name(train, holdout, part)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", data).strip("_")
    if getattr(dataset, "version", None) is not None:  # procedural data that changed over time
        safe += f"-v{dataset.version}"
    name = f"{safe}-{split}-{resolution}px-{extractor.name}-{extractor.weights_hash[:12]}-n{n or 'all'}.npz"
    path = Path(cache_dir or default_cache_dir()) / name
    cached = path.is_file()
    if shard is not None and shard.world > 1:
        cached = all(shard.gather_objects(cached))  # every process takes the same road
    if cached:
        return load_stats(path)
    stats = compute_reference_stats(
        dataset, extractor, n=n, data_name=data, split=split, progress=progress, shard=shard, **kwargs
    )
    if shard is None or shard.rank == 0:
        save_stats(stats, path)
    return stats


def evaluate_features(
    reference: ReferenceStats,
    fake: FeatureSet,
    extractor: FeatureExtractor,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    is_splits: int = 10,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
) -> dict[str, MetricResult]:
    """Compute ``metrics`` for extracted generated features against reference statistics."""
    metrics = check_metrics(metrics)
    ref_hash = reference.meta.get("weights_hash")
    if ref_hash != extractor.weights_hash:
        raise ValueError(
            f"the reference statistics were computed with extractor {reference.meta.get('extractor')!r} "
            f"(weights {str(ref_hash)[:12]}...), not with {extractor.name!r} "
            f"(weights {extractor.weights_hash[:12]}...): "
            "recompute them with the same extractor"
        )
    if needing("features", metrics) and reference.features is None:
        raise ValueError(
            f"{', '.join(sorted(set(needing('features', metrics))))} need the reference's feature vectors, "
            "which these statistics do not keep: recompute them with keep_features=True"
        )
    inputs = MetricInputs(reference, fake, extractor, is_splits, kid_subsets, kid_subset_size, seed)
    results: dict[str, MetricResult] = {}
    for name in metric_names():  # registration order, whatever order they were asked in
        if name in metrics:
            results.update((r.metric, r) for r in get_metric(name).compute(inputs))
    return results


def generated_batches(
    G: torch.nn.Module, n: int, batch_size: int, seed: int, truncation: float | None = None,
    shard: Shard | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """``n`` samples of ``G`` in batches, classes balanced (0, 1, ..., K-1, 0, ...); reproducible from ``seed``.

    ``shard``: only this process's batches (:func:`shard_batches`), each the same as without it.
    """
    num_classes = int(getattr(G, "num_classes", 0))
    extra = {} if truncation is None else {"truncation": truncation}
    for batch in shard_batches(n, batch_size, shard):
        labels = torch.arange(batch.start, batch.stop) % num_classes if num_classes else None
        seed_i = (seed << 20) + batch.start // batch_size  # batch i's own seed
        images = G.sample(len(batch), classes=labels, seed=seed_i, **extra)  # type: ignore[operator]
        yield images, labels


def evaluate_generator(
    G: torch.nn.Module,
    reference: ReferenceStats | str | Path,
    extractor: str | Path | FeatureExtractor,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    n: int = 50_000,
    batch_size: int = 100,
    seed: int = 0,
    truncation: float | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    shard: Shard | None = None,
    **metric_kwargs: Any,
) -> dict[str, MetricResult]:
    """Sample ``n`` images from ``G`` (balanced over classes) and compute ``metrics`` against ``reference``.

    ``G`` has ``sample(n, classes=..., seed=...)`` returning images in [-1, 1], ``num_classes`` and
    ``resolution``. ``reference``: statistics or the path of an ``.npz`` from ``save_stats``.
    ``extractor``: ``"inception"``, a domain extractor path, or an extractor. Returns a dict keyed
    by ``fid``, ``is``, ``kid``, ``precision``, ``recall``, ``density``, ``coverage``, ``ifid``.
    ``truncation``: sample with the truncation trick at this threshold (see ``sahit.models.truncated_noise``).
    Extra keywords (``is_splits``, ``kid_subsets``, ``kid_subset_size``) go to :func:`evaluate_features`.
    ``shard``: the processes of a group sample and extract a share each and all get the same results,
    equal to one process's (up to float64 rounding in the combined statistics).
    """
    metrics = check_metrics(metrics)
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if not isinstance(reference, ReferenceStats):
        reference = load_stats(reference)
    ref_res = reference.meta.get("resolution")
    g_res = getattr(G, "resolution", None)
    if ref_res is not None and g_res is not None and int(ref_res) != int(g_res):
        raise ValueError(f"the reference statistics are at {ref_res}px but the generator makes {g_res}px images")
    if needing("labels", metrics) and not getattr(G, "num_classes", 0):
        raise ValueError("intra-FID needs a class-conditional generator; this one is unconditional")
    device = device or next(G.parameters()).device
    extractor = load_extractor(extractor, device=device)
    fake = extract_features(
        generated_batches(G, n, batch_size, seed, truncation, shard),
        extractor,
        keep_features=bool(needing("features", metrics)) or n <= extractor.feature_dim,
        keep_logits=bool(needing("logits", metrics)),
        total=len(shard_batches(n, batch_size, shard)),
        progress=progress,
        desc="generated",
        allow_empty=shard is not None,
    )
    fake = gather_features(fake, _sample_numbers(shard_batches(n, batch_size, shard)), shard)
    return evaluate_features(reference, fake, extractor, metrics, seed=seed, **metric_kwargs)


def truncation_sweep(
    G: torch.nn.Module,
    reference: ReferenceStats | str | Path,
    extractor: str | Path | FeatureExtractor,
    thresholds: Sequence[float | None],
    metrics: Sequence[str] = ("fid", "is"),
    **kwargs: Any,
) -> dict[float | None, dict[str, MetricResult]]:
    """:func:`evaluate_generator` at each truncation threshold (None: no truncation), same seed for all.

    The variety-against-quality curve of BigGAN: lower thresholds usually raise IS and, past a
    point, raise FID. Keywords (``n``, ``seed``, ``batch_size``, ``device``...) go to :func:`evaluate_generator`.
    """
    extractor = load_extractor(extractor, device=kwargs.get("device") or next(G.parameters()).device)
    if not isinstance(reference, ReferenceStats):
        reference = load_stats(reference)
    return {t: evaluate_generator(G, reference, extractor, metrics, truncation=t, **kwargs) for t in thresholds}


def evaluate_images(
    images: Dataset | str | Path,
    reference: ReferenceStats | str | Path,
    extractor: str | Path | FeatureExtractor,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    batch_size: int = 100,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    **metric_kwargs: Any,
) -> dict[str, MetricResult]:
    """Score a set of images that any tool made, on the same footing as :func:`evaluate_generator`.

    ``images``: a data set of ``(image, label)`` or a folder / ``.npz`` path read by
    :func:`sahit.metrics.images.load_images`. Intra-FID needs labels (class subfolders, a sahit
    manifest, or ``labels`` in the npz).
    """
    from .images import load_images

    metrics = check_metrics(metrics)
    if not isinstance(images, Dataset):
        images = load_images(images)
    if not isinstance(reference, ReferenceStats):
        reference = load_stats(reference)
    labelled = bool(getattr(images, "num_classes", 0))
    if needing("labels", metrics) and not labelled:
        raise ValueError("intra-FID needs labelled images: class subfolders, a sahit manifest.json or npz labels")
    n = len(images)  # type: ignore[arg-type]
    if n < 2:
        raise ValueError(f"need at least 2 images to score, got {n}")
    ref_res, res = reference.meta.get("resolution"), int(images[0][0].shape[-1])
    if ref_res is not None and int(ref_res) != res:
        raise ValueError(f"the reference statistics are at {ref_res}px but the images are {res}px")
    extractor = load_extractor(extractor, device=device or "cpu")
    loader = DataLoader(images, batch_size=batch_size, shuffle=False)
    fake = extract_features(
        ((x, y if labelled else None) for x, y in loader),
        extractor,
        keep_features=bool(needing("features", metrics)) or n <= extractor.feature_dim,
        keep_logits=bool(needing("logits", metrics)),
        total=len(loader),
        progress=progress,
        desc="images",
    )
    return evaluate_features(reference, fake, extractor, metrics, seed=seed, **metric_kwargs)
