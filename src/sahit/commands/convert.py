"""``sahit convert studiogan PATH --out RUN``: bring a model trained by other code into sahit (:mod:`sahit.convert`)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``convert`` (with its source ``studiogan``) to the ``sahit`` parser."""
    p = subparsers.add_parser("convert", help="bring a model trained by other code into sahit (StudioGAN's SAGAN)")
    sub = p.add_subparsers(dest="convert_source", metavar="SOURCE", required=True)
    s = sub.add_parser(
        "studiogan", help="a PyTorch-StudioGAN SAGAN run: its checkpoint folder or its model=G/D/G_ema files",
        description="Convert StudioGAN's SAGAN checkpoints (model=G-...-weights-step=N.pth, model=D-..., "
        "model=G_ema-...) into a sahit run folder: export/ (G and its EMA) for sahit.load, sample, attention, "
        "eval and report, and checkpoints/ (G, D, EMA) for --d and init_from=RUN. The files are read without "
        "unpickling arbitrary objects; G(z, y) and D(x, y) equal StudioGAN's in eval mode.")
    s.add_argument("paths", nargs="+", metavar="PATH", help="StudioGAN's checkpoint folder, or its files")
    s.add_argument("--out", required=True, help="run folder to write")
    s.add_argument("--when", choices=("best", "current"), default=None,
                   help="which of StudioGAN's checkpoints (default: best when there are both)")
    s.add_argument("--studiogan-sampling", action="store_true",
                   help="G runs one power iteration per call in eval mode, as StudioGAN's sampling does")


def run(args: argparse.Namespace) -> int:
    """Convert from the source given (``studiogan``, the only one)."""
    return {"studiogan": _studiogan}[args.convert_source](args)


def _studiogan(args: argparse.Namespace) -> int:
    from ..convert import convert_studiogan

    summary = convert_studiogan(args.paths, args.out, when=args.when, studiogan_sampling=args.studiogan_sampling)
    m = summary["model"]
    roles = ", ".join(summary["files"])
    print(f"converted StudioGAN SAGAN ({roles}; {m['resolution']} px, {m['num_classes']} classes, "
          f"class tables: {summary['cbn_format']}) at step {summary['step']} into {args.out} "
          f"(load with sahit.load({args.out!r}); train on with init_from={args.out})")
    return 0
