"""``sahit interpolate``: a latent or class interpolation grid (and animated GIF)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``interpolate`` to the ``sahit`` parser."""
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



def run(args: argparse.Namespace) -> int:
    """Interpolate, draw the grid and the GIF."""
    from ..export import load
    from ..viz.interpolation import class_interpolation, interpolate, plot_interpolation, save_gif
    from ..viz.run_files import run_folder

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
