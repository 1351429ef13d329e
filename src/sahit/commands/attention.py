"""``sahit attention``: attention maps of generated images, or with ``--stats`` each layer's reach."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``attention`` to the ``sahit`` parser."""
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



def run(args: argparse.Namespace) -> int:
    """Draw the attention figure, or with ``--stats`` measure each layer's reach."""
    from ..export import discriminator_has_attention, load, load_discriminator
    from ..viz.attention_figure import attention_figure, parse_points
    from ..viz.run_files import run_folder

    if args.stats:
        return _stats(args)
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


def _stats(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..export import load
    from ..runs import write_text_atomic
    from ..viz.attention_stats import attention_stats, format_stats_table
    from ..viz.run_files import run_folder

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
