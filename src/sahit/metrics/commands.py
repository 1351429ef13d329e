"""Command-line subcommands of ``sahit``: ``features fit``, ``stats`` and ``eval``.

They parse arguments and call the public API of :mod:`sahit.metrics`; errors are raised as
``ValueError`` / ``FileNotFoundError`` for ``sahit.cli`` to print.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .evaluate import DEFAULT_METRICS, METRICS
from .registry import MetricResult, check_metrics, default_metric_names, get_metric

Handler = Callable[[argparse.Namespace], int]


def register(subparsers: argparse._SubParsersAction) -> dict[str, Handler]:
    """Add ``features``, ``stats`` and ``eval`` to the ``sahit`` parser; returns their handlers."""
    _add_features_parser(subparsers)
    _add_stats_parser(subparsers)
    _add_eval_parser(subparsers)
    _add_ablate_parser(subparsers)
    return {"stats": run_stats, "eval": run_eval, "ablate": run_ablate}


def _add_features_parser(subparsers: argparse._SubParsersAction) -> None:
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
    _add_holdout_arg(fit, "train on the rest and report the accuracy on the held-out images")
    fit.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    fit.set_defaults(func=run_features_fit)


def _add_stats_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "stats",
        help="compute reference statistics of a data set (.npz)",
        description="Extract features of real images once and save mean, covariance, features and labels "
        "to an .npz for `sahit eval --ref`.",
    )
    p.add_argument("--data", required=True, help="builtin | torchvision name | folder")
    p.add_argument("--out", required=True, help="output .npz file")
    _add_extractor_args(p)
    p.add_argument("--n", type=int, default=None, help="random subset of this many images (default: all)")
    p.add_argument("--resolution", type=int, default=None,
                   help="image size (default: the domain extractor's; required with inception)")
    p.add_argument("--split", choices=("train", "test", "holdout"), default="train",
                   help="train (all but the --holdout images), test, or holdout (the --holdout images)")
    _add_holdout_arg(p, "--split holdout: those images; --split train: the rest")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--no-features", action="store_true",
                   help="keep only mean and covariance (FID only; KID, pr, ifid need the features)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_stats)


def _add_eval_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a trained generator or any images: FID, IS, KID, precision/recall, intra-FID",
        description="Sample a run's EMA generator (balanced over classes), or read --images made by any tool, "
        "extract features and compare them with reference statistics. Writes JSON and prints a table.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="run folder, export folder, zoo:NAME or hf:ORG/NAME to sample")
    source.add_argument("--images", metavar="DIR|NPZ",
                        help="score these images instead: a folder (flat, with a sahit manifest.json for labels, "
                        "or one subfolder per class) or an .npz with arr_0 (N, H, W, 3) uint8 [and labels]")
    p.add_argument("--metrics", default=None,
                   help=f"comma-separated, from {','.join(METRICS)} (default {','.join(DEFAULT_METRICS)}; "
                   "ifid is skipped without classes)")
    p.add_argument("--n", type=int, default=50_000, help="generated samples (default 50000)")
    p.add_argument("--truncation", type=float, default=None, metavar="T",
                   help="sample with the truncation trick: redraw |z| > T (default: none)")
    _add_extractor_args(p)
    p.add_argument("--ref", default=None, metavar="STATS|DATA",
                   help="reference: an .npz from `sahit stats`, or a data set (builtin | torchvision name | folder | "
                   "images .npz) whose statistics are computed here (default: the run's data; cached)")
    p.add_argument("--data", default=None, help="reference data set when --ref is not given (default: the run's)")
    _add_holdout_arg(p, "the reference data set's statistics are those of the held-out images "
                     "(default: the run's data_holdout when its data is the reference, else 0)", default=None)
    p.add_argument("--ref-n", type=int, default=50_000, help="reference images when computed here (default 50000)")
    p.add_argument("--out", default=None,
                   help="JSON file to write (default RUN/metrics.json; with --images, NAME.metrics.json in the "
                   "current folder, NAME being the folder's or the .npz file's name: nothing is written into DIR)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-ema", action="store_true", help="evaluate the raw generator instead of its EMA")
    p.set_defaults(func=run_eval)


def _add_ablate_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ablate",
        help="knock out each attention layer at sampling time and measure what changes",
        description="Sample the generator intact, with each attention layer's contribution removed in turn "
        "(SAGAN: gamma = 0; HiT: the attention branch skipped) and with all removed at once, on the same latents. "
        "Reports FID and intra-FID against the intact samples, class accuracy (domain extractor), FID against "
        "--ref if given, and writes JSON and a grid of intact against knocked-out samples.",
    )
    p.add_argument("--run", required=True, help="run folder, export folder, zoo:NAME or hf:ORG/NAME")
    p.add_argument("--layer", action="append", default=None, metavar="NAME",
                   help="knock out only these layers (module paths, as `sahit attention --stats` lists them); "
                   "repeatable; default every one")
    p.add_argument("--n", type=int, default=5000, help="samples per knock-out (default 5000)")
    _add_extractor_args(p)
    p.add_argument("--ref", default=None, metavar="STATS|DATA",
                   help="also FID against real data: an .npz from `sahit stats` or a data set (default: none)")
    p.add_argument("--ref-n", type=int, default=50_000, help="reference images when computed here (default 50000)")
    p.add_argument("--holdout", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default="ablation.json", help="JSON file to write (default ablation.json)")
    p.add_argument("--grid", default="ablation.png", help="PNG of intact vs knocked-out samples (default ablation.png)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-ema", action="store_true", help="use the raw generator instead of its EMA")
    p.set_defaults(func=run_ablate)


def run_ablate(args: argparse.Namespace) -> int:
    import sahit

    from .ablation import ablate, arms, format_ablation_table, save_ablation_grid

    G = sahit.load(args.run, ema=not args.no_ema, device=_device(args))
    arms(G, args.layer)  # a model without attention (or an unknown layer) says so before any extractor loads
    extractor = _extractor(args)
    reference = _reference(args.ref, G.resolution, extractor, args) if args.ref else None
    result = ablate(G, extractor, n=args.n, seed=args.seed, batch_size=args.batch_size, layers=args.layer,
                    reference=reference, device=_device(args))
    grid = save_ablation_grid(result, args.grid)
    payload = {"run": str(args.run), "ema": not args.no_ema, "grid": str(grid),
               **{k: v for k, v in result.items() if k != "grid"}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(format_ablation_table(result))
    print(f"wrote {out} and {grid}")
    return 0


def _add_holdout_arg(p: argparse.ArgumentParser, what: str, default: int | None = 0) -> None:
    p.add_argument("--holdout", type=int, default=default, metavar="N",
                   help=f"hold N images of the data out of training, the same number of each class (as "
                   f"data_holdout=N in `sahit train`): {what}")


def _add_extractor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--features", default="inception", help="inception | PATH of a domain extractor (default inception)")
    p.add_argument("--inception-weights", default=None, help="Inception weights file (else $SAHIT_INCEPTION_WEIGHTS, "
                   "then torch hub's checkpoints folder)")
    p.add_argument("--download", action="store_true",
                   help="download the Inception weights if missing (needs a network)")
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")


def _device(args: argparse.Namespace) -> str:
    return args.device or ("cuda" if torch.cuda.is_available() else "cpu")


def _extractor(args: argparse.Namespace) -> Any:
    from .loading import load_extractor

    return load_extractor(args.features, device=_device(args), weights=args.inception_weights,
                          allow_download=args.download)


def run_features_fit(args: argparse.Namespace) -> int:
    from ..data import make_dataset
    from .domain import classification_accuracy, fit_domain_extractor, save_domain_extractor

    dataset = make_dataset(args.data, args.resolution, train=True, holdout=args.holdout)
    num_classes = int(getattr(dataset, "num_classes", 0))
    if num_classes < 2:
        raise ValueError(f"--data {args.data!r} has no class labels; a domain extractor is trained as a classifier")
    if args.in_memory:
        from ..data.memory import InMemory

        dataset = InMemory(dataset)
    extractor = fit_domain_extractor(
        dataset, num_classes, args.resolution, steps=args.steps, batch_size=args.batch_size, width=args.width,
        seed=args.seed, device=_device(args), data_name=args.data, layout=args.layout, augment=args.augment,
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


def run_stats(args: argparse.Namespace) -> int:
    from ..data import make_dataset, split_name
    from .evaluate import compute_reference_stats
    from .stats import save_stats

    extractor = _extractor(args)
    resolution = args.resolution or getattr(getattr(extractor, "config", None), "resolution", None)
    if resolution is None:
        raise ValueError("pass --resolution (the size of the images you will compare, e.g. 32)")
    if args.split == "holdout" and not args.holdout:
        raise ValueError("--split holdout needs --holdout N, the number of images held out of training")
    train, part = args.split != "test", "holdout" if args.split == "holdout" else "train"
    dataset = make_dataset(args.data, resolution, train=train, holdout=args.holdout, split=part)
    split = split_name(train, args.holdout, part)
    stats = compute_reference_stats(
        dataset, extractor, n=args.n, batch_size=args.batch_size, keep_features=not args.no_features,
        data_name=args.data, split=split, seed=args.seed, device=_device(args),
    )
    path = save_stats(stats, args.out)
    print(f"wrote {path}: {stats.n} images of {args.data} ({split}, {resolution}px), "
          f"{extractor.name} features ({extractor.feature_dim}-d, weights {extractor.weights_hash[:12]})")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    results, reference, default_out, header = _eval_images(args) if args.images is not None else _eval_run(args)
    out = Path(args.out) if args.out else default_out
    payload = {
        **header,
        "seed": args.seed,
        "reference_meta": reference.meta,
        "results": {name: r.to_dict() for name, r in results.items()},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(format_table(results))
    print(f"wrote {out}")
    return 0


def _eval_images(args: argparse.Namespace) -> tuple[dict[str, MetricResult], Any, Path, dict[str, Any]]:
    """``sahit eval --images``: (results, reference, default output path, header of the JSON)."""
    from .evaluate import evaluate_images
    from .images import load_images

    if args.truncation is not None:
        raise ValueError("--truncation samples a generator (--run); --images are scored as they are")
    images = load_images(args.images)
    labelled = bool(getattr(images, "num_classes", 0))
    metrics = _metric_list(args.metrics, labelled)
    resolution = int(images[0][0].shape[-1])
    if args.ref is None and args.data is None:
        raise ValueError("--images needs a reference: --ref STATS.npz or --ref DATA")
    extractor = _extractor(args)
    reference = _reference(args.ref or args.data, resolution, extractor, args)
    results = evaluate_images(images, reference, extractor, metrics, batch_size=args.batch_size, seed=args.seed,
                              device=_device(args))
    default_out = _default_images_out(args.images)
    return results, reference, default_out, {"images": str(args.images), "labelled": labelled}


def _default_images_out(images: str | Path) -> Path:
    """Where ``sahit eval --images`` writes without ``--out``: ``NAME.metrics.json`` in the current folder
    (the images' folder or .npz may belong to someone else, be shared or read-only)."""
    source = Path(images)
    name = source.stem if source.is_file() else source.resolve().name
    return Path(f"{name or 'images'}.metrics.json")


def _eval_run(args: argparse.Namespace) -> tuple[dict[str, MetricResult], Any, Path, dict[str, Any]]:
    """``sahit eval --run``: (results, reference, default output path, header of the JSON)."""
    import sahit

    from .evaluate import evaluate_generator

    G = sahit.load(args.run, ema=not args.no_ema, device=_device(args))
    metrics = _metric_list(args.metrics, bool(G.num_classes))
    extractor = _extractor(args)
    spec, holdout = (args.ref or args.data, 0) if args.ref or args.data else _run_data(args.run)
    reference = _reference(spec, G.resolution, extractor, args, holdout)
    results = evaluate_generator(G, reference, extractor, metrics, n=args.n, batch_size=args.batch_size,
                                 seed=args.seed, truncation=args.truncation, device=_device(args))
    header = {"run": str(args.run), "ema": not args.no_ema, "truncation": args.truncation}
    return results, reference, _run_metrics_path(args.run), header


def _metric_list(spec: str | None, labelled: bool) -> list[str]:
    """``--metrics`` as a list; by default every default metric, intra-FID only with classes."""
    if spec is None:
        return [m for m in default_metric_names() if labelled or "labels" not in get_metric(m).needs]
    return list(check_metrics([m.strip() for m in spec.split(",") if m.strip()]))


def _reference(spec: str, resolution: int, extractor: Any, args: argparse.Namespace, holdout: int = 0) -> Any:
    """Reference statistics from ``spec``: a `sahit stats` .npz, an .npz of images, or a data set (cached; of
    its held-out images with ``--holdout``, else ``holdout``)."""
    from .evaluate import cached_reference_stats, compute_reference_stats
    from .images import load_images
    from .stats import load_stats

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
        return compute_reference_stats(images, extractor, n=n, data_name=str(spec), device=_device(args))
    return cached_reference_stats(spec, resolution, extractor, n=args.ref_n, holdout=holdout, device=_device(args))


def _run_metrics_path(run: str) -> Path:
    """Where ``eval --run`` writes by default: the run folder, or the current folder for a zoo or hub model."""
    from ..runs import EXPORT, is_packaged

    if is_packaged(run):
        return Path.cwd() / f"metrics-{run.split(':', 1)[1].replace('/', '-')}.json"
    path = Path(run)  # not resolved: with --out, the run folder need not exist (a generator loaded otherwise)
    return (path.parent if path.name == EXPORT else path) / "metrics.json"


def _run_data(run: str) -> tuple[str, int]:
    """The data set a run was trained on and the images it held out (``data``, ``data_holdout`` in its config.yaml)."""
    from ..runs import CONFIG, read_config, run_folder

    folder = run_folder(run)
    if not (folder / CONFIG).is_file():
        raise ValueError(f"{run} has no config.yaml naming its data set: pass --ref ref.npz or --data SPEC")
    values = read_config(folder)
    if not values.get("data"):
        raise ValueError(f"{folder / CONFIG} names no data set: pass --ref ref.npz or --data SPEC")
    return str(values["data"]), int(values.get("data_holdout") or 0)


def format_table(results: dict[str, MetricResult]) -> str:
    """A plain-text table: metric, value, std, samples, reference, extractor."""
    rows = [("metric", "value", "std", "n", "n_ref", "reference", "extractor")]
    for name, r in results.items():
        rows.append((
            name, f"{r.value:.6g}", "" if r.std is None else f"{r.std:.3g}", str(r.n_samples),
            "" if r.n_reference is None else str(r.n_reference), r.reference,
            f"{r.extractor} ({r.weights_hash[:12]})",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)

