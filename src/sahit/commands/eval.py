"""``sahit eval``: FID, IS, KID, precision/recall and intra-FID of a trained generator or of any images."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..metrics.registry import MetricResult, check_metrics, default_metric_names, get_metric
from ._metric_options import add_extractor_args, add_holdout_arg, device, extractor, reference


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval`` to the ``sahit`` parser."""
    from ..metrics.evaluate import DEFAULT_METRICS, METRICS

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
    add_extractor_args(p)
    p.add_argument("--ref", default=None, metavar="STATS|DATA",
                   help="reference: an .npz from `sahit stats`, or a data set (builtin | torchvision name | folder | "
                   "images .npz) whose statistics are computed here (default: the run's data; cached)")
    p.add_argument("--data", default=None, help="reference data set when --ref is not given (default: the run's)")
    add_holdout_arg(p, "the reference data set's statistics are those of the held-out images "
                     "(default: the run's data_holdout when its data is the reference, else 0)", default=None)
    p.add_argument("--ref-n", type=int, default=50_000, help="reference images when computed here (default 50000)")
    p.add_argument("--out", default=None,
                   help="JSON file to write (default RUN/metrics.json; with --images, NAME.metrics.json in the "
                   "current folder, NAME being the folder's or the .npz file's name: nothing is written into DIR)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-ema", action="store_true", help="evaluate the raw generator instead of its EMA")


def run(args: argparse.Namespace) -> int:
    """Score the run or the images, write the JSON, print the table."""
    results, ref, default_out, header = _eval_images(args) if args.images is not None else _eval_run(args)
    out = Path(args.out) if args.out else default_out
    payload = {
        **header,
        "seed": args.seed,
        "reference_meta": ref.meta,
        "results": {name: r.to_dict() for name, r in results.items()},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(format_table(results))
    print(f"wrote {out}")
    return 0


def _eval_images(args: argparse.Namespace) -> tuple[dict[str, MetricResult], Any, Path, dict[str, Any]]:
    """``sahit eval --images``: (results, reference, default output path, header of the JSON)."""
    from ..metrics.evaluate import evaluate_images
    from ..metrics.images import load_images

    if args.truncation is not None:
        raise ValueError("--truncation samples a generator (--run); --images are scored as they are")
    images = load_images(args.images)
    labelled = bool(getattr(images, "num_classes", 0))
    metrics = _metric_list(args.metrics, labelled)
    resolution = int(images[0][0].shape[-1])
    if args.ref is None and args.data is None:
        raise ValueError("--images needs a reference: --ref STATS.npz or --ref DATA")
    features = extractor(args)
    ref = reference(args.ref or args.data, resolution, features, args)
    results = evaluate_images(images, ref, features, metrics, batch_size=args.batch_size, seed=args.seed,
                              device=device(args))
    default_out = _default_images_out(args.images)
    return results, ref, default_out, {"images": str(args.images), "labelled": labelled}


def _default_images_out(images: str | Path) -> Path:
    """Where ``sahit eval --images`` writes without ``--out``: ``NAME.metrics.json`` in the current folder
    (the images' folder or .npz may belong to someone else, be shared or read-only)."""
    source = Path(images)
    name = source.stem if source.is_file() else source.resolve().name
    return Path(f"{name or 'images'}.metrics.json")


def _eval_run(args: argparse.Namespace) -> tuple[dict[str, MetricResult], Any, Path, dict[str, Any]]:
    """``sahit eval --run``: (results, reference, default output path, header of the JSON)."""
    import sahit

    from ..metrics.evaluate import evaluate_generator

    G = sahit.load(args.run, ema=not args.no_ema, device=device(args))
    metrics = _metric_list(args.metrics, bool(G.num_classes))
    features = extractor(args)
    spec, holdout = (args.ref or args.data, 0) if args.ref or args.data else _run_data(args.run)
    ref = reference(spec, G.resolution, features, args, holdout)
    results = evaluate_generator(G, ref, features, metrics, n=args.n, batch_size=args.batch_size,
                                 seed=args.seed, truncation=args.truncation, device=device(args))
    header = {"run": str(args.run), "ema": not args.no_ema, "truncation": args.truncation}
    return results, ref, _run_metrics_path(args.run), header


def _metric_list(spec: str | None, labelled: bool) -> list[str]:
    """``--metrics`` as a list; by default every default metric, intra-FID only with classes."""
    if spec is None:
        return [m for m in default_metric_names() if labelled or "labels" not in get_metric(m).needs]
    return list(check_metrics([m.strip() for m in spec.split(",") if m.strip()]))


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

