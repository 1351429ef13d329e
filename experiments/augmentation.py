"""Does augmenting what D sees help on little data? (DiffAugment, Zhao et al. 2020, CIFAR-10 at 10%.)

Claim: trained on 10% of CIFAR-10, D memorises the 5,000 images and FID stalls or degrades;
DiffAugment (color, translation, cutout on every real and fake image D sees, in D's and G's steps,
differentiable so G learns through it) lowers FID at an equal number of steps.

Here: the sagan-cifar10 model (32 px, SNGAN backbone with attention at 16x16 in G and D, hinge loss,
projection D) at width --width for G and D, the experiments' small-SAGAN recipe (lr 4e-4 / 4e-4,
Adam (0, 0.9), EMA 0.99 from step 0), batch 32. Two arms, same steps, same seeds:

  none      no augmentation
  diffaug   augment=diffaug:color,translation,cutout

Data, all drawn from /work/shared/data/cifar10/train (or --cifar) with a fixed seed, class-balanced
and disjoint, as folders of symlinks under OUT/augmentation/data (git-ignored; file lists in
index.json there):

  train-5000        500 images per class: the training set of both arms (10% of CIFAR-10's train split)
  reference-10000   1,000 other images per class: the final FID's reference (held-out: never trained on)
  features-10000    1,000 further images per class: the domain feature extractor is fitted on these

FID during training (--eval-points times per run) is against the 5,000 training images; the final FID
of each run (--eval-n samples of the EMA generator) is against the held-out reference.

Run:    python -m experiments.augmentation
        python -m experiments.augmentation --steps 100 --seeds 0 --eval-points 2   (a quick look)
        (two arms at once: --arms none --json A.json & --arms diffaug --json B.json, then the plain
        command again: it finds every run finished and writes the combined JSON)
Writes: experiments/results/augmentation.json; runs under experiments/runs/.

Budget: 2 arms x 2 seeds x 1,500 steps, batch 32, FID of 5,000 samples 4 times per run and at the end.
One thread per run, two runs at a time on 2 cores shared with other work (load average about 8):
about 0.8 steps/s, 30 minutes per run, an hour in all (the extractor's 500 steps: about 4 minutes more).
"""


from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from experiments.common import Arm, add_common_args, link_splits, run_experiment, sagan_overrides, write_json_atomic

NAME = "augmentation"
CLAIM = ("DiffAugment (Zhao et al. 2020): on 10% of CIFAR-10, augment=diffaug:color,translation,cutout on every "
         "image D sees lowers FID against held-out images at an equal number of steps")
PRESET = "sagan-cifar10"
CIFAR = Path("/work/shared/data/cifar10/train")
SPLITS = (("train", 500), ("reference", 1000), ("features", 1000))  # (name, images per class), disjoint
SPLIT_SEED = 2020
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def arms(width: int) -> list[Arm]:
    base = [*sagan_overrides(width), "model.resolution=32"]
    return [
        Arm("none", PRESET, base, "no augmentation"),
        Arm("diffaug", PRESET, [*base, "augment=diffaug:color,translation,cutout"],
            "DiffAugment color,translation,cutout on D's inputs"),
    ]


def make_splits(source: Path, out: Path) -> dict[str, Path]:
    """Class-balanced disjoint subsets of ``source`` (an ImageFolder) as folders of symlinks; made once."""
    folders = {name: out / f"{name}-{per_class * 10}" for name, per_class in SPLITS}
    index_path = out / "index.json"
    if index_path.is_file():
        return folders
    classes = sorted(d.name for d in source.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise SystemExit(f"{source} has no class subfolders (expected CIFAR-10 in ImageFolder layout)")
    rng = random.Random(SPLIT_SEED)
    index: dict[str, dict[str, list[str]]] = {name: {} for name, _ in SPLITS}
    for cls in classes:
        files = sorted(f.name for f in (source / cls).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        rng.shuffle(files)
        need = sum(n for _, n in SPLITS)
        if len(files) < need:
            raise SystemExit(f"{source / cls} has {len(files)} images; the splits need {need}")
        start = 0
        for name, per_class in SPLITS:
            index[name][cls] = sorted(files[start : start + per_class])
            start += per_class
    digest = link_splits(source, index, folders)
    write_json_atomic(index_path, {"source": str(source), "seed": SPLIT_SEED, "sha256_16": digest, "splits": index})
    return folders


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser, NAME, steps=1500, seeds=[0, 1], eval_points=4, eval_n=5000)
    parser.add_argument("--width", type=int, default=32, help="G and D width (default 32; the preset has 256 / 128)")
    parser.add_argument("--cifar", default=str(CIFAR), help=f"CIFAR-10 train split as class folders (default {CIFAR})")
    parser.set_defaults(features_steps=500)
    args = parser.parse_args(argv)
    source = Path(args.cifar)
    if not source.is_dir():
        raise SystemExit(f"--cifar {source} is not a folder (CIFAR-10's training images, one folder per class)")
    folders = make_splits(source, Path(args.out).resolve() / NAME / "data")
    index = json.loads((folders["train"].parent / "index.json").read_text())
    budget = {"width": args.width, "preset": PRESET, "splits": {name: str(folders[name].name) for name in folders},
              "split_seed": index["seed"], "split_sha256_16": index["sha256_16"], "source": index["source"]}
    return run_experiment(NAME, CLAIM, arms(args.width), args, budget=budget, data=str(folders["train"]),
                          resolution=32, reference=str(folders["reference"]), features_data=str(folders["features"]))


if __name__ == "__main__":
    main()
