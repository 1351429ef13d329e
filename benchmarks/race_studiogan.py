"""sahit against PyTorch-StudioGAN on real CIFAR-10: the same SAGAN, the same recipe, the same wall clock.

::

    python -m benchmarks.race_studiogan --studiogan PATH --studiogan-python PY \\
        [--data ../shared/data/cifar10/train] [--minutes 40] [--snapshot-minutes 2]

Each arm trains alone on the machine, one after the other, for ``--minutes`` of training time:

* **studiogan**: StudioGAN's own CIFAR-10 SAGAN (``configs/CIFAR10/SAGAN.yaml``: its ResNet G and D,
  conditional batch norm, projection D, attention at 16x16, its hinge loss, its data set class, loader
  and ``WORKER`` step), run by ``benchmarks/race/studiogan_arm.py`` with StudioGAN's own Python
  environment (``--studiogan-python``), in fp32 as its users run it on a CPU;
* **sahit**: the ``cifar10-small`` preset through sahit's trainer (``benchmarks/race/sahit_arm.py``),
  with everything it offers on this machine (``precision=auto``, channels_last, its EMA generator).

Both get the same widths (StudioGAN ``g_conv_dim``/``d_conv_dim`` = sahit ``g_width / 4`` / ``d_width / 2``),
the same recipe (``--lr-g --lr-d --beta1 --beta2 --n-dis --batch-size``; the paper's TTUR by default) and
the same training images: CIFAR-10 less a class-balanced 5,000 held out (``sahit.data.holdout``). Every
``--snapshot-minutes`` of training each arm saves G; afterwards both are scored by one domain extractor
(``sahit features fit`` on the training part) against the held-out images: FID, class accuracy and
intra-FID on class-balanced samples. Results: ``race.json`` and two plots (FID against minutes and
against G steps) in ``--docs``. Rerunning skips the arms already trained in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from sahit.data import make_dataset
from sahit.data.folder import list_folder
from sahit.data.holdout import holdout_indices
from sahit.metrics.evaluate import compute_reference_stats, evaluate_images
from sahit.metrics.loading import load_extractor
from sahit.metrics.stats import load_stats, save_stats

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("fid", "acc", "ifid")
RESOLUTION = 32


def held_out_paths(data: Path, holdout: int) -> list[str]:
    """The held-out images' paths relative to ``data``: the split ``data_holdout`` makes in sahit."""
    _classes, listing, labels = list_folder(data)
    return [listing.rels[i] for i in holdout_indices(labels, holdout)]


def domain_extractor(args: argparse.Namespace) -> Path:
    if args.features:
        return Path(args.features)
    path = Path(args.out) / "extractor"
    if not (path / "model.safetensors").is_file():
        _run([sys.executable, "-m", "sahit", "features", "fit", "--data", args.data, "--holdout", str(args.holdout),
              "--out", str(path), "--steps", str(args.features_steps), "--batch-size", "64", "--width", "16"])
    return path


def reference_stats(args: argparse.Namespace, extractor: Path) -> Path:
    path = Path(args.out) / "reference.npz"
    if not path.is_file():
        held_out = make_dataset(args.data, RESOLUTION, holdout=args.holdout, split="holdout")
        stats = compute_reference_stats(held_out, extractor, keep_features=True, data_name=args.data,
                                        split="holdout", progress=False)
        save_stats(stats, path)
    return path


def train_arms(args: argparse.Namespace) -> None:
    out = Path(args.out)
    recipe = ["--minutes", str(args.minutes), "--snapshot-minutes", str(args.snapshot_minutes)]
    for arm in args.arms:
        arm_dir = out / arm
        if (arm_dir / "train.json").is_file():
            print(f"race: {arm} already trained in {arm_dir}", flush=True)
            continue
        if arm == "studiogan":
            base = [args.studiogan_python, str(ROOT / "benchmarks/race/studiogan_arm.py")]
            _run([*base, "train", "--studiogan", args.studiogan, "--data", args.data, "--out", str(arm_dir),
                  "--exclude", str(out / "held_out.json"), *recipe, "--g-conv-dim", str(args.g_conv_dim),
                  "--d-conv-dim", str(args.d_conv_dim), "--lr-g", str(args.lr_g), "--lr-d", str(args.lr_d),
                  "--beta1", str(args.beta1), "--beta2", str(args.beta2), "--n-dis", str(args.n_dis),
                  "--batch-size", str(args.batch_size), "--seed", str(args.seed)])
            _run([*base, "sample", "--studiogan", args.studiogan, "--out", str(arm_dir), "--n", str(args.n)])
        else:
            overrides = [f"data_holdout={args.holdout}", f"model.g_width={4 * args.g_conv_dim}",
                         f"model.d_width={2 * args.d_conv_dim}", f"lr_g={args.lr_g}", f"lr_d={args.lr_d}",
                         f"betas_g=[{args.beta1},{args.beta2}]", f"betas_d=[{args.beta1},{args.beta2}]",
                         f"n_dis={args.n_dis}", f"batch_size={args.batch_size}", f"seed={args.seed}"]
            _run([sys.executable, "-m", "benchmarks.race.sahit_arm", "--preset", args.sahit_preset, "--data", args.data,
                  "--out", str(arm_dir), *recipe, "--n", str(args.n), *overrides])


def _run(command: list[str]) -> None:
    print("race: $ " + " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def score_arm(arm_dir: Path, reference: Path, extractor: Any, prefix: str = "") -> list[dict[str, Any]]:
    """FID, class accuracy and intra-FID of every snapshot of one arm (``prefix="ema-"``: sahit's EMA G)."""
    record = json.loads((arm_dir / "train.json").read_text())
    rows = []
    for entry in record["snapshots"]:
        name = prefix + Path(entry["snapshot"]).with_suffix(".npz").name
        results = evaluate_images(arm_dir / "samples" / name, reference, extractor, METRICS, progress=False)
        rows.append({"minutes": round(entry["minutes"], 3), "g_steps": entry["g_steps"],
                     **{m: round(results[m].value, 4) for m in METRICS}})
    return rows


def verdict(sahit: list[dict[str, Any]], studiogan: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether sahit's FID is below StudioGAN's at every checkpoint, and when it reaches StudioGAN's final FID."""
    pairs = list(zip(sahit, studiogan))
    final = studiogan[-1]["fid"]
    reached = next((row["minutes"] for row in sahit if row["fid"] <= final), None)
    return {
        "sahit_below_at_every_checkpoint": all(s["fid"] < g["fid"] for s, g in pairs),
        "checkpoints_compared": len(pairs),
        "studiogan_final_fid": final,
        "studiogan_minutes": studiogan[-1]["minutes"],
        "sahit_minutes_to_studiogan_final_fid": reached,
        "time_fraction": None if reached is None else round(reached / studiogan[-1]["minutes"], 3),
    }


def class_grids(out: Path, docs: Path, per_class: int = 10) -> list[Path]:
    """One row per class of each arm's last samples (sahit: its EMA G): ``race_grid_<arm>.png``."""
    return [class_grid(out / arm, prefix, docs / f"race_grid_{arm}.png", per_class)
            for arm, prefix in (("studiogan", ""), ("sahit", "ema-"))]


def class_grid(arm_dir: Path, prefix: str, target: Path, per_class: int = 10) -> Path:
    """One row per class of an arm's last snapshot's samples (``prefix="ema-"``: the EMA G's)."""
    import numpy as np

    from sahit.images import save_grid

    last = json.loads((arm_dir / "train.json").read_text())["snapshots"][-1]["snapshot"]
    data = np.load(arm_dir / "samples" / (prefix + Path(last).with_suffix(".npz").name))
    images, labels = torch.from_numpy(data["arr_0"]), torch.from_numpy(data["labels"])
    rows = [images[labels == c][:per_class] for c in labels.unique().tolist()]
    grid = torch.cat(rows).permute(0, 3, 1, 2).float() / 127.5 - 1
    return save_grid(grid, target, nrow=per_class)


def plot(result: dict[str, Any], docs: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {"StudioGAN (fp32)": result["arms"]["studiogan"]["checkpoints"],
              f"sahit EMA G ({result['arms']['sahit']['precision']})": result["arms"]["sahit"]["checkpoints"],
              "sahit raw G": result["arms"]["sahit"]["raw_checkpoints"]}
    styles = {"StudioGAN (fp32)": ("tab:red", "-"), "sahit raw G": ("tab:blue", ":")}
    paths = []
    for x, label, name in (("minutes", "training time (minutes)", "race_fid_minutes.png"),
                           ("g_steps", "G steps", "race_fid_steps.png")):
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for curve, rows in curves.items():
            color, line = styles.get(curve, ("tab:blue", "-"))
            ax.plot([r[x] for r in rows], [r["fid"] for r in rows], line, marker="o", ms=3, color=color, label=curve)
        ax.set_xlabel(label)
        ax.set_ylabel("FID (domain extractor, held-out 5k)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_title(f"CIFAR-10 SAGAN, {result['machine']['cores']} CPU cores")
        fig.tight_layout()
        docs.mkdir(parents=True, exist_ok=True)
        fig.savefig(docs / name)
        plt.close(fig)
        paths.append(docs / name)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for curve, rows in curves.items():
        color, line = styles.get(curve, ("tab:blue", "-"))
        ax.plot([r["minutes"] for r in rows], [r["acc"] for r in rows], line, marker="o", ms=3, color=color,
                label=curve)
    ax.axhline(result["reference"].get("extractor_holdout_accuracy") or 0, color="gray", lw=0.8, ls="--",
               label="real held-out images")
    ax.set_xlabel("training time (minutes)")
    ax.set_ylabel("class accuracy of conditional samples")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(docs / "race_accuracy_minutes.png")
    plt.close(fig)
    paths.append(docs / "race_accuracy_minutes.png")
    return paths


def _extractor_accuracy(path: Path) -> float | None:
    """The extractor's accuracy on the held-out real images (``sahit features fit --holdout``)."""
    info = json.loads((path / "config.json").read_text()).get("info", {})
    return info.get("holdout_accuracy")


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cpu": model, "cores": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version()}


def print_table(result: dict[str, Any]) -> None:
    arms = result["arms"]
    print(f"{'min':>6} | {'StudioGAN steps':>15} {'FID':>7} {'acc':>5} | {'sahit steps':>11} {'FID':>7} {'acc':>5}"
          f" {'raw FID':>7}")
    for g, s, r in zip(arms["studiogan"]["checkpoints"], arms["sahit"]["checkpoints"], arms["sahit"]["raw_checkpoints"]):
        print(f"{g['minutes']:6.1f} | {g['g_steps']:15d} {g['fid']:7.3f} {g['acc']:5.2f} | {s['g_steps']:11d} "
              f"{s['fid']:7.3f} {s['acc']:5.2f} {r['fid']:7.3f}")
    print(json.dumps(result["verdict"], indent=2))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--studiogan", required=True, help="a checkout of POSTECH-CVLab/PyTorch-StudioGAN")
    p.add_argument("--studiogan-python", default=sys.executable, help="a Python with StudioGAN's requirements")
    p.add_argument("--data", default=str(ROOT.parent / "shared/data/cifar10/train"), help="CIFAR-10 class folders")
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/race"), help="runs, samples, snapshots")
    p.add_argument("--docs", default=str(ROOT / "docs/race"), help="where race.json and the plots go")
    p.add_argument("--arms", default="studiogan,sahit", type=lambda s: s.split(","))
    p.add_argument("--minutes", type=float, default=40.0, help="training time of each arm")
    p.add_argument("--snapshot-minutes", type=float, default=2.0, help="training time between evaluations")
    p.add_argument("--holdout", type=int, default=5000, help="class-balanced images kept out as the reference")
    p.add_argument("--n", type=int, default=5000, help="class-balanced samples per evaluation")
    p.add_argument("--features", default=None, help="a domain extractor (default: fitted into --out)")
    p.add_argument("--features-steps", type=int, default=1500, help="extractor training (1500: ~0.7 held-out accuracy)")
    p.add_argument("--sahit-preset", default="cifar10-small")
    p.add_argument("--g-conv-dim", type=int, default=16, help="StudioGAN's G width (sahit g_width = 4x)")
    p.add_argument("--d-conv-dim", type=int, default=32, help="StudioGAN's D width (sahit d_width = 2x)")
    p.add_argument("--lr-g", type=float, default=1e-4)
    p.add_argument("--lr-d", type=float, default=4e-4)
    p.add_argument("--beta1", type=float, default=0.0)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--n-dis", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--replot", action="store_true", help="only redraw the plots and grids from --docs/race.json")
    args = p.parse_args()
    if args.replot:
        result = json.loads((Path(args.docs) / "race.json").read_text())
        reference = result["reference"]
        if reference.get("extractor_holdout_accuracy") is None and Path(reference["extractor"]).is_dir():
            reference["extractor_holdout_accuracy"] = _extractor_accuracy(Path(reference["extractor"]))
            (Path(args.docs) / "race.json").write_text(json.dumps(result, indent=2))
        plot(result, Path(args.docs))
        class_grids(Path(args.out), Path(args.docs))
        print_table(result)
        return
    if not Path(args.data).is_dir():
        raise SystemExit(f"--data {args.data}: no such folder (CIFAR-10 as class folders)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "held_out.json").write_text(json.dumps(held_out_paths(Path(args.data), args.holdout)))
    extractor_path = domain_extractor(args)
    reference = reference_stats(args, extractor_path)
    train_arms(args)
    extractor = load_extractor(extractor_path)
    arms: dict[str, Any] = {}
    for arm in ("studiogan", "sahit"):
        record = json.loads((out / arm / "train.json").read_text())
        arms[arm] = {"g_params": record["g_params"], "d_params": record["d_params"],
                     "training_images": record["training_images"], "precision": record.get("precision", "fp32"),
                     "checkpoints": score_arm(out / arm, reference, extractor, "ema-" if arm == "sahit" else "")}
    arms["sahit"]["raw_checkpoints"] = score_arm(out / "sahit", reference, extractor)
    result = {"command": "python -m benchmarks.race_studiogan " + " ".join(sys.argv[1:]), "machine": machine(),
              "reference": {"data": args.data, "holdout": args.holdout, "samples_per_evaluation": args.n,
                            "extractor": str(extractor_path), "reference_images": load_stats(reference).n,
                            "extractor_holdout_accuracy": _extractor_accuracy(extractor_path)},
              "recipe": {"lr_g": args.lr_g, "lr_d": args.lr_d, "betas": [args.beta1, args.beta2],
                         "n_dis": args.n_dis, "batch_size": args.batch_size, "g_conv_dim": args.g_conv_dim,
                         "d_conv_dim": args.d_conv_dim, "minutes": args.minutes},
              "arms": arms, "verdict": verdict(arms["sahit"]["checkpoints"], arms["studiogan"]["checkpoints"])}
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "race.json").write_text(json.dumps(result, indent=2))
    plot(result, docs)
    class_grids(out, docs)
    print_table(result)


if __name__ == "__main__":
    main()
