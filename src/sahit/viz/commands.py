"""Command-line subcommands of ``sahit``: ``attention``, ``interpolate`` and ``report``.

They parse arguments and call :mod:`sahit.viz`; errors a user can fix are raised as
``ValueError`` / ``FileNotFoundError`` for ``sahit.cli`` to print as one line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]


def register(subparsers: argparse._SubParsersAction) -> dict[str, Handler]:
    """Add ``attention``, ``interpolate`` and ``report`` to the ``sahit`` parser; returns their handlers."""
    p = subparsers.add_parser(
        "attention",
        help="draw attention maps of generated images (SAGAN Fig. 1/5; HiT multi-axis and cross-attention)",
        description="Generate images and draw, for query points marked on each image, where every "
        "self-attention layer of G (and of D with --d) attends. For HiT: each multi-axis layer's regional "
        "and dilated maps, and each stage's cross-attention over the latent tokens.",
    )
    p.add_argument("--run", required=True, help="run folder, export folder, zoo:NAME or hf:ORG/NAME")
    p.add_argument("--layer", action="append", default=None, metavar="NAME",
                   help="attention layer by module name, e.g. attention.1 or D.attention.0 (SAGAN), stages.1.layers.0 "
                   "or stages.1.cross (HiT); repeatable; default all")
    p.add_argument("--points", nargs="+", default=["auto"], metavar="auto|X,Y",
                   help="query points as pixel positions x,y (x right, y down), or auto (default): the points "
                   "whose attention differs most")
    p.add_argument("--num-points", type=int, default=4, help="points picked by auto (default 4)")
    p.add_argument("--class", dest="class_", type=int, default=None, metavar="K", help="class of the images")
    p.add_argument("--n", type=int, default=None, help="images to draw (default 2; with --stats 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--d", action="store_true", help="also draw the discriminator's attention on the same images")
    p.add_argument("--per-head", action="store_true",
                   help="HiT: one row per attention head instead of the mean over heads")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator instead of its EMA")
    p.add_argument("--out", default="attention.png", help="PNG to write (default attention.png)")
    p.add_argument("--stats", action="store_true",
                   help="instead of a figure, measure each layer's reach over --n samples and every query: mean "
                   "distance (output pixels), normalised entropy and share of mass beyond a quarter of the image, "
                   "beside a uniform and a 3x3-local map; per class; HiT's regional, dilated and cross separately")
    p.add_argument("--json", default="attention-stats.json", metavar="PATH",
                   help="with --stats: JSON file to write (default attention-stats.json)")
    p.set_defaults(func=run_attention)

    p = subparsers.add_parser(
        "interpolate",
        help="latent or class interpolation grid (and animated GIF)",
        description="Interpolate z between the latents of --seeds (slerp or lerp), per class: the same z path "
        "is drawn for each class, so a column switches the label at fixed z. With --between A B, interpolate "
        "the class instead, from A to B at the fixed z of each seed (the class embeddings are mixed, as in "
        "StudioGAN).",
    )
    p.add_argument("--run", required=True, help="run folder, export folder, zoo:NAME or hf:ORG/NAME")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="z of each seed, visited in order (default 0 1); with --between, one row per seed (default 0)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--class", dest="class_", type=int, default=None, metavar="K", help="one class")
    group.add_argument("--classes", type=int, nargs="+", default=None, metavar="K",
                       help="several classes, one block of rows each (default: the first 10 classes)")
    group.add_argument("--between", type=int, nargs=2, default=None, metavar=("A", "B"),
                       help="interpolate the class from A to B at fixed z")
    p.add_argument("--steps", type=int, default=8,
                   help="images per pair of seeds (or from class A to B), ends included (default 8)")
    p.add_argument("--method", choices=("slerp", "lerp"), default="slerp", help="latent path (not for --between)")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator instead of its EMA")
    p.add_argument("--out", default="interpolation.png", help="PNG grid to write (default interpolation.png)")
    p.add_argument("--gif", default=None, help="also write an animated GIF here")
    p.set_defaults(func=run_interpolate)

    p = subparsers.add_parser(
        "report",
        help="one self-contained HTML page about a run",
        description="Write an HTML report of a run (configuration, loss/lr/metric curves, samples over training, "
        "attention maps, throughput, files) with every image embedded: opens in a browser, no server.",
    )
    p.add_argument("--run", required=True, help="run folder or zoo:NAME")
    p.add_argument("--out", default=None, help="HTML file (default RUN/report.html; for zoo:NAME report-NAME.html here)")
    p.add_argument("--no-attention", action="store_true", help="leave out the attention figure")
    p.add_argument("--seed", type=int, default=0, help="seed of the attention figure's and truncation curve's images")
    p.add_argument("--features", default=None, metavar="inception|PATH",
                   help="feature extractor of the FID/IS-against-truncation curve (default: the run's eval_features)")
    p.add_argument("--truncation", type=float, nargs="+", default=None, metavar="T",
                   help="thresholds of the truncation curve (default 0.25 0.5 1 1.5 2; plus no truncation)")
    p.add_argument("--truncation-n", type=int, default=None, metavar="N",
                   help="samples per point of the truncation curve (default 1000)")
    p.add_argument("--no-truncation", action="store_true", help="leave out the truncation curve")
    p.set_defaults(func=run_report)
    return {"attention": run_attention, "interpolate": run_interpolate, "report": run_report}


def run_attention(args: argparse.Namespace) -> int:
    from ..export import load
    from .attention import attention_figure, parse_points
    from .run_files import load_discriminator, run_folder

    if args.stats:
        return run_attention_stats(args)
    args.n = 2 if args.n is None else args.n
    if args.n < 1 or args.num_points < 1:
        raise ValueError("--n and --num-points must be at least 1")
    folder = run_folder(args.run)
    G = load(folder, ema=not args.no_ema)
    D = None
    if args.d or any(name.startswith("D.") for name in args.layer or []):
        if not discriminator_has_attention(G.config):
            raise ValueError("this run's discriminator has no attention to draw (leave out --d)")
        D = load_discriminator(folder)
    result = attention_figure(G, n=args.n, classes=args.class_, seed=args.seed, layers=args.layer,
                              points=parse_points(args.points), num_points=args.num_points, D=D, path=args.out,
                              per_head=args.per_head)
    heads = "; one row per head" if args.per_head else ""
    print(f"wrote {result.path}: {len(result.panels)} rows ({', '.join(result.captured)}; {args.n} image(s)"
          f"{heads}), {len(result.panels[0].points)} queries each")
    return 0


def run_attention_stats(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..export import load
    from ..runs import write_text_atomic
    from .attention_stats import attention_stats, format_stats_table
    from .run_files import run_folder

    if args.d or any(name.startswith("D.") for name in args.layer or []):
        raise ValueError("--stats measures the generator's attention (leave out --d and D. layers)")
    n = 64 if args.n is None else args.n
    G = load(run_folder(args.run), ema=not args.no_ema)
    stats = attention_stats(G, n=n, seed=args.seed, classes=args.class_, layers=args.layer)
    stats = {"run": str(args.run), "ema": not args.no_ema, **stats}
    write_text_atomic(Path(args.json), json.dumps(stats, indent=2) + "\n")
    print(format_stats_table(stats))
    print(f"wrote {args.json}")
    return 0


def discriminator_has_attention(config: dict) -> bool:
    """Whether the discriminator of a generator's model config has attention layers (built on the meta device)."""
    import torch

    from ..models.registry import build_from_config

    with torch.device("meta"):
        _, D = build_from_config(config)
    return bool(D.attention_layer_names())


def run_interpolate(args: argparse.Namespace) -> int:
    from ..export import load
    from .interpolation import class_interpolation, interpolate, plot_interpolation, save_gif
    from .run_files import run_folder

    G = load(run_folder(args.run), ema=not args.no_ema)
    if args.between is not None:
        seeds = args.seeds or [0]
        interp = class_interpolation(G, *args.between, seeds=seeds, steps=args.steps)
        what = f"class {args.between[0]} → {args.between[1]} at the z of seed(s) {' '.join(map(str, seeds))}"
    else:
        seeds = args.seeds or [0, 1]
        classes = [args.class_] if args.class_ is not None else args.classes
        interp = interpolate(G, seeds=seeds, classes=classes, steps=args.steps, method=args.method)
        what = f"{args.method} through seeds {' '.join(map(str, seeds))}, {len(interp.classes)} class(es)"
    plot_interpolation(interp, args.out)
    message = f"wrote {args.out}"
    if args.gif:
        save_gif(interp, args.gif)
        message += f" and {args.gif}"
    print(f"{message}: {what}, {args.steps} steps")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from .report import TRUNCATION_N, TRUNCATIONS, build_report

    thresholds = None if args.no_truncation else (args.truncation or TRUNCATIONS)
    path = build_report(args.run, args.out, attention=not args.no_attention, seed=args.seed, truncation=thresholds,
                        features=args.features, truncation_n=args.truncation_n or TRUNCATION_N)
    print(f"wrote {path} (self-contained; open it in a browser: file://{path.resolve()})")
    return 0
