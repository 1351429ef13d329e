"""``sahit report``: one self-contained HTML page about a run."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``report`` to the ``sahit`` parser."""
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


def run(args: argparse.Namespace) -> int:
    """Build the report and print where it went."""
    from ..viz.report import TRUNCATION_N, TRUNCATIONS, build_report

    thresholds = None if args.no_truncation else (args.truncation or TRUNCATIONS)
    path = build_report(args.run, args.out, attention=not args.no_attention, seed=args.seed, truncation=thresholds,
                        features=args.features, truncation_n=args.truncation_n or TRUNCATION_N)
    print(f"wrote {path} (self-contained; open it in a browser: file://{path.resolve()})")
    return 0
