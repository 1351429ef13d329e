"""The ``sahit`` command: one loop over the subcommands of :mod:`sahit.commands`, and the one-line errors.

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

from . import commands
from .commands import COMMANDS


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


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    """The ``sahit`` parser with every subcommand of :mod:`sahit.commands`, and each command's ``run``."""
    from ._version import __version__

    parser = Parser(prog="sahit", description="Attention GANs (SAGAN, HiT): train, sample, evaluate.")
    parser.add_argument("--version", action="version", version=f"sahit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")  # subcommand parsers are Parsers too
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {}
    for name in COMMANDS:
        module = importlib.import_module(f"{commands.__name__}.{name}")
        module.register(sub)
        handlers[name] = module.run
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sahit`` with ``argv`` (default: the command line); returns the exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return handlers[args.command](args)
    except BrokenPipeError:  # the reader went away (`sahit presets | head`): not an error of the command
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 0
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
