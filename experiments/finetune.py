"""Fine-tuning a trained CIFAR-10 SAGAN against training from scratch, at equal time, on two classes.

Claim: starting from a model trained on all of CIFAR-10 (G, EMA and D; the two classes' rows of its class
tables), a run on 1,000 images of two CIFAR-10 classes reaches a lower FID against held-out images of those
classes than a run from random weights given the same training time.

Arms (the same architecture: the source model's options; the cifar10-small recipe; the same seconds each):

  scratch    random initialisation
  finetune   init_from=SOURCE init_classes=[i, j] (i, j: the two classes' indices in CIFAR-10's sorted
             class folders, the order the source was trained with)

Data, drawn from the CIFAR-10 training split (--cifar) with a fixed seed, class-balanced and disjoint, as
folders of symlinks under OUT/finetune/data (file lists in index.json there):

  train        --per-class images of each of the two classes (default 500: 1,000 in all), both arms train on it
  reference    --reference-per-class other images per class (default 1,000): the final FID's reference
  features     --features-per-class further images per class (default 1,000): the domain extractor's

Run:    python -m experiments.finetune --source zoo:cifar10-sagan
        python -m experiments.finetune --source runs/cifar10-small --seconds 600 --seeds 0 1 2
Writes: experiments/results/finetune_cifar10.json (per seed, means, spread, the verdict) and
        docs/repro-finetune_cifar10.png (bars: mean FID, error bars: seed spread, dots: seeds).
Without CIFAR-10 at --cifar it says so and exits 0.

Budget: 2 arms x 3 seeds x --seconds (default 1,200 s) of training each, FID of --eval-n samples at the end
and --eval-points times during each run; about 2.5 hours in all on one CPU thread.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from experiments.common import CIFAR10, Arm, Setting, add_common_args, link_splits, run_experiment, write_json_atomic

NAME = "finetune"
CLAIM = ("fine-tuning a trained CIFAR-10 SAGAN (init_from, the two classes' rows) beats training from scratch at "
         "equal time on 1,000 images of two CIFAR-10 classes: lower FID against held-out images of those classes")
PRESET = "cifar10-small"
SPLIT_SEED = 2028
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def source_options(source: str) -> dict[str, Any]:
    """The source model's options (G.config without family and classes), read by sahit.load."""
    import sahit

    try:
        config = dict(sahit.load(source).config)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        raise SystemExit(f"--source {source}: {exc}") from None
    config.pop("family", None)
    config.pop("num_classes", None)
    return config


def arms(source: str, options: dict[str, Any], rows: list[int], seconds: float | None) -> list[Arm]:
    model = [f"model.{k}={_yaml(v)}" for k, v in sorted(options.items())]
    base = [*model, "data_in_memory=false", "data_holdout=0"]  # the reference is a folder of its own
    return [
        Arm("scratch", PRESET, base, "from random weights", seconds=seconds),
        Arm("finetune", PRESET, [*base, f"init_from={source}", f"init_classes={json.dumps(rows)}"],
            f"from {source} (class rows {rows})", seconds=seconds),
    ]


def _yaml(value: Any) -> str:
    """A value as a ``key=value`` override reads it back (YAML 1.1 reads 1e-05 as a string, 0.00001 as a number)."""
    if isinstance(value, float):
        return format(value, ".12f").rstrip("0").rstrip(".") if value and abs(value) < 1e-3 else repr(value)
    return json.dumps(value)


def source_held_out(model: str, cifar: Path) -> set[str]:
    """``class/file`` of the images the source model's run held out of its training (``data_holdout`` of its
    config; empty when it held none out): the only images fit to be the reference of a fair FID."""
    from sahit.data import make_dataset
    from sahit.runs import read_config, run_folder

    try:
        holdout = int(read_config(run_folder(model)).get("data_holdout") or 0)
    except FileNotFoundError:
        return set()
    if not holdout:
        return set()
    held = make_dataset(str(cifar), 32, holdout=holdout, split="holdout")
    samples = held.dataset.samples
    return {samples.rels[i] for i in held.indices}


def make_splits(source: Path, classes: list[str], counts: dict[str, int], out: Path,
                held: set[str] | None = None) -> dict[str, Path]:
    """Disjoint class-balanced subsets of the two classes of ``source`` (an ImageFolder) as folders of symlinks.

    ``held``: ``class/file`` names the source model never trained on; the reference is drawn from them only, the
    other splits from the rest (so no reference image was seen by the model fine-tuning starts from)."""
    folders = {name: out / f"{name}-{n * len(classes)}" for name, n in counts.items()}
    held = held or set()
    index_path = out / "index.json"
    if index_path.is_file() and json.loads(index_path.read_text()).get("counts") == counts \
            and json.loads(index_path.read_text()).get("held_out_reference") == bool(held):
        return folders
    rng = random.Random(SPLIT_SEED)
    index: dict[str, dict[str, list[str]]] = {name: {} for name in counts}
    for cls in classes:
        files = sorted(f.name for f in (source / cls).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        rng.shuffle(files)
        pools = {"reference": [f for f in files if f"{cls}/{f}" in held]} if held else {}
        rest = [f for f in files if f"{cls}/{f}" not in held] if held else files
        need = sum(n for name, n in counts.items() if name not in pools)
        if len(rest) < need or any(len(pools[k]) < counts[k] for k in pools):
            raise SystemExit(f"{source / cls}: too few images for the splits {counts} "
                             f"({len(rest)} usable, {len(files) - len(rest)} held out by the source model)")
        start = 0
        for name, n in counts.items():
            if name in pools:
                index[name][cls] = sorted(pools[name][:n])
                continue
            index[name][cls] = sorted(rest[start : start + n])
            start += n
    digest = link_splits(source, index, folders)
    write_json_atomic(index_path, {"source": str(source), "seed": SPLIT_SEED, "counts": counts, "sha256_16": digest,
                                   "held_out_reference": bool(held), "splits": index})
    return folders


def verdict(payload: dict[str, Any]) -> str:
    """One line: which arm has the lower final FID, by how much, and whether every seed agrees."""
    arms_ = payload["arms"]
    if any("fid" not in arms_.get(a, {}) for a in ("scratch", "finetune")):
        return "incomplete: an arm has no finished run"
    ft, sc = arms_["finetune"]["fid"], arms_["scratch"]["fid"]
    diff = sc["mean"] - ft["mean"]
    spread = f"FID {ft['mean']:.3g} +- {ft['std']:.2g} (fine-tuned) vs {sc['mean']:.3g} +- {sc['std']:.2g} (scratch)"
    if ft["max"] < sc["min"]:
        return f"fine-tuning better in every seed: {spread}, {diff:.3g} lower on average"
    if diff > 0:
        return f"fine-tuning better on average but the seeds overlap: {spread}"
    return f"fine-tuning not better at equal time: {spread}"


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser, NAME, steps=2000, seeds=[0, 1, 2], eval_points=4, eval_n=2000)
    parser.add_argument("--source", default="zoo:cifar10-sagan", help="the trained CIFAR-10 model (run, export, "
                        "zoo:NAME, hf:ID; default zoo:cifar10-sagan)")
    parser.add_argument("--cifar", default=str(CIFAR10), help=f"CIFAR-10 training split as class folders "
                        f"(default {CIFAR10})")
    parser.add_argument("--classes", default="cat,dog", help="the two classes (default cat,dog)")
    parser.add_argument("--seconds", type=float, default=1200.0,
                        help="training seconds per run, the same for both arms (default 1200; 0: --steps instead)")
    parser.add_argument("--per-class", type=int, default=500)
    parser.add_argument("--reference-per-class", type=int, default=1000)
    parser.add_argument("--features-per-class", type=int, default=1000)
    parser.add_argument("--plot", default=None, help="figure (default docs/repro-finetune_cifar10.png)")
    parser.set_defaults(features_steps=500)
    args = parser.parse_args(argv)
    cifar = Path(args.cifar)
    if not cifar.is_dir():
        print(f"[{NAME}] skipped: no CIFAR-10 training images at {cifar} (class folders; --cifar PATH)")
        return None
    all_classes = sorted(d.name for d in cifar.iterdir() if d.is_dir() and not d.name.startswith("."))
    classes = [c.strip() for c in args.classes.split(",")]
    if len(classes) != 2 or any(c not in all_classes for c in classes):
        raise SystemExit(f"--classes must name two of {', '.join(all_classes)}, got {args.classes!r}")
    rows = [all_classes.index(c) for c in sorted(classes)]  # the new run's classes are sorted folder names too
    options = source_options(args.source)
    held = source_held_out(args.source, cifar)
    counts = {"train": args.per_class, "reference": args.reference_per_class, "features": args.features_per_class}
    if held:  # the reference: images the source never saw (500 of each class for a 5,000-image holdout)
        counts["reference"] = min(counts["reference"], min(sum(h.startswith(f"{c}/") for h in held) for c in classes))
    folders = make_splits(cifar, sorted(classes), counts, Path(args.out).resolve() / NAME / "data", held)
    setting = Setting("cifar10", str(folders["train"]), options["resolution"], 0, PRESET, ("fid",),
                      args.features_steps)
    budget = {"source": args.source, "classes": sorted(classes), "init_classes": rows, "seconds": args.seconds or None,
              "counts": counts, "split_seed": SPLIT_SEED, "preset": PRESET, "reference_held_out_by_source": bool(held)}
    payload = run_experiment(NAME, CLAIM, arms(args.source, options, rows, args.seconds or None), args, budget,
                             reference=str(folders["reference"]), features_data=str(folders["features"]),
                             setting=setting)
    payload["verdict"] = verdict(payload)
    write_json_atomic(Path(args.json), payload)
    from experiments.plot import bar_chart

    plot = Path(args.plot) if args.plot else Path(__file__).resolve().parent.parent / "docs" / "repro-finetune_cifar10.png"
    bar_chart(payload, plot)
    print(f"[{NAME}] {payload['verdict']}; figure {plot}")
    return payload


if __name__ == "__main__":
    main()
