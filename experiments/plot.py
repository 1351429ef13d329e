"""Figures of the reproduction results: one bar chart per experiment, FID-over-training curves.

For every experiment JSON (experiments/results/*.json by default): ``repro-NAME.png``, the final
metrics per arm (FID and symmetry error on the shapes; FID, class accuracy and intra-FID on
CIFAR-10; bar: mean over seeds, error bar: seed-to-seed standard deviation, dots: the seeds). For
experiments in CURVES: ``repro-NAME-fid.png``, FID over G steps per arm (thin: each seed, thick:
their mean).

Run:    python -m experiments.plot                       (writes docs/repro-*.png)
        python -m experiments.plot --markdown            (and prints the tables of docs/reproductions.md)
        python -m experiments.plot results/a.json --out /tmp/figs
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

EXPERIMENTS = Path(__file__).resolve().parent
CURVES = ("stabilization", "augmentation")  # experiments whose point is how FID moves during training
# metric: (table header, plot title, digits)
FORMATS = {"fid": ("FID", "FID (domain features, lower is better)", 2),
           "symmetry_error": ("symmetry error", "symmetry error (real: 0)", 3),
           "acc": ("class accuracy", "class accuracy (higher is better)", 3),
           "ifid": ("intra-FID", "intra-FID (lower is better)", 2)}


def metrics_of(payload: dict[str, Any]) -> list[str]:
    """The final metrics the experiment recorded: FID and symmetry error on the shapes, FID, class accuracy and
    intra-FID on CIFAR-10."""
    return list(payload.get("metrics", ["fid", "symmetry_error"]))


def _values(arm: dict[str, Any], metric: str) -> list[float]:
    return [r[metric] for r in arm["runs"] if r.get("status") == "ok" and r.get(metric) is not None]


def _budget_words(budget: dict[str, Any], arms: dict[str, Any]) -> str:
    """What each run was given: seconds (or quiet minutes) of training, else the G steps every arm ran."""
    if budget.get("seconds"):
        return f"{budget['seconds']:g} s of training per run"
    if budget.get("minutes"):
        return f"{budget['minutes']:g} quiet CPU minutes per run"
    steps = sorted({r.get("steps") for a in arms.values() for r in a.get("runs", []) if r.get("steps")})
    return f"{steps[0] if len(steps) == 1 else budget.get('steps')} steps"


def bar_chart(payload: dict[str, Any], path: Path) -> Path:
    """The final metrics per arm (FID and symmetry error, or FID, class accuracy and intra-FID): mean,
    seed-to-seed std, each seed."""
    arms = payload["arms"]
    names = list(arms)
    metrics = metrics_of(payload)
    width = max(3.2 + 0.55 * len(names) * len(metrics), 2.9 * len(metrics))  # room for each metric's title
    fig, axes = plt.subplots(1, len(metrics), figsize=(width, 3.4), dpi=100,
                             squeeze=False)  # one metric (experiments/finetune.py) still gives a row of axes
    for ax, metric in zip(axes[0], metrics):
        title = FORMATS.get(metric, (metric, metric, 3))[1]
        for i, name in enumerate(names):
            values = _values(arms[name], metric)
            if not values:  # every seed failed
                ax.text(i, 0, "failed", ha="center", va="bottom", rotation=90, fontsize=8, color="tab:red")
                continue
            summary = arms[name].get(metric, {})
            ax.bar(i, summary.get("mean", sum(values) / len(values)), yerr=summary.get("std", 0.0) or None,
                   color=f"C{i % 10}", alpha=0.75, capsize=3)
            ax.plot([i] * len(values), values, "k.", markersize=4)
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
    budget = payload.get("budget", {})
    seeds = budget.get("seeds", [])
    batch = budget.get("batch_size")
    batch_words = f"batch {batch}" if batch else "each arm at its preset's batch"  # None: cpu_recipe's arms
    fig.suptitle(f"{payload['experiment']}: {_budget_words(budget, payload.get('arms', {}))}, {batch_words}, "
                 f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}"
                 + ("" if payload.get("complete") else " (incomplete)"), fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def fid_curves(payload: dict[str, Any], path: Path) -> Path | None:
    """FID over G steps per arm: each seed thin, the mean over seeds (at steps all seeds have) thick."""
    arms = {name: [r["fid_curve"] for r in arm["runs"] if r.get("status") == "ok" and r.get("fid_curve")]
            for name, arm in payload["arms"].items()}
    if not any(len(c) >= 2 for curves in arms.values() for c in curves):
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    for i, (name, curves) in enumerate(arms.items()):
        color = f"C{i % 10}"
        for curve in curves:
            ax.plot([s for s, _ in curve], [f for _, f in curve], color=color, alpha=0.3, linewidth=0.8)
        common = sorted(set.intersection(*({s for s, _ in c} for c in curves))) if curves else []
        if common:
            mean = [sum(dict(map(tuple, c))[s] for c in curves) / len(curves) for s in common]
            ax.plot(common, mean, color=color, linewidth=2, label=payload["arms"][name].get("label", name))
    ax.set_xlabel("G steps", fontsize=9)
    ax.set_ylabel("FID (domain features)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7)
    ax.set_title(f"{payload['experiment']}: FID during training", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def markdown_table(payload: dict[str, Any]) -> str:
    """The experiment's numbers as a Markdown table: mean +- seed-to-seed std (each seed), steps, wall time."""

    def cell(arm: dict[str, Any], metric: str, digits: int) -> str:
        values = _values(arm, metric)
        if not values:
            return "failed"
        summary = arm.get(metric, {})
        mean, std = summary.get("mean", sum(values) / len(values)), summary.get("std")
        seeds = ", ".join(f"{v:.{digits}f}" for v in values)
        return f"{mean:.{digits}f} ± {std:.{digits}f} ({seeds})" if std is not None and len(values) > 1 else seeds

    metrics = metrics_of(payload)
    rows = ["| arm | what | " + " | ".join(FORMATS.get(m, (m, m, 3))[0] for m in metrics) + " | G steps | wall s per run |",
            "|---|---|" + "---|" * len(metrics) + "---|---|"]
    for name, arm in payload["arms"].items():
        runs = [r for r in arm["runs"] if r.get("status") == "ok"]
        steps = sorted({r.get("steps") for r in runs if r.get("steps") is not None})
        wall = [r["train_seconds"] for r in runs if r.get("train_seconds") is not None]
        cells = " | ".join(cell(arm, m, FORMATS.get(m, (m, m, 3))[2]) for m in metrics)
        rows.append(f"| `{name}` | {arm.get('label', '')} | {cells} "
                    f"| {', '.join(str(s) for s in steps)} | {', '.join(f'{w:.0f}' for w in wall)} |")
    return "\n".join(rows)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", nargs="*", help="experiment JSONs (default experiments/results/*.json)")
    parser.add_argument("--out", default=str(EXPERIMENTS.parent / "docs"), help="folder for the PNGs (default docs)")
    parser.add_argument("--markdown", action="store_true",
                        help="also print each experiment's numbers as the Markdown table in docs/reproductions.md")
    args = parser.parse_args(argv)
    paths = [Path(p) for p in args.json] or sorted((EXPERIMENTS / "results").glob("*.json"))
    if not paths:
        raise SystemExit("no experiment JSONs found: run an experiment first (see docs/reproductions.md)")
    written = []
    for path in paths:
        payload = json.loads(path.read_text())
        name = payload["experiment"]
        written.append(bar_chart(payload, Path(args.out) / f"repro-{name}.png"))
        if args.markdown:
            print(f"### {name}\n\n{markdown_table(payload)}\n")
            if payload.get("holdout"):
                accuracy = payload["extractor"].get("info", {}).get("holdout_accuracy")
                print(f"(every FID against the {payload['holdout']:,} class-balanced images held out of training; "
                      f"extractor fitted on the rest" + (f", {accuracy:.1%} accurate on the held-out images" if accuracy
                                                         else "") + ")\n")
            elif payload.get("reference", payload.get("data")) != payload.get("data"):
                print(f"(final FID against {Path(payload['reference']).name}; extractor fitted on "
                      f"{Path(payload['extractor'].get('fitted_on', '')).name})\n")
        if name.removesuffix("_cifar10") in CURVES:
            curve = fid_curves(payload, Path(args.out) / f"repro-{name}-fid.png")
            if curve is not None:
                written.append(curve)
    for p in written:
        print(f"wrote {p}")
    return written


if __name__ == "__main__":
    main()
