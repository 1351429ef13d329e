"""The best CIFAR-10 SAGAN recipe for a 2-core CPU: held-out FID after a fixed wall-clock budget.

Question: which changes to ``cifar10-small`` (learning rates, batch size, widths, EMA) lower its held-out
FID after 10 (and 40) minutes of this 2-core CPU? The zoo's ``cifar10-sagan`` is trained with the winner.

Budget, robust to a busy machine: every arm trains the number of G steps it makes in ``--minutes`` on a
quiet 2-core machine. That number is the baseline's quiet rate (8,395 steps in 40 minutes, docs/race.md)
times the ratio of the baseline's step time to the arm's, both probed here one after the other (a
ratio survives other load on the machine where an absolute time does not). Runs then train with one
thread each, two at a time if wanted, and take as long as they take.

Arms (all cifar10-small: StudioGAN's CIFAR-10 SAGAN, G and D width 64, hinge loss, Adam (0, 0.999),
bf16 where native, flips, EMA with a 500k-image half-life ramped up over 5% of the images seen):

- ``base``: the preset as it was (batch 64, the paper's TTUR: lr G 1e-4, D 4e-4);
- ``lr2x``: both learning rates doubled (2e-4 / 8e-4);
- ``batch32``: batch 32 at the base learning rates (about twice the G steps in the same time);
- ``batch32_lr2x``: both.

``--family hit`` asks the same of ``hit-cifar10-small`` (HiT's recipe: logistic loss, lazy R1, Adam (0, 0.99),
G and D updated together; batch 32, lr 2e-4 for both), more briefly: ``base``, ``lr2x`` (4e-4 for both) and
``batch64`` (batch 64 at the base rates, about half the steps). Its quiet rate: 17,807 steps in 40 minutes
(docs/race.md).

Run:    python -m experiments.cpu_recipe --cifar10 ~/cifar10/train            (10 minutes, 2 seeds)
        python -m experiments.cpu_recipe --cifar10 ~/cifar10/train --minutes 40 --arms base,lr2x
        python -m experiments.cpu_recipe --cifar10 ~/cifar10/train --family hit
Writes: experiments/results/cpu_recipe_cifar10.json (cpu_recipe_40min_cifar10.json with --minutes 40,
cpu_recipe_hit_cifar10.json with --family hit); runs under experiments/runs/.
Scores: FID, class accuracy and intra-FID of 5,000 EMA samples against the 5,000 held-out images, in the
features of ``--features`` (default: the zoo's CIFAR-10 extractor).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from experiments.common import (
    Arm,
    add_common_args,
    cifar10_setting,
    probe_step_time,
    run_experiment,
)

NAME = "cpu_recipe"
CLAIM = "a {preset} variant lowers held-out FID at a fixed wall-clock budget on a 2-core CPU"
PRESETS = {"sagan": "cifar10-small", "hit": "hit-cifar10-small"}
# each preset's steps per second on a quiet 2-core machine, 2 threads, bf16: docs/race.md's 40-minute runs
QUIET_STEPS_PER_SECOND = {"sagan": 8395 / 2400, "hit": 17807 / 2400}
COST_FREE_KEYS = {"lr_g", "lr_d", "betas_g", "betas_d", "ema_kimg", "ema_rampup"}  # change no step's cost


def arms(family: str = "sagan") -> list[Arm]:
    """The arms of ``family``. Each names its learning rates: the experiment stays the same when its winner
    becomes the preset's (as cifar10-small's did)."""
    preset = PRESETS[family]
    if family == "hit":
        rates = ["lr_g=2e-4", "lr_d=2e-4"]
        return [
            Arm("base", preset, rates, "hit-cifar10-small as it was (batch 32, lr 2e-4 for G and D)"),
            Arm("lr2x", preset, ["lr_g=4e-4", "lr_d=4e-4"], "learning rates doubled (4e-4 for G and D)"),
            Arm("batch64", preset, ["batch_size=64", *rates], "batch 64"),
        ]
    rates = ["lr_g=1e-4", "lr_d=4e-4"]
    return [
        Arm("base", preset, rates, "cifar10-small as it was (batch 64, lr 1e-4 / 4e-4)"),
        Arm("lr2x", preset, ["lr_g=2e-4", "lr_d=8e-4"], "learning rates doubled (2e-4 / 8e-4)"),
        Arm("batch32", preset, ["batch_size=32", *rates], "batch 32"),
        Arm("batch32_lr2x", preset, ["batch_size=32", "lr_g=2e-4", "lr_d=8e-4"], "batch 32, learning rates doubled"),
    ]


def baseline_steps(family: str, minutes: float) -> int:
    """The G steps the baseline makes in ``minutes`` of a quiet 2-core machine."""
    return int(minutes * 60 * QUIET_STEPS_PER_SECOND[family])


def budget_steps(chosen: list[Arm], minutes: float, root: Path, args: argparse.Namespace, data: str,
                 family: str = "sagan") -> list[Arm]:
    """Each arm with the steps it makes in ``minutes`` on a quiet machine (probed ratio to the baseline)."""
    probe_args = argparse.Namespace(batch_size=args.batch_size)

    def step_time(arm: Arm, *extra: str) -> float:
        probed = Arm(arm.name, arm.preset, [*arm.overrides, f"data_holdout={args.holdout}", *extra], arm.label)
        return probe_step_time(root / "probes", probed, probe_args, data)["sec_per_step"]

    base = next(a for a in arms(family) if a.name == "base")
    step_time(base, "log_every=1")  # warm-up: the first probe runs cold
    out = []
    for arm in chosen:  # three interleaved rounds of base and arm: the median ratio outlasts bursts of other load
        if all(o.split("=", 1)[0] in COST_FREE_KEYS for o in arm.overrides):
            ratio = 1.0  # the same computation as the baseline's: the same steps, not a noisy probe's
        else:
            ratio = statistics.median(step_time(arm, f"log_every={10 + r}") / step_time(base, f"log_every={10 + r}")
                                      for r in range(3))
        steps = int(minutes * 60 * QUIET_STEPS_PER_SECOND[family] / ratio)
        arm.steps = steps
        arm.notes.update(step_time_ratio=round(ratio, 3), quiet_minutes=minutes)
        out.append(arm)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # batch None: every arm at its preset's batch (cifar10-small 64, hit-cifar10-small 32) unless it sets its own
    add_common_args(parser, NAME, steps=0, seeds=[0, 1], eval_points=2, batch_size=None, eval_n=5000,
                    cifar10={"steps": 1, "seeds": [0, 1], "eval_points": 2, "eval_n": 5000})
    parser.add_argument("--minutes", type=float, default=10.0, help="quiet 2-core minutes per run (default 10)")
    parser.add_argument("--family", choices=sorted(PRESETS), default="sagan",
                        help="sagan: cifar10-small's arms (default); hit: hit-cifar10-small's")
    parser.add_argument("--features", default="zoo:cifar10",
                        help="feature extractor folder (default: the zoo's CIFAR-10 extractor)")
    args = parser.parse_args(argv)
    if not args.cifar10:
        raise SystemExit("--cifar10 PATH is required: this experiment is about real CIFAR-10 on a CPU")
    for key, value in args.cifar10_defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    setting = cifar10_setting(args.cifar10, args.holdout)
    name = NAME + ("" if args.family == "sagan" else f"_{args.family}")
    name += "" if args.minutes == 10 else f"_{args.minutes:g}min"
    root = Path(args.out).resolve()
    started = time.perf_counter()
    chosen = budget_steps(select(arms(args.family), args.arms), args.minutes, root / f"{name}_cifar10", args,
                          setting.data, args.family)
    args.arms = None  # already selected
    print(f"[{name}] steps per arm: " + ", ".join(f"{a.name} {a.steps}" for a in chosen)
          + f" (probes took {time.perf_counter() - started:.0f} s)", flush=True)
    # the JSON's budget (arms set their own steps): the baseline's, whichever arms this invocation runs, so that
    # invocations with other arms share one JSON
    args.steps = baseline_steps(args.family, args.minutes)
    preset = PRESETS[args.family]
    return run_experiment(name, CLAIM.format(preset=preset), chosen, args, setting=setting, features=args.features,
                          budget={"minutes": args.minutes, "preset": preset,
                                  "quiet_steps_per_second": round(QUIET_STEPS_PER_SECOND[args.family], 4)})


def select(all_arms: list[Arm], spec: str | None) -> list[Arm]:
    from experiments.common import select_arms

    return select_arms(all_arms, spec)


if __name__ == "__main__":
    main()
