"""``sahit features fit``: train a domain feature extractor whose features replace Inception's."""

from __future__ import annotations

import argparse

from ._metric_options import add_holdout_arg, device


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``features`` (with its action ``fit``) to the ``sahit`` parser."""
    p = subparsers.add_parser("features", help="feature extractors for the metrics (fit a domain extractor)")
    sub = p.add_subparsers(dest="features_command", metavar="ACTION", required=True)
    fit = sub.add_parser(
        "fit",
        help="train a small classifier on labelled data whose features replace Inception's",
        description="Train a domain feature extractor on a labelled data set; save it as config.json + "
        "model.safetensors in --out. Use the folder as --features PATH.",
    )
    fit.add_argument("--data", required=True, help="builtin | torchvision name | folder of class folders")
    fit.add_argument("--out", required=True, help="folder to write the extractor to")
    fit.add_argument("--steps", type=int, default=200, help="training steps (default 200: under a minute at 32 px)")
    fit.add_argument("--resolution", type=int, default=32, help="image size the extractor works at (default 32)")
    fit.add_argument("--batch-size", type=int, default=32)
    fit.add_argument("--width", type=int, default=16, help="channels of the first layer (default 16)")
    fit.add_argument("--layout", choices=("plain", "resnet"), default="plain",
                     help="plain: six convolutions from a stride-2 stem (fast); resnet: full-resolution stem and "
                     "residual blocks (far more accurate, about 4x the compute)")
    fit.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of the one-cycle schedule")
    fit.add_argument("--optimizer", choices=("adam", "sgd"), default="adam", help="adam, or sgd with Nesterov momentum")
    fit.add_argument("--weight-decay", type=float, default=0.0)
    fit.add_argument("--augment", action="store_true", help="random flips and reflect-padded random crops")
    fit.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="autocast while training")
    fit.add_argument("--in-memory", action="store_true",
                     help="decode every image once and keep it (uint8) in memory: for data sets read from files")
    fit.add_argument("--seed", type=int, default=0)
    add_holdout_arg(fit, "train on the rest and report the accuracy on the held-out images")
    fit.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")


def run(args: argparse.Namespace) -> int:
    """Run the action given (``fit``, the only one)."""
    return {"fit": _fit}[args.features_command](args)


def _fit(args: argparse.Namespace) -> int:
    from ..data import make_dataset
    from ..metrics.domain import classification_accuracy, fit_domain_extractor, save_domain_extractor

    dataset = make_dataset(args.data, args.resolution, train=True, holdout=args.holdout)
    num_classes = int(getattr(dataset, "num_classes", 0))
    if num_classes < 2:
        raise ValueError(f"--data {args.data!r} has no class labels; a domain extractor is trained as a classifier")
    if args.in_memory:
        from ..data.memory import InMemory

        dataset = InMemory(dataset)
    extractor = fit_domain_extractor(
        dataset, num_classes, args.resolution, steps=args.steps, batch_size=args.batch_size, width=args.width,
        seed=args.seed, device=device(args), data_name=args.data, layout=args.layout, augment=args.augment,
        lr=args.lr, optimizer=args.optimizer, weight_decay=args.weight_decay, precision=args.precision,
    )
    accuracy = ""
    if args.holdout:
        held = make_dataset(args.data, args.resolution, train=True, holdout=args.holdout, split="holdout")
        extractor.info["holdout"] = args.holdout
        extractor.info["holdout_accuracy"] = classification_accuracy(extractor, held)
        accuracy = f", held-out accuracy {extractor.info['holdout_accuracy']:.3f} on {len(held)} images"
    folder = save_domain_extractor(extractor.cpu(), args.out)
    info = extractor.info
    print(f"wrote {folder} ({extractor.feature_dim}-d features, {num_classes} classes, train accuracy "
          f"{info['train_accuracy']:.3f}{accuracy}, {info['seconds']}s); use it with --features {folder}")
    return 0
