"""``sahit ablate``: knock out each attention layer at sampling time and measure what changes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ._metric_options import add_extractor_args, device, extractor, reference


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ablate`` to the ``sahit`` parser."""
    p = subparsers.add_parser(
        "ablate",
        help="knock out each attention layer at sampling time and measure what changes",
        description="Sample the generator intact, with each attention layer's contribution removed in turn "
        "(SAGAN: gamma = 0; HiT: the attention branch skipped) and with all removed at once, on the same latents. "
        "Reports FID and intra-FID against the intact samples, class accuracy (domain extractor), FID against "
        "--ref if given, and writes JSON and a grid of intact against knocked-out samples.",
    )
    p.add_argument("--run", required=True, help="run folder, export folder, zoo:NAME or hf:ORG/NAME")
    p.add_argument("--layer", action="append", default=None, metavar="NAME",
                   help="knock out only these layers (module paths, as `sahit attention --stats` lists them); "
                   "repeatable; default every one")
    p.add_argument("--n", type=int, default=5000, help="samples per knock-out (default 5000)")
    add_extractor_args(p)
    p.add_argument("--ref", default=None, metavar="STATS|DATA",
                   help="also FID against real data: an .npz from `sahit stats` or a data set (default: none)")
    p.add_argument("--ref-n", type=int, default=50_000, help="reference images when computed here (default 50000)")
    p.add_argument("--holdout", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default="ablation.json", help="JSON file to write (default ablation.json)")
    p.add_argument("--grid", default="ablation.png", help="PNG of intact vs knocked-out samples (default ablation.png)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-ema", action="store_true", help="use the raw generator instead of its EMA")


def run(args: argparse.Namespace) -> int:
    """Ablate the layers, write the JSON and the grid, print the table."""
    import sahit

    from ..metrics.ablation import ablate, arms, format_ablation_table, save_ablation_grid

    G = sahit.load(args.run, ema=not args.no_ema, device=device(args))
    arms(G, args.layer)  # a model without attention (or an unknown layer) says so before any extractor loads
    features = extractor(args)
    ref = reference(args.ref, G.resolution, features, args) if args.ref else None
    result = ablate(G, features, n=args.n, seed=args.seed, batch_size=args.batch_size, layers=args.layer,
                    reference=ref, device=device(args))
    grid = save_ablation_grid(result, args.grid)
    payload = {"run": str(args.run), "ema": not args.no_ema, "grid": str(grid),
               **{k: v for k, v in result.items() if k != "grid"}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(format_ablation_table(result))
    print(f"wrote {out} and {grid}")
    return 0
