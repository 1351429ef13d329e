"""``sahit train``: train a GAN, or resume the run in ``--out``."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train`` to the ``sahit`` parser."""
    p = subparsers.add_parser("train", help="train a GAN (resumes when --out already holds the run)",
                              description="Train a GAN. The same command with the same --out resumes where the run "
                              "stopped.")
    p.add_argument("--preset", default="quickstart", help="training preset (see `sahit presets`) or a YAML file")
    p.add_argument("--data", default=None, help="builtin | cifar10 | cifar100 | stl10 | celeba | lsun:CLASS | PATH")
    p.add_argument("--out", default=None, help="run folder (default runs/PRESET)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides, anywhere on the line, e.g. steps=500 batch_size=32 model.attn_res=[8]")


def run(args: argparse.Namespace) -> int:
    """Train (or resume) and print where everything went."""
    from ..training import Interrupted, train

    try:
        summary = train(args.preset, out=args.out, data=args.data, overrides=args.overrides)
    except Interrupted as exc:
        print(f"{exc}; checkpoint saved. Run the same command to resume.", file=sys.stderr)
        return 128 + exc.signum
    if not summary.get("is_main", True):  # other processes of a torchrun group: rank 0 reports for all
        return 0
    if summary["finished_before"]:
        print(f"run {summary['run_dir']} already finished at step {summary['step']}; nothing to do "
              f"(raise steps=N to train longer)")
        return 0
    minutes, seconds = divmod(summary["seconds"], 60)
    print(
        f"done: step {summary['step']} ({summary['steps_this_session']} this session, {int(minutes)}m{seconds:04.1f}s) | "
        f"samples {summary['samples']} | checkpoint {summary['checkpoint']} | export {summary['export']} | "
        f"log {summary['log']} | tensorboard --logdir {summary['tensorboard']}"
    )
    return 0
