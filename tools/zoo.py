"""Make, score and draw the model zoo's entries (``src/sahit/zoo_models``).

    python -m tools.zoo add RUN --name NAME --description TEXT   # a finished run becomes zoo:NAME
    python -m tools.zoo score --data ~/cifar10/train             # every CIFAR-10 entry's card scores, again
    python -m tools.zoo grids                                    # docs/zoo/NAME.png, one row per class
    python -m tools.zoo curves --names cifar10-sagan cifar10-hit  # docs/zoo/fid-minutes.png: FID against time
    python -m tools.zoo features EXTRACTOR --name cifar10        # ship a domain extractor as zoo:cifar10

``add`` copies what a user of the model needs out of the run folder (config, log, summary, the export
with G and EMA G, D from the newest checkpoint) with weights in half precision, and writes the card
(data, recipe, steps, training time and machine, the command that trained it). ``score`` fills the
cards' scores: FID, class accuracy and intra-FID of ``--n`` EMA samples against the images the run held
out of training, in the features of the zoo's extractor for that data (``zoo:cifar10``); entries on
the built-in shapes are scored against its held-out images with ``zoo:builtin``. Each score records the
extractor's weights hash and the command that made it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from sahit import zoo
from sahit.runs import (
    CHECKPOINTS,
    CONFIG,
    DISCRIMINATOR_WEIGHTS,
    EXPORT,
    LOG,
    SUMMARY,
    finished_step,
    latest_checkpoint,
    read_config,
    read_export_config,
    read_log,
    run_folder,
    write_json_atomic,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "zoo"
SCORE_METRICS = ("fid", "acc", "ifid")
# The data set an entry was trained on, as the key of the zoo's feature extractors.
FEATURES_FOR = {"builtin": "zoo:builtin"}
DEFAULT_FEATURES = "zoo:cifar10"


def half(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating tensors in fp16 (the zoo's size limit), others as they are; all contiguous on the CPU."""
    return {k: (v.half() if v.is_floating_point() else v).detach().cpu().contiguous() for k, v in state.items()}


def add(run: str, name: str, description: str, note: str = "", data_name: str = "") -> Path:
    """Copy the finished run ``run`` into the zoo as ``name``; returns the entry's folder."""
    source = run_folder(run)
    step = finished_step(source)
    if step is None:
        raise SystemExit(f"{source} has not finished (no summary.json after its export): the zoo takes finished runs")
    checkpoint = latest_checkpoint(source / CHECKPOINTS)
    if checkpoint is None:
        raise SystemExit(f"{source} holds no checkpoint: the zoo needs D too")
    target = zoo.ROOT / name
    if target.exists():
        shutil.rmtree(target)
    (target / EXPORT).mkdir(parents=True)
    shutil.copy2(source / CONFIG, target / CONFIG)
    write_json_atomic(target / SUMMARY, {"step": step})  # the rest names the trainer's folders
    keep = read_log(source)
    (target / LOG).write_text("".join(json.dumps(r) + "\n" for r in keep))
    for file in sorted((source / EXPORT).iterdir()):
        if file.suffix == ".safetensors":
            save_file(half(load_file(str(file))), str(target / EXPORT / file.name), metadata={"dtype": "fp16"})
        else:
            shutil.copy2(file, target / EXPORT / file.name)
    save_file(half(checkpoint["D"]), str(target / EXPORT / DISCRIMINATOR_WEIGHTS), metadata={"dtype": "fp16"})
    config = read_config(source)
    export_config = read_export_config(source)["model"]
    card = {
        "name": name,
        "description": description,
        "family": export_config["family"],
        "resolution": int(export_config.get("resolution", 0)),
        "num_classes": int(export_config.get("num_classes", 0)),
        "data": str(config.get("data", "")),
        **({"data_name": data_name} if data_name else {}),
        "holdout": int(config.get("data_holdout") or 0),
        "steps": step,
        "train_minutes": round(_train_seconds(source) / 60, 1),
        "machine": _machine(source),
        "command": _command(source),
        "scores": {},
        **({"note": note} if note else {}),
    }
    write_json_atomic(target / zoo.CARD, card, indent=2)
    print(f"wrote {target} ({_size_mb(target):.2f} MB)")
    return target


def score(names: list[str], data: str | None, n: int, seed: int) -> None:
    """Measure every named entry against the images its run held out, and write the scores into its card."""
    import sahit
    from sahit.metrics import cached_reference_stats, evaluate_generator, load_extractor

    for name in names:
        folder = zoo.entry_folder(name)
        card = zoo.card(name)
        spec = data if data and card["data"] != "builtin" else card["data"]
        features = FEATURES_FOR.get(card["data"], DEFAULT_FEATURES)
        extractor = load_extractor(features)
        G = sahit.load(f"zoo:{name}")
        reference = cached_reference_stats(spec, G.resolution, extractor, holdout=card["holdout"])
        metrics = [m for m in SCORE_METRICS if G.num_classes or m == "fid"]
        results = evaluate_generator(G, reference, extractor, metrics, n=n, seed=seed)
        card["scores"] = {m: round(float(results[m].value), 4) for m in metrics}
        per_class = _per_class(results, _class_names(spec, G.num_classes))
        where = (f"the {card['holdout']:,} images of {card['data']} held out of training" if card["holdout"]
                 else f"{reference.n:,} images of {card['data']} (drawn anew: the built-in data has no fixed set)")
        card["scores"].update(n=n, seed=seed, reference=where,
                              features=features, features_weights=extractor.weights_hash[:16],
                              command=f"python -m tools.zoo score --names {name}" + (f" --data {data}" if data
                                                                                    else ""),
                              **({"per_class": per_class} if per_class else {}))
        write_json_atomic(folder / zoo.CARD, card, indent=2)
        print(f"{name}: " + ", ".join(f"{m} {card['scores'][m]:.4g}" for m in metrics), flush=True)


def _class_names(data: str, num_classes: int) -> list[str]:
    """The data's class names: the built-in shapes', or a folder's class folders (sorted, as ImageFolder)."""
    from sahit.data import CLASS_NAMES

    if data == "builtin":
        return list(CLASS_NAMES[:num_classes])
    folder = Path(data).expanduser()
    names = sorted(d.name for d in folder.iterdir() if d.is_dir()) if folder.is_dir() else []
    return names if len(names) == num_classes else [str(c) for c in range(num_classes)]


def _per_class(results: dict[str, Any], class_names: list[str]) -> dict[str, dict[str, float]]:
    """Class accuracy and intra-FID of each class, by class name: which classes the model gets right."""
    table: dict[str, dict[str, float]] = {}
    for metric in ("acc", "ifid"):
        details = getattr(results.get(metric), "details", None) or {}
        for index, value in details.get("per_class", {}).items():
            table.setdefault(class_names[int(index)], {})[metric] = round(float(value), 4)
    return table


def grids(names: list[str], per_class: int, seed: int) -> None:
    """docs/zoo/NAME.png: ``per_class`` EMA samples of every class, one row per class."""
    import sahit
    from sahit.viz.grid import save_grid

    DOCS.mkdir(parents=True, exist_ok=True)
    for name in names:
        G = sahit.load(f"zoo:{name}")
        k = max(G.num_classes, 1)
        classes = None if not G.num_classes else [c for c in range(k) for _ in range(per_class)]
        images = G.sample(k * per_class, classes=classes, seed=seed)
        path = save_grid(images, DOCS / f"{name}.png", nrow=per_class)
        print(f"wrote {path}")


def fid_minutes(name: str) -> list[tuple[float, float]]:
    """``(quiet 2-core minutes, FID)`` over ``name``'s training: its logged steps divided by its family's quiet rate
    (the rate cpu_recipe budgets with), so that entries with different step costs share one time axis."""
    from experiments.cpu_recipe import QUIET_STEPS_PER_SECOND
    from sahit.viz.run_files import metric_points

    rate = QUIET_STEPS_PER_SECOND.get(zoo.card(name)["family"])
    points = metric_points(zoo.entry_folder(f"zoo:{name}")).get("fid", [])
    if rate is None or not points:
        raise SystemExit(f"zoo curves: {name} has {'no FID in its log' if rate else 'no quiet rate for its family'}")
    return [(step / rate / 60, value) for step, value, _ in points]


def curves(names: list[str], out: Path) -> Path:
    """``out``: FID over training of ``names`` against quiet 2-core minutes, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name in names:
        card, points = zoo.card(name), fid_minutes(name)
        ax.plot(*zip(*points), marker="o", markersize=3, label=f"{name} ({card['family']}, {card['steps']:,} steps)")
    ax.set_yscale("log")
    ax.set_xlabel("quiet 2-core minutes (steps / the preset's quiet rate)")
    ax.set_ylabel("FID vs the 5,000 held-out images")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f"wrote {out}")
    return out


def features(path: str, name: str) -> Path:
    """Ship the domain extractor in ``path`` as the zoo's ``zoo:NAME``, its weights in half precision (the zoo's
    scores are measured with the shipped weights, so they are the extractor)."""
    from sahit.metrics import load_domain_extractor

    load_domain_extractor(path)  # refuses anything that is not a domain extractor
    target = zoo.FEATURES / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(Path(path) / "config.json", target / "config.json")
    weights = half(load_file(str(Path(path) / "model.safetensors")))
    save_file(weights, str(target / "model.safetensors"), metadata={"dtype": "fp16"})
    print(f"wrote {target} ({_size_mb(target):.2f} MB)")
    return target


def _train_seconds(run: Path) -> float:
    """Seconds of training over all sessions: a resumed run's log restarts ``time``, so each session's last adds."""
    times = [float(r["time"]) for r in read_log(run) if isinstance(r.get("time"), (int, float))]
    ends = [t for t, following in itertools.pairwise(times) if following < t]
    return sum(ends) + (times[-1] if times else 0.0)


def _machine(run: Path) -> dict[str, Any]:
    """This machine (the zoo's entries are made where they were trained): CPU model, cores, device, precision."""
    config = read_config(run)
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return {"cpu": cpu, "cores": os.cpu_count(), "device": str(config.get("device", "cpu")),
            "precision": str(config.get("precision", ""))}


def _command(run: Path) -> str:
    card = (run / EXPORT / "README.md")
    if card.is_file():
        lines = card.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith("sahit train"):
                return line.strip()
    return ""


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("add", help="copy a finished run into the zoo")
    p.add_argument("run")
    p.add_argument("--name", required=True)
    p.add_argument("--description", required=True)
    p.add_argument("--data-name", default="", help="what the data is, for the listing (e.g. CIFAR-10), "
                   "when its path says little")
    p.add_argument("--note", default="", help="how it was trained, if the card's facts need a word (e.g. shared cores)")
    p = sub.add_parser("score", help="measure entries against their held-out images; write the cards' scores")
    p.add_argument("--names", nargs="+", default=None, help="entries (default: all)")
    p.add_argument("--data", default=None, help="where the CIFAR-10 training images are (a folder of class folders)")
    p.add_argument("--n", type=int, default=5000, help="samples per entry (default 5000)")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("grids", help="docs/zoo/NAME.png for every entry")
    p.add_argument("--names", nargs="+", default=None)
    p.add_argument("--per-class", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("curves", help="FID over training against quiet CPU minutes, entries side by side")
    p.add_argument("--names", nargs="+", required=True)
    p.add_argument("--out", type=Path, default=DOCS / "fid-minutes.png")
    p = sub.add_parser("features", help="ship a domain extractor as zoo:NAME")
    p.add_argument("path")
    p.add_argument("--name", required=True)
    args = parser.parse_args(argv)
    if args.action == "add":
        add(args.run, args.name, args.description, args.note, args.data_name)
    elif args.action == "score":
        score(args.names or zoo.names(), args.data, args.n, args.seed)
    elif args.action == "grids":
        grids(args.names or zoo.names(), args.per_class, args.seed)
    elif args.action == "curves":
        curves(args.names, args.out)
    else:
        features(args.path, args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
