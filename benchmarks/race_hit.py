"""HiT against SAGAN on real CIFAR-10 at equal training time, scored as the race against StudioGAN.

::

    python -m benchmarks.race_hit [--race-out benchmarks/results/race] [--data ../shared/data/cifar10/train]
                                  [--preset hit-cifar10-small] [--minutes 40] [--docs docs/race]

Run after ``benchmarks.race_studiogan`` (it reuses that run's ``--out``: the domain extractor, the
held-out reference statistics and the scores of its sahit arm, ``cifar10-small``'s SAGAN, from
``--docs``/race.json). Trains the HiT preset with the race's sahit arm (``benchmarks/race/sahit_arm.py``:
the same clock, a snapshot every 2 minutes, 5,000 class-balanced samples per snapshot) unless
``--race-out``/hit already holds a trained run, scores every snapshot (EMA and raw G) with the same
extractor against the same held-out images, and writes ``hit_vs_sagan.json``, a plot of FID against
training time (``hit_vs_sagan_fid_minutes.png``) and HiT's class grid at the end (``race_grid_hit.png``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.race_studiogan import METRICS, ROOT, class_grid, machine, score_arm
from sahit.metrics.loading import load_extractor


def plot(result: dict[str, Any], target: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    curves = (("SAGAN cifar10-small, EMA G", result["sagan"]["checkpoints"], "tab:blue", "-"),
              ("HiT hit-cifar10-small, EMA G", result["hit"]["checkpoints"], "tab:green", "-"),
              ("HiT raw G", result["hit"]["raw_checkpoints"], "tab:green", ":"))
    for label, rows, color, line in curves:
        ax.plot([r["minutes"] for r in rows], [r["fid"] for r in rows], line, marker="o", ms=3, color=color,
                label=label)
    ax.set_xlabel("training time (minutes)")
    ax.set_ylabel("FID (domain extractor, held-out 5k)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"CIFAR-10, {result['machine']['cores']} CPU cores")
    fig.tight_layout()
    fig.savefig(target)
    plt.close(fig)
    return target


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--race-out", default=str(ROOT / "benchmarks/results/race"), help="the race's --out")
    p.add_argument("--data", default=str(ROOT.parent / "shared/data/cifar10/train"), help="CIFAR-10 class folders")
    p.add_argument("--docs", default=str(ROOT / "docs/race"), help="the race's --docs (race.json is read there)")
    p.add_argument("--preset", default="hit-cifar10-small")
    p.add_argument("--minutes", type=float, default=40.0)
    p.add_argument("--lr", type=float, default=2e-4,
                   help="G and D learning rate (default 2e-4, the race's; the preset now trains at 4e-4)")
    p.add_argument("--n", type=int, default=5000, help="class-balanced samples per evaluation")
    args = p.parse_args()
    out, docs = Path(args.race_out), Path(args.docs)
    race = json.loads((docs / "race.json").read_text())
    arm_dir = out / "hit"
    if not (arm_dir / "train.json").is_file():
        command = [sys.executable, "-m", "benchmarks.race.sahit_arm", "--preset", args.preset, "--data", args.data,
                   "--out", str(arm_dir), "--minutes", str(args.minutes), "--n", str(args.n),
                   f"data_holdout={race['reference']['holdout']}", f"lr_g={args.lr}", f"lr_d={args.lr}"]
        print("race_hit: $ " + " ".join(command), flush=True)
        subprocess.run(command, check=True, cwd=ROOT)
    extractor = load_extractor(out / "extractor")
    record = json.loads((arm_dir / "train.json").read_text())
    hit = {"preset": args.preset, "g_params": record["g_params"], "d_params": record["d_params"],
           "precision": record["precision"], "training_images": record["training_images"],
           "checkpoints": score_arm(arm_dir, out / "reference.npz", extractor, "ema-"),
           "raw_checkpoints": score_arm(arm_dir, out / "reference.npz", extractor)}
    sagan = {key: race["arms"]["sahit"][key] for key in ("g_params", "d_params", "precision", "checkpoints")}
    result = {"command": "python -m benchmarks.race_hit " + " ".join(sys.argv[1:]), "machine": machine(),
              "reference": race["reference"], "metrics": list(METRICS), "sagan": {"preset": "cifar10-small", **sagan},
              "hit": hit}
    (docs / "hit_vs_sagan.json").write_text(json.dumps(result, indent=2))
    plot(result, docs / "hit_vs_sagan_fid_minutes.png")
    class_grid(arm_dir, "ema-", docs / "race_grid_hit.png")
    print(f"{'min':>6} | {'SAGAN steps':>11} {'FID':>7} {'acc':>5} | {'HiT steps':>9} {'FID':>7} {'acc':>5} {'raw FID':>7}")
    for s, h, r in zip(sagan["checkpoints"], hit["checkpoints"], hit["raw_checkpoints"]):
        print(f"{s['minutes']:6.1f} | {s['g_steps']:11d} {s['fid']:7.3f} {s['acc']:5.2f} | {h['g_steps']:9d} "
              f"{h['fid']:7.3f} {h['acc']:5.2f} {r['fid']:7.3f}")


if __name__ == "__main__":
    main()
