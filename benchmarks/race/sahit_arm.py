"""The race's sahit arm: a training preset run by sahit's own trainer for a fixed training time.

::

    python -m benchmarks.race.sahit_arm --preset cifar10-small --data DIR --out DIR --minutes 40 [KEY=VALUE ...]

The trainer is built exactly as ``sahit train`` builds it (preset, then overrides) and advanced step by
step with ``Trainer.advance`` (the step ``fit`` takes, with its EMA update); the clock counts those only. At every ``--snapshot-minutes``
of training the generator and its EMA copy are saved (outside the clock) to ``snapshots/``; after
training, class-balanced samples of both are written to ``samples/`` for the race's evaluation.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from sahit.training.loop import Trainer
from sahit.training.run import prepare_run


def train(args: argparse.Namespace) -> Trainer:
    out = Path(args.out)
    cfg, run_dir = prepare_run(args.preset, out / "run", args.data, ["progress=false", *args.overrides])
    trainer = Trainer(cfg, run_dir)
    snapshots = out / "snapshots"
    snapshots.mkdir(parents=True, exist_ok=True)
    print(f"sahit: {cfg.model.name} {cfg.model.args}, precision {trainer.amp_dtype or 'fp32'}, "
          f"{len(trainer.dataset):,} training images", flush=True)
    budget, every = args.minutes * 60.0, args.snapshot_minutes * 60.0
    trained, next_snapshot, records = 0.0, every, []
    batches = trainer.batches()
    while trained < budget:
        start = time.perf_counter()
        stats = trainer.advance(batches)
        if stats is None:
            raise RuntimeError(f"non-finite step at {trainer.step}: the race does not skip steps")
        trained += time.perf_counter() - start
        if trained >= next_snapshot or trained >= budget:
            name = f"G-{len(records):03d}.safetensors"
            save_file(_state(trainer.G), snapshots / name)
            save_file(_state(trainer.ema.net), snapshots / ("ema-" + name))
            records.append({"minutes": trained / 60, "g_steps": trainer.step, "snapshot": name})
            print(f"sahit: {trained / 60:6.2f} min  step {trainer.step}  loss_g {float(stats['loss_g']):.3f}",
                  flush=True)
            next_snapshot += every
    g_params = sum(p.numel() for p in trainer.G.parameters())
    d_params = sum(p.numel() for p in trainer.D.parameters())
    (out / "train.json").write_text(json.dumps(
        {"arm": "sahit", "g_params": g_params, "d_params": d_params, "training_images": len(trainer.dataset),
         "snapshots": records, "config": cfg.to_dict(), "precision": str(trainer.amp_dtype or "fp32")}, indent=2))
    return trainer


def _state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}


def sample(trainer: Trainer, out: Path, n: int, seed: int) -> None:
    """Class-balanced samples (fp32, eval mode) of every snapshot, raw and EMA, as ``samples/*.npz``."""
    record = json.loads((out / "train.json").read_text())
    G = trainer.ema.net.eval()
    classes = max(G.num_classes, 1)
    labels = torch.arange(n) % classes
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    for entry in record["snapshots"]:
        for name in (entry["snapshot"], "ema-" + entry["snapshot"]):
            target = out / "samples" / name.replace(".safetensors", ".npz")
            G.load_state_dict(load_file(out / "snapshots" / name))
            images = []
            with torch.no_grad():
                for i in range(0, n, 500):
                    x = G(z[i:i + 500].to(trainer.device), labels[i:i + 500].to(trainer.device) if G.num_classes else None)
                    images.append(((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu())
            target.parent.mkdir(parents=True, exist_ok=True)
            np.savez(target, arr_0=torch.cat(images).numpy(), labels=labels.numpy())
        print(f"sahit: sampled {entry['snapshot']}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="cifar10-small")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=40.0)
    p.add_argument("--snapshot-minutes", type=float, default=2.0)
    p.add_argument("--n", type=int, default=5000, help="samples per snapshot")
    p.add_argument("--sample-seed", type=int, default=123)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("overrides", nargs="*", help="KEY=VALUE config overrides, as for sahit train")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    trainer = train(args)
    sample(trainer, Path(args.out), args.n, args.sample_seed)


if __name__ == "__main__":
    main()
