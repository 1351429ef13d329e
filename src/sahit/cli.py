"""The ``sahit`` command: parses arguments and calls the public API, nothing more.

Errors a user can fix (bad config, missing data, wrong checkpoint) print one line and exit 2;
no traceback. ``SAHIT_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

# Subcommand modules: each has register(subparsers). Optional ones may be absent.
COMMAND_MODULES = ("sahit.metrics.commands", "sahit.viz.commands", "sahit.data.commands", "sahit.explore.commands",
                   "sahit.convert.commands")


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose commands take options and positionals in any order.

    ``sahit train --preset quickstart batch_size=16 --out runs/x steps=20``: argparse alone stops
    collecting ``key=value`` at the first option. A command without subcommands of its own parses
    with ``parse_known_intermixed_args`` (which refuses parsers that have subcommands, so those,
    such as ``sahit`` itself and ``sahit features``, parse as usual).
    """

    _intermixing = False  # parse_known_intermixed_args calls parse_known_args itself

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._intermixing or self._subparsers is not None:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def _cmd_train(args: argparse.Namespace) -> int:
    from .training import Interrupted, train

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


def _cmd_sample(args: argparse.Namespace) -> int:
    from .export import load
    from .viz.grid import save_grid

    G = load(args.run, ema=not args.no_ema)
    classes = args.classes if args.classes is None or len(args.classes) != 1 else args.classes[0]
    if isinstance(classes, list):
        if args.n % len(classes):
            raise ValueError(f"--n {args.n} is not a multiple of the {len(classes)} classes given")
        classes = [c for c in classes for _ in range(args.n // len(classes))]
    if args.format is not None:
        from .samples import write_samples

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


def _cmd_presets(args: argparse.Namespace) -> int:
    from .faithfulness import recipe_summary
    from .models import presets
    from .models.registry import families, family_of, model_aliases
    from .training.config import LEGACY_PRESETS, DataConfig, available_presets, load_preset, preset_yaml

    print("training presets (`sahit train --preset NAME`; src/sahit/configs/NAME.yaml): the data, steps and model")
    print("preset they train, and the recipe, as the values that differ from their base (a family's recipe or")
    print("another training preset); docs/faithfulness.md says why each differs from the official code:")
    for name in available_presets():
        values = load_preset(name)
        data = values.get("data", DataConfig.source) or "(--data required)"
        print(f"  {name:24s} base={preset_yaml(name).get('base')}  model={values.get('model')}  "
              f"steps={values.get('steps')}  data={data}")
        print(f"  {'':24s} recipe: {recipe_summary(name)}")
    print("\nfamily recipes (what `base: FAMILY` in a training preset, shipped or your own YAML, starts from):")
    for name in families():
        print(f"  {name:24s} {family_of(name).recipe_name}")
    print("\nmodel presets (architectures, for `sahit.build(NAME)` and a training preset's `model:`):")
    for name, preset in sorted(presets().items()):
        print(f"  {name:24s} {preset.description}")
    print("\nearlier names, still accepted: " + ", ".join(
        [f"--preset {old} = {new}" for old, new in sorted(LEGACY_PRESETS.items())]
        + [f"model {old} = {new}" for old, new in sorted(model_aliases().items())]))
    return 0


def _cmd_zoo(args: argparse.Namespace) -> int:
    from . import zoo

    cards = zoo.cards()
    if not cards:
        print("this installation has no zoo models")
        return 0
    print("trained models shipped with sahit: use them as --run zoo:NAME or sahit.load('zoo:NAME')")
    print("(scores of 5,000 EMA samples against real images the model did not train on, in the features of a "
          "classifier of its data, zoo:DATA; lower FID and intra-FID and higher class accuracy are better; "
          "card.json says which images)\n")
    rows = [("name", "family", "res", "steps", "train time", "FID", "class acc", "intra-FID", "data")]
    for card in cards:
        scores = card.get("scores", {})
        rows.append((card["name"], card["family"], str(card["resolution"]), f"{card['steps']:,}",
                     f"{card['train_minutes']:.0f} min", _score(scores.get("fid")), _score(scores.get("acc")),
                     _score(scores.get("ifid")), card["data"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    for card in cards:
        print(f"\n{card['name']}: {card['description']}")
        if card.get("note"):
            print(f"  ({card['note']})")
    return 0


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    from ._version import __version__

    parser = Parser(prog="sahit", description="Attention GANs (SAGAN, HiT): train, sample, evaluate.")
    parser.add_argument("--version", action="version", version=f"sahit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")  # subcommand parsers are Parsers too
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {}

    p = sub.add_parser("train", help="train a GAN (resumes when --out already holds the run)",
                       description="Train a GAN. The same command with the same --out resumes where the run stopped.")
    p.add_argument("--preset", default="quickstart", help="training preset (see `sahit presets`) or a YAML file")
    p.add_argument("--data", default=None, help="builtin | cifar10 | cifar100 | stl10 | celeba | lsun:CLASS | PATH")
    p.add_argument("--out", default=None, help="run folder (default runs/PRESET)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides, anywhere on the line, e.g. steps=500 batch_size=32 model.attn_res=[8]")
    handlers["train"] = _cmd_train

    p = sub.add_parser("sample", help="write samples from a trained generator: a grid, or one file per image",
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
    handlers["sample"] = _cmd_sample

    p = sub.add_parser("presets", help="list training and model presets")
    handlers["presets"] = _cmd_presets

    p = sub.add_parser("zoo", help="list the trained models shipped with sahit (zoo:NAME) and their scores")
    handlers["zoo"] = _cmd_zoo

    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # optional command module not present
            raise
        handlers.update(module.register(sub) or {})
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        handler = handlers.get(args.command) or args.func  # modules may use set_defaults(func=...)
        return handler(args)
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as exc:
        if os.environ.get("SAHIT_DEBUG"):
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"sahit {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sahit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
