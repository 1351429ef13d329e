"""``sahit explore``: load a generator through the library's loaders and serve a page that looks inside it."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``explore`` to the ``sahit`` parser."""
    p = subparsers.add_parser(
        "explore",
        help="look inside a generator in the browser: samples, attention per pixel, knock-outs, interpolation",
        description="Start a local web server for one generator and print its URL. The page picks a class, seed "
        "and truncation, shows where any clicked pixel attends in every attention layer (and in D's, for a run "
        "folder with a checkpoint), turns layers off and interpolates. API and security: docs/explore.md.",
    )
    p.add_argument("--run", required=True, help="run folder, export folder, zoo:NAME or hf:ORG/NAME")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; another address is reachable by "
                   "others and prints a warning)")
    p.add_argument("--no-d", action="store_true", help="leave out the discriminator's attention")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator instead of its EMA")


def run(args: argparse.Namespace) -> int:
    """Serve the explorer until Ctrl-C."""
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be within 0..65535, got {args.port}")
    try:
        import aiohttp  # noqa: F401
    except ModuleNotFoundError:
        raise ValueError("sahit explore needs aiohttp: pip install 'sahit[explore]'") from None
    from ..explore.loading import load_explorer
    from ..explore.server import LOOPBACK, serve

    explorer = load_explorer(args.run, ema=not args.no_ema, discriminator=not args.no_d)
    if args.host not in LOOPBACK:
        print(f"warning: serving on {args.host}, not loopback: anyone who can reach this address can use the "
              "explorer (it runs the model for every request). Use the default --host 127.0.0.1 unless you mean it.",
              file=sys.stderr)
    layers = ", ".join(layer.name for layer in explorer.layers) or "none"

    def ready(url: str) -> None:
        print(f"sahit explore: {explorer.source} ({explorer.info()['family']}, {explorer.resolution} px, "
              f"attention layers: {layers})")
        print(f"open {url}  (Ctrl-C to stop)", flush=True)

    try:
        serve(explorer, args.host, args.port, on_ready=ready)
    except KeyboardInterrupt:
        pass
    return 0
