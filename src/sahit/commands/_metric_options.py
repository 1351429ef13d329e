"""Options and helpers that ``features``, ``stats``, ``eval`` and ``ablate`` share: the feature extractor, the
device, held-out images and the reference statistics."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch


def add_holdout_arg(p: argparse.ArgumentParser, what: str, default: int | None = 0) -> None:
    """``--holdout N``, with ``what`` saying what it means for this command."""
    p.add_argument("--holdout", type=int, default=default, metavar="N",
                   help=f"hold N images of the data out of training, the same number of each class (as "
                   f"data_holdout=N in `sahit train`): {what}")


def add_extractor_args(p: argparse.ArgumentParser) -> None:
    """``--features``, ``--inception-weights``, ``--download`` and ``--device``."""
    p.add_argument("--features", default="inception", help="inception | PATH of a domain extractor (default inception)")
    p.add_argument("--inception-weights", default=None, help="Inception weights file (else $SAHIT_INCEPTION_WEIGHTS, "
                   "then torch hub's checkpoints folder)")
    p.add_argument("--download", action="store_true",
                   help="download the Inception weights if missing (needs a network)")
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")


def device(args: argparse.Namespace) -> str:
    """``--device``, else cuda when available."""
    return args.device or ("cuda" if torch.cuda.is_available() else "cpu")


def extractor(args: argparse.Namespace) -> Any:
    """The feature extractor the options of :func:`add_extractor_args` name."""
    from ..metrics.loading import load_extractor

    return load_extractor(args.features, device=device(args), weights=args.inception_weights,
                          allow_download=args.download)


def reference(spec: str, resolution: int, extractor: Any, args: argparse.Namespace, holdout: int = 0) -> Any:
    """Reference statistics from ``spec``: a `sahit stats` .npz, an .npz of images, or a data set (cached; of
    its held-out images with ``--holdout``, else ``holdout``)."""
    from ..metrics.evaluate import cached_reference_stats, compute_reference_stats
    from ..metrics.images import load_images
    from ..metrics.stats import load_stats

    holdout = holdout if args.holdout is None else args.holdout
    path = Path(spec)
    if path.suffix == ".npz":
        if args.holdout:
            raise ValueError(f"--holdout picks images of a data set; --ref {spec} is an .npz: "
                             "make its statistics with `sahit stats --holdout N --split holdout`")
        if not path.is_file():
            return load_stats(path)  # raises FileNotFoundError with a hint
        with np.load(path, allow_pickle=False) as data:
            is_stats = "mu" in data.files
        if is_stats:
            return load_stats(path)
        images = load_images(path)
        n = args.ref_n if args.ref_n < len(images) else None
        return compute_reference_stats(images, extractor, n=n, data_name=str(spec), device=device(args))
    return cached_reference_stats(spec, resolution, extractor, n=args.ref_n, holdout=holdout, device=device(args))
