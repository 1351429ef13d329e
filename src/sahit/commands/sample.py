"""``sahit sample``: samples of a trained generator, as a grid or one file per image."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sample`` to the ``sahit`` parser."""
    p = subparsers.add_parser("sample", help="write samples from a trained generator: a grid, or one file per image",
                              description="Write a grid PNG of samples (default), or with --format png|npz every image "
                              "into the folder --out (resumable: rerun the same command after an interruption).")
    p.add_argument("--run", required=True, help="run folder, export folder, zoo:NAME or hf:ORG/NAME")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--classes", type=int, nargs="+", default=None, help="class(es) to sample (default: balanced)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--truncation", type=float, default=None, metavar="T",
                   help="truncation trick: redraw entries of z with |z| > T (default: none)")
    p.add_argument("--format", choices=("png", "npz"), default=None,
                   help="one PNG per image, or one samples.npz (arr_0: N,H,W,3 uint8; labels), in the folder --out")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--nrow", type=int, default=8, help="images per row of the grid")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator instead of its EMA")
    p.add_argument("--out", default=None, help="grid PNG (default samples.png) or, with --format, a folder "
                   "(default samples/)")


def run(args: argparse.Namespace) -> int:
    """Sample the run's generator into a grid PNG, or with ``--format`` into a folder."""
    from ..export import load
    from ..viz.grid import save_grid

    G = load(args.run, ema=not args.no_ema)
    classes = args.classes if args.classes is None or len(args.classes) != 1 else args.classes[0]
    if isinstance(classes, list):
        if args.n % len(classes):
            raise ValueError(f"--n {args.n} is not a multiple of the {len(classes)} classes given")
        classes = [c for c in classes for _ in range(args.n // len(classes))]
    if args.format is not None:
        from ..samples import write_samples

        out = "samples" if args.out is None else args.out
        job = write_samples(G, args.n, out, format=args.format, classes=classes, seed=args.seed,
                            truncation=args.truncation, batch_size=args.batch_size,
                            meta={"run": str(args.run), "ema": not args.no_ema})
        done = "all already there" if job.generated == 0 else f"{job.generated} generated now"
        print(f"wrote {job.n} samples ({args.format}, {done}) to {job.out}; labels in {job.out}/manifest.json")
        return 0
    images = G.sample(args.n, classes=classes, seed=args.seed, batch_size=args.batch_size, truncation=args.truncation)
    path = save_grid(images, args.out or "samples.png", nrow=args.nrow)
    print(f"wrote {len(images)} samples to {path}")
    return 0
