"""``sahit stats``: reference statistics of a data set, saved to an .npz for ``sahit eval --ref``."""

from __future__ import annotations

import argparse

from ._metric_options import add_extractor_args, add_holdout_arg, device, extractor


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stats`` to the ``sahit`` parser."""
    p = subparsers.add_parser(
        "stats",
        help="compute reference statistics of a data set (.npz)",
        description="Extract features of real images once and save mean, covariance, features and labels "
        "to an .npz for `sahit eval --ref`.",
    )
    p.add_argument("--data", required=True, help="builtin | torchvision name | folder")
    p.add_argument("--out", required=True, help="output .npz file")
    add_extractor_args(p)
    p.add_argument("--n", type=int, default=None, help="random subset of this many images (default: all)")
    p.add_argument("--resolution", type=int, default=None,
                   help="image size (default: the domain extractor's; required with inception)")
    p.add_argument("--split", choices=("train", "test", "holdout"), default="train",
                   help="train (all but the --holdout images), test, or holdout (the --holdout images)")
    add_holdout_arg(p, "--split holdout: those images; --split train: the rest")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--no-features", action="store_true",
                   help="keep only mean and covariance (FID only; KID, pr, ifid need the features)")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    """Extract the features of the data set and save its statistics."""
    from ..data import make_dataset, split_name
    from ..metrics.evaluate import compute_reference_stats
    from ..metrics.stats import save_stats

    features = extractor(args)
    resolution = args.resolution or getattr(getattr(features, "config", None), "resolution", None)
    if resolution is None:
        raise ValueError("pass --resolution (the size of the images you will compare, e.g. 32)")
    if args.split == "holdout" and not args.holdout:
        raise ValueError("--split holdout needs --holdout N, the number of images held out of training")
    train, part = args.split != "test", "holdout" if args.split == "holdout" else "train"
    dataset = make_dataset(args.data, resolution, train=train, holdout=args.holdout, split=part)
    split = split_name(train, args.holdout, part)
    stats = compute_reference_stats(
        dataset, features, n=args.n, batch_size=args.batch_size, keep_features=not args.no_features,
        data_name=args.data, split=split, seed=args.seed, device=device(args),
    )
    path = save_stats(stats, args.out)
    print(f"wrote {path}: {stats.n} images of {args.data} ({split}, {resolution}px), "
          f"{features.name} features ({features.feature_dim}-d, weights {features.weights_hash[:12]})")
    return 0
