"""Shared runner of the paper reproductions in ``experiments/``: arms, runs, evaluation, one JSON.

An experiment is a list of *arms*; an arm is a name, a ``sahit train`` preset and ``key=value``
overrides. Every (arm, seed) trains in its own run folder ``OUT/EXPERIMENT/ARM/seedS`` through
``python -m sahit train`` in a subprocess, one after the other:

* a run that finished (its ``summary.json`` is at the arm's step count) is not started again;
  an interrupted one resumes from its last checkpoint (the trainer does that by itself);
* Ctrl-C or SIGTERM reaches the trainer as one SIGTERM: it saves a checkpoint, then the runner
  stops; the next invocation carries on from there;
* every run logs FID every ``steps / eval_points`` steps (the trainer's ``eval_every``) with a
  domain feature extractor fitted once per data set (cached in ``OUT/features``; reference
  statistics in ``OUT/cache``);
* after training, the final EMA generator is evaluated once (cached in the run folder by the
  hash of its weights): FID and ``symmetry_error`` (0 on the built-in data, whose images are all
  mirror-symmetric) of ``eval_n`` samples;
* an arm with a wall-clock budget (``Arm.seconds``) gets ``seconds / step time`` steps, the step
  time measured once on a few steps in this process (cached in ``OUT/EXPERIMENT/probes.json``);
* after every run the experiment's JSON is rewritten atomically: per-arm per-seed numbers, the
  mean and seed-to-seed spread, the budget, wall times, torch version and CPU. ``"complete"`` is
  true once every run is in; a run that failed (e.g. diverged past the trainer's rollbacks) is
  recorded as such, and not retried by later invocations unless ``--retry-failed``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXPERIMENTS = Path(__file__).resolve().parent
RESULTS = EXPERIMENTS / "results"
RUNS = EXPERIMENTS / "runs"
EVAL_SEED = 12345  # the same noise for every final evaluation
PROBE_STEPS = 6  # timed steps per probe, after 2 warm-up steps


@dataclass
class Arm:
    """One configuration of an experiment: ``sahit train --preset PRESET OVERRIDES... seed=S``."""

    name: str  # folder name and JSON key
    preset: str
    overrides: list[str]
    label: str  # one line for tables and plots
    seconds: float | None = None  # train for this wall-clock budget instead of the experiment's steps
    steps: int | None = None  # train this many steps instead of the experiment's (an arm's own budget)
    notes: dict[str, Any] = field(default_factory=dict)  # extra facts for the JSON (e.g. the paper's number)


RESOLUTION = 16  # the shapes experiments train on 16x16 built-in shapes: thousands of steps fit in minutes
SAGAN_PRESET = "quickstart"  # the 16 px SAGAN (SNGAN backbone, hinge loss, CBN, projection D) and its recipe
CIFAR10 = EXPERIMENTS.parent.parent / "shared" / "data" / "cifar10" / "train"  # ../shared next to the checkout


@dataclass(frozen=True)
class Setting:
    """Where an experiment's runs train and how they are scored: the built-in shapes or real CIFAR-10."""

    name: str  # "shapes" or "cifar10"; a CIFAR-10 experiment's results and runs carry the suffix "_cifar10"
    data: str  # sahit train --data
    resolution: int
    holdout: int  # class-balanced images held out of training: the final FID's reference (0: the training data)
    sagan_preset: str
    metrics: tuple[str, ...]  # of the final evaluation
    features_steps: int  # training steps of the domain feature extractor

    @property
    def real(self) -> bool:
        return self.name != "shapes"

    def experiment(self, name: str) -> str:
        return name if not self.real else f"{name}_{self.name}"


SHAPES = Setting("shapes", "builtin", RESOLUTION, 0, SAGAN_PRESET, ("fid", "symmetry_error"), 200)


def cifar10_setting(path: str | os.PathLike, holdout: int = 5000) -> Setting:
    """CIFAR-10 at 32 px from an ImageFolder ``path``: 5,000 class-balanced images held out as the reference
    (the split of ``data_holdout``, the same as docs/race.md's), SAGAN as the cifar10-small preset, and class
    accuracy and intra-FID beside FID (the domain extractor is fitted on the 45,000 training images, 1,500 steps:
    about 71% held-out accuracy)."""
    folder = Path(path)
    if not folder.is_dir():
        raise SystemExit(f"--cifar10 {folder} is not a folder (CIFAR-10's training images, one folder per class)")
    if holdout < 10:
        raise SystemExit(f"--holdout must be at least 10 (some images of every class), got {holdout}")
    return Setting("cifar10", str(folder.resolve()), 32, holdout, "cifar10-small", ("fid", "acc", "ifid"), 1500)


def setting_from_args(args: argparse.Namespace) -> Setting:
    """The setting ``--cifar10`` chose, with the experiment's per-setting defaults filled into ``args``."""
    setting = cifar10_setting(args.cifar10, args.holdout) if args.cifar10 else SHAPES
    defaults = args.cifar10_defaults if setting.real else args.shapes_defaults
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.features_steps is None:
        args.features_steps = setting.features_steps
    return setting


def cifar10_sagan_overrides(width: int) -> list[str]:
    """The cifar10-small preset (its recipe: TTUR 1e-4 / 4e-4, Adam (0, 0.999), BN momentum 0.1, EMA half-life
    in images, bf16 where native) at width ``width`` for G and D. Images are decoded as batches need them:
    a run of these experiments sees about one epoch, so decoding all 45,000 first would only add a wait."""
    # the rates these results were measured with, named: cifar10-small has trained at 2e-4 / 8e-4 since the CPU recipe
    return [f"model.g_width={width}", f"model.d_width={width}", "data_in_memory=false", "lr_g=1e-4", "lr_d=4e-4"]


def sagan_overrides(width: int) -> list[str]:
    """The small SAGAN all experiments share: the quickstart preset (16 px SNGAN backbone, hinge loss,
    attention at 16x16 in G and 8x8 in D) at width ``width`` for G and D, a short EMA (a run is a few
    thousand steps, not 100k; fixed, also on presets with a half-life: ema_kimg=0) and channels_last. Learning
    rates 4e-4 for G and D, the preset's when these results were measured (arms that compare learning rates set
    their own after these)."""
    return [f"model.g_width={width}", f"model.d_width={width}", "ema_kimg=0", "ema_rampup=0", "ema_decay=0.99",
            "ema_start=0", "channels_last=true", "lr_g=4e-4", "lr_d=4e-4"]


def add_common_args(parser: argparse.ArgumentParser, name: str, steps: int, seeds: list[int], eval_points: int,
                    batch_size: int | None = 32, eval_n: int = 2000, cifar10: dict[str, Any] | None = None) -> None:
    """The flags every experiment script has. ``cifar10``: the defaults that differ with ``--cifar10``
    (keys among steps, seeds, eval_points, eval_n), resolved by :func:`setting_from_args`. ``batch_size``
    None: each arm trains at its preset's batch size unless ``--batch-size`` is given."""
    shapes = {"steps": steps, "seeds": seeds, "eval_points": eval_points, "eval_n": eval_n}
    real = {**shapes, **(cifar10 or {})}

    def both(key: str) -> str:
        return f"{shapes[key]}; with --cifar10 {real[key]}" if real[key] != shapes[key] else f"{shapes[key]}"

    parser.set_defaults(name=name, shapes_defaults=shapes, cifar10_defaults=real)
    unset = shapes if cifar10 is None else dict.fromkeys(shapes)  # None: filled in by setting_from_args
    if cifar10 is not None:
        parser.add_argument("--cifar10", default=None, metavar="PATH",
                            help=f"train on real CIFAR-10 at 32 px from PATH (class folders, e.g. {CIFAR10}) instead "
                            f"of the 16 px built-in shapes; results go to {name}_cifar10.json")
        parser.add_argument("--holdout", type=int, default=5000,
                            help="with --cifar10: class-balanced images held out of training as the reference of "
                            "every FID (default 5000, as docs/race.md)")
    parser.add_argument("--steps", type=int, default=unset["steps"], help=f"G steps per run (default {both('steps')})")
    parser.add_argument("--seeds", type=int, nargs="+", default=unset["seeds"], help=f"seeds (default {both('seeds')})")
    parser.add_argument("--batch-size", type=int, default=batch_size,
                        help=f"batch size (default {batch_size if batch_size else 'the preset' + chr(39) + 's'})")
    parser.add_argument("--eval-n", type=int, default=unset["eval_n"],
                        help=f"samples (and at most as many reference images) for the metrics (default {both('eval_n')})")
    parser.add_argument("--eval-points", type=int, default=unset["eval_points"],
                        help=f"FID evaluations during each run (default {both('eval_points')}; 0: only at the end)")
    parser.add_argument("--arms", default=None, help="comma-separated subset of the arms (default: all)")
    parser.add_argument("--out", default=str(RUNS), help="results root: run folders, extractor, caches "
                        "(default experiments/runs, git-ignored)")
    parser.add_argument("--json", default=None,
                        help=f"result file (default experiments/results/{name}.json, or {name}_cifar10.json)")
    parser.add_argument("--features-steps", type=int, default=None,
                        help="training steps of the domain feature extractor (default 200, about a minute; "
                        "with --cifar10 1500, about two)")
    parser.add_argument("--retry-failed", action="store_true", help="run again the runs that failed last time")


def select_arms(arms: list[Arm], spec: str | None) -> list[Arm]:
    if not spec:
        return arms
    names = [s.strip() for s in spec.split(",") if s.strip()]
    known = {a.name: a for a in arms}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown arm(s) {', '.join(unknown)}; this experiment has {', '.join(known)}")
    return [known[n] for n in names]


# --------------------------------------------------------------------------------------- the runner


def sagan_experiment_main(name: str, claim: str, doc: str, make_arms: Callable[[int, Setting], list[Arm]],
                          eval_points: int, argv: list[str] | None = None,
                          cifar10: dict[str, Any] | None = None) -> dict:
    """Command line of a SAGAN experiment: the common flags plus ``--width``, then run its arms on the
    16 px shapes or (``--cifar10 PATH``) on CIFAR-10 at 32 px, with the defaults ``cifar10`` there."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser, name, steps=2000, seeds=[0, 1], eval_points=eval_points, cifar10=cifar10)
    parser.add_argument("--width", type=int, default=32, help="G and D width (default 32)")
    args = parser.parse_args(argv)
    setting = setting_from_args(args)
    return run_experiment(name, claim, make_arms(args.width, setting), args,
                          budget={"width": args.width, "resolution": setting.resolution, "preset": setting.sagan_preset},
                          setting=setting)


def run_experiment(name: str, claim: str, arms: list[Arm], args: argparse.Namespace, budget: dict[str, Any],
                   data: str = "builtin", resolution: int = RESOLUTION, reference: str | None = None,
                   features_data: str | None = None, setting: Setting | None = None,
                   features: str | None = None) -> dict[str, Any]:
    """Train and evaluate every (arm, seed) in turn, rewriting ``args.json`` after each; returns its content.

    The final FID is measured against ``reference`` (default: the training data ``data``) with a domain
    extractor fitted on ``features_data`` (default: ``data``); FID during training is always against ``data``.
    A ``setting`` (from :func:`setting_from_args`) replaces ``data`` and ``resolution``: on CIFAR-10, every run
    trains without the held-out images, which are the reference of every FID, during training and after.
    ``features``: a domain extractor to use (a folder or ``zoo:NAME``) instead of fitting one.
    """
    holdout, metrics = 0, SHAPES.metrics
    if setting is not None:
        name, data, resolution = setting.experiment(name), setting.data, setting.resolution
        holdout, metrics = setting.holdout, setting.metrics
    if getattr(args, "json", None) is None:
        args.json = str(RESULTS / f"{name}.json")
    arms = select_arms(arms, args.arms)
    if args.steps < 1 or args.eval_n < 2 or args.eval_points < 0 or not args.seeds:
        raise SystemExit("--steps must be >= 1, --eval-n >= 2, --eval-points >= 0, and --seeds non-empty")
    root = Path(args.out).resolve()
    started = time.perf_counter()
    if features is not None:
        from sahit.zoo import features_folder

        features = features_folder(features)
    else:
        features = ensure_extractor(root, features_data or data, resolution, args.features_steps or 200, holdout)
    payload: dict[str, Any] = {
        "experiment": name,
        "claim": claim,
        "complete": False,
        "command": " ".join([Path(sys.argv[0]).name if sys.argv and sys.argv[0] else name, *sys.argv[1:]]),
        "data": data,
        "resolution": resolution,
        "budget": {"steps": args.steps, "batch_size": args.batch_size, "seeds": list(args.seeds),
                   "eval_n": args.eval_n, "eval_points": args.eval_points, **budget},
        "reference": reference or data,
        "holdout": holdout,  # images of ``data`` held out of training: the reference when > 0
        "metrics": list(metrics),
        "extractor": {"path": os.path.relpath(features, root), "fitted_on": features_data or data,
                      "holdout": holdout,
                      **_extractor_info(features)},
        "machine": machine(),
        "arms": {},
    }
    for arm in arms:
        payload["arms"][arm.name] = {"label": arm.label, "preset": arm.preset, "overrides": arm.overrides,
                                     "seconds_budget": arm.seconds, **arm.notes, "runs": []}
    for arm in arms:
        for seed in args.seeds:
            try:
                record = run_arm(root, name, arm, seed, args, data, features, reference or data, holdout, metrics)
            except KeyboardInterrupt:
                raise SystemExit(f"[{name}] interrupted: the running arm saved a checkpoint; "
                                 f"run the same command again to carry on") from None
            entry = payload["arms"][arm.name]
            entry["runs"].append(record)
            entry.update(summarize(entry["runs"]))
            if "config" not in entry and record.get("config"):
                entry["config"] = record.pop("config")
            else:
                record.pop("config", None)
            payload["wall_seconds"] = round(time.perf_counter() - started, 1)
            merge_and_write(Path(args.json), payload)
    payload = merge_and_write(Path(args.json), payload)  # every run was attempted; failed ones are results too
    print(f"[{name}] wrote {args.json}")
    print(format_table(payload))
    return payload


def run_arm(root: Path, experiment: str, arm: Arm, seed: int, args: argparse.Namespace, data: str,
            features: Path, reference: str | None = None, holdout: int = 0,
            metrics: tuple[str, ...] = SHAPES.metrics) -> dict[str, Any]:
    """Train (or resume, or skip) one run, then evaluate it; returns its record for the JSON."""
    from sahit.runs import CONFIG

    run_dir = root / experiment / arm.name / f"seed{seed}"
    record: dict[str, Any] = {"seed": seed, "run_dir": os.path.relpath(run_dir, root)}
    steps = args.steps if arm.steps is None else arm.steps
    if arm.seconds is not None:
        probe = probe_step_time(root / experiment, arm, args, data)
        steps = max(1, int(arm.seconds / probe["sec_per_step"]))
        record.update(budget_seconds=arm.seconds, probe_sec_per_step=probe["sec_per_step"],
                      probe_threads=probe["threads"])
    record["steps"] = steps
    overrides = run_overrides(arm, seed, steps, args, features, holdout)
    tag = f"[{experiment}] {arm.name} seed {seed}"
    failed_marker = run_dir / "experiment_failed.json"
    if failed_marker.is_file() and args.retry_failed:
        failed_marker.unlink()
    if failed_marker.is_file() and json.loads(failed_marker.read_text()).get("steps") == steps:
        print(f"{tag}: failed before, skipped (--retry-failed runs it again)")
        return {**record, **json.loads(failed_marker.read_text()), "status": "failed"}
    if finished(run_dir, steps):
        print(f"{tag}: finished before, not retrained")
        record["trained_now"] = False
    else:
        check_settings(run_dir, arm.preset, data, overrides, tag)
        print(f"{tag}: training {steps} steps in {run_dir}", flush=True)
        rc = train_subprocess(run_dir, arm.preset, data, overrides, root)
        error = _last_line(run_dir / "experiment.log")
        if rc >= 128 or rc < 0:  # the trainer was stopped by a signal (SIGINT/SIGTERM: after a checkpoint)
            raise SystemExit(f"{tag}: training was interrupted ({error}); run the experiment again to resume")
        if rc != 0 and not (run_dir / CONFIG).is_file():  # refused before starting: a bad arm, not a result
            raise SystemExit(f"{tag}: sahit train refused the arm's settings: {error}")
        # Anything else (divergence past the trainer's rollbacks, a crash) is a result of the arm: recorded,
        # skipped by later invocations unless --retry-failed, and the experiment goes on.
        if rc != 0 or not finished(run_dir, steps):
            print(f"{tag}: FAILED (exit code {rc}): {error}")
            failure = {"steps": steps, "exit_code": rc, "error": error}
            write_json_atomic(failed_marker, failure)
            return {**record, **failure, "status": "failed"}
        record["trained_now"] = True
    record.update(run_facts(run_dir))
    record.update(evaluate_run(run_dir, root, reference or data, features, args.eval_n, holdout, metrics))
    record["status"] = "ok"
    scores = ", ".join(f"{m} {record[m]:.4g}" for m in metrics)
    print(f"{tag}: {scores}, {record['train_seconds']:.0f} s of training", flush=True)
    return record


def run_overrides(arm: Arm, seed: int, steps: int, args: argparse.Namespace, features: Path,
                  holdout: int = 0) -> list[str]:
    """The arm's overrides plus the run's seed, budget, schedule and evaluation settings."""
    eval_every = max(1, steps // args.eval_points) if args.eval_points else 0
    return [
        *arm.overrides,
        *([f"data_holdout={holdout}"] if holdout else []),
        f"seed={seed}",
        f"steps={steps}",
        "lr_decay_start=1.0",  # a constant learning rate in every arm, whatever the preset's schedule
        *_batch_size(arm, args),
        f"ckpt_every={max(1, steps // 5)}",  # an interruption loses at most a fifth of the run
        f"sample_every={max(1, steps // 2)}",
        f"log_every={max(1, min(25, steps // 10))}",
        f"eval_every={eval_every}",
        f"eval_n={args.eval_n}",
        f"eval_features={features}",
        "progress=false",
    ]


def _batch_size(arm: Arm, args: argparse.Namespace) -> list[str]:
    """``batch_size=--batch-size``, unless the arm sets its own or there is none (the preset's, then)."""
    own = any(o.startswith("batch_size=") for o in arm.overrides)
    return [] if own or args.batch_size is None else [f"batch_size={args.batch_size}"]


def check_settings(run_dir: Path, preset: str, data: str, overrides: list[str], tag: str) -> None:
    """Stop before training if ``sahit train`` would refuse the arm: a bad setting, or a run already in
    ``run_dir`` made with other settings (a budget other than --steps changed: use another --out)."""
    from sahit.training.config import ConfigError
    from sahit.training.run import prepare_run

    try:
        prepare_run(preset, out=run_dir, data=data, overrides=overrides)
    except ConfigError as exc:
        raise SystemExit(f"{tag}: {exc}") from None


def train_subprocess(run_dir: Path, preset: str, data: str, overrides: list[str], root: Path) -> int:
    """``python -m sahit train`` into ``run_dir`` (output appended to run_dir/experiment.log); its exit code.

    The trainer runs in its own session, so a Ctrl-C at the terminal reaches only this process, which
    passes one SIGTERM on (the trainer then checkpoints and exits) and stops after it.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "sahit", "train", "--preset", preset, "--data", data, "--out", str(run_dir),
           *overrides]
    env = {**os.environ, "SAHIT_CACHE": str(root / "cache")}
    start = time.perf_counter()

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with open(run_dir / "experiment.log", "a") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        previous = signal.signal(signal.SIGTERM, interrupt)
        try:
            rc = proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGTERM)  # the trainer saves a checkpoint and exits
            proc.wait()
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)
            with open(run_dir / "experiment_sessions.jsonl", "a") as sessions:
                sessions.write(json.dumps({"seconds": round(time.perf_counter() - start, 2),
                                           "exit_code": proc.returncode}) + "\n")
    return rc


def finished(run_dir: Path, steps: int) -> bool:
    """The trainer's own test: the run finished (summary.json after the export) at ``steps``."""
    from sahit.runs import finished_step

    return finished_step(run_dir) == steps


def run_facts(run_dir: Path) -> dict[str, Any]:
    """Wall time, step time, sessions, FID curve and parameter counts of a finished run."""
    from sahit.runs import read_config, read_jsonl, read_log

    sessions = read_jsonl(run_dir / "experiment_sessions.jsonl")
    log = read_log(run_dir)
    rates = [r["it_per_s"] for r in log if r.get("it_per_s")]
    config = read_config(run_dir)  # the flat names, whatever schema config.yaml was written with
    return {
        "train_seconds": round(sum(s["seconds"] for s in sessions), 1),  # subprocess wall time, all sessions
        "sessions": len(sessions),
        "sec_per_step": round(1 / statistics.median(rates), 4) if rates else None,
        "fid_curve": fid_curve(log),
        **parameter_counts(config),
        "config": config,
    }


def fid_curve(log: list[dict[str, Any]]) -> list[list[float]]:
    """[[step, FID], ...] from the trainer's log; a step evaluated again after a resume keeps its last value."""
    by_step = {int(r["step"]): float(r["fid"]) for r in log if "fid" in r}
    return [[s, by_step[s]] for s in sorted(by_step)]


def parameter_counts(config: dict[str, Any]) -> dict[str, int]:
    from sahit.models import build

    G, D = build(config["model"], **config.get("model_args", {}))
    return {"g_params": sum(p.numel() for p in G.parameters()), "d_params": sum(p.numel() for p in D.parameters())}


# ------------------------------------------------------------------------------------ evaluation


def ensure_extractor(root: Path, data: str, resolution: int, steps: int, holdout: int = 0) -> Path:
    """A domain feature extractor for ``data`` at ``resolution``, fitted once and kept in ROOT/features;
    ``holdout`` > 0: fitted on the training part only, its accuracy on the held-out part recorded."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", data).strip("_")
    folder = root / "features" / (f"{safe}-{resolution}px-{steps}steps" + (f"-holdout{holdout}" if holdout else ""))
    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        return folder
    from sahit.data import make_dataset
    from sahit.metrics import fit_domain_extractor, save_domain_extractor

    print(f"fitting a domain feature extractor on {data} ({resolution}px, {steps} steps) into {folder}", flush=True)
    dataset = make_dataset(data, resolution, train=True, holdout=holdout, split="train")
    extractor = fit_domain_extractor(dataset, int(dataset.num_classes), resolution, steps=steps, progress=False,
                                     data_name=data, batch_size=64 if holdout else 32)
    if holdout:
        from sahit.metrics.domain import classification_accuracy

        extractor.info.update(holdout=holdout, holdout_accuracy=classification_accuracy(
            extractor, make_dataset(data, resolution, train=True, holdout=holdout, split="holdout"), progress=False))
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    save_domain_extractor(extractor, tmp)
    os.replace(tmp, folder)  # another process may not see half an extractor
    return folder


def _extractor_info(folder: Path) -> dict[str, Any]:
    from sahit.metrics import load_domain_extractor

    extractor = load_domain_extractor(folder)
    return {"weights_hash": extractor.weights_hash, "feature_dim": extractor.feature_dim, "info": extractor.info}


def evaluate_run(run_dir: Path, root: Path, data: str, features: Path, n: int, holdout: int = 0,
                 metrics: tuple[str, ...] = SHAPES.metrics) -> dict[str, Any]:
    """``metrics`` of ``n`` samples of the run's EMA generator (classes balanced) against ``data`` (its
    ``holdout`` held-out images when > 0); cached by the weights' hash. ``symmetry_error`` is the samples'
    own, the rest are :mod:`sahit.metrics` names (fid, acc, ifid...)."""
    from sahit.runs import EXPORT

    weights = run_dir / EXPORT / "generator_ema.safetensors"
    if not weights.is_file():
        weights = run_dir / EXPORT / "generator.safetensors"
    key = {"weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(), "eval_n": n, "eval_seed": EVAL_SEED,
           "extractor": str(features.name)}
    if data != "builtin":
        key["reference"] = data
    if holdout or tuple(metrics) != SHAPES.metrics:
        key.update(holdout=holdout, metrics=list(metrics))
    cache = run_dir / "experiment_eval.json"
    if cache.is_file():
        stored = json.loads(cache.read_text())
        if stored.get("key") == key:
            return stored["result"]
    import torch

    import sahit
    from sahit.data import symmetry_error
    from sahit.metrics import cached_reference_stats, evaluate_features, extract_features, load_domain_extractor

    start = time.perf_counter()
    G = sahit.load(run_dir)  # the EMA generator
    extractor = load_domain_extractor(features)
    reference = cached_reference_stats(data, G.resolution, extractor, n=n, holdout=holdout,
                                       cache_dir=root / "cache" / "stats", progress=False)
    named = tuple(m for m in metrics if m != "symmetry_error")
    with torch.no_grad():
        images = G.sample(n, seed=EVAL_SEED)  # (n, 3, R, R) in [-1, 1], classes balanced: 0, 1, ..., K-1, 0, ...
        labels = G.sample_labels(n, None)
        fake = extract_features(((images[i : i + 100], None if labels is None else labels[i : i + 100])
                                 for i in range(0, n, 100)), extractor,
                                keep_features=n <= extractor.feature_dim or "ifid" in named,
                                keep_logits="acc" in named, progress=False)
    scores = evaluate_features(reference, fake, extractor, named)
    result: dict[str, Any] = {m: scores[m].value for m in named}
    if "symmetry_error" in metrics:
        result["symmetry_error"] = symmetry_error(images)
    result.update(eval_n=n, reference_n=scores["fid"].n_reference if "fid" in scores else None,
                  eval_seconds=round(time.perf_counter() - start, 1))
    write_json_atomic(cache, {"key": key, "result": result})
    return result


# ----------------------------------------------------------------------------- wall-clock budgets


def probe_step_time(folder: Path, arm: Arm, args: argparse.Namespace, data: str) -> dict[str, Any]:
    """Seconds per training step of ``arm`` (median of a few steps after warm-up), measured once.

    The probe runs in this process with the trainer's own ``train_step`` (no checkpoints, no
    evaluation), with as many threads as the training subprocess will have. Cached in
    ``folder/probes.json`` under the arm's name and settings, so that a resumed experiment keeps
    the step count it chose the first time.
    """
    import torch

    from sahit.training.loop import Trainer
    from sahit.training.run import prepare_run

    overrides = [*arm.overrides, *_batch_size(arm, args), "seed=0", "progress=false"]
    key = json.dumps({"preset": arm.preset, "overrides": overrides, "data": data})
    path = folder / "probes.json"
    probes = json.loads(path.read_text()) if path.is_file() else {}
    if key in probes:
        return probes[key]
    with tempfile.TemporaryDirectory() as tmp, torch.random.fork_rng(devices=[]):
        cfg, run_dir = prepare_run(arm.preset, out=Path(tmp) / "probe", data=data, overrides=overrides)
        trainer = Trainer(cfg, run_dir)
        batches = trainer.batches()
        times = []
        for i in range(2 + PROBE_STEPS):
            t0 = time.perf_counter()
            trainer.train_step(batches)
            if i >= 2:
                times.append(time.perf_counter() - t0)
        trainer.dist.close()
    probe = {"arm": arm.name, "sec_per_step": round(statistics.median(times), 5), "steps_timed": PROBE_STEPS,
             "threads": torch.get_num_threads(), "loadavg": _loadavg()}
    print(f"[probe] {arm.name}: {probe['sec_per_step']:.4f} s per step ({probe['threads']} threads)", flush=True)
    probes[key] = probe
    write_json_atomic(path, probes)
    return probe


# ------------------------------------------------------------------------------------ the JSON


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and seed-to-seed spread (sample std, min, max) of every number, over the runs that finished."""
    ok = [r for r in runs if r.get("status") == "ok"]
    out: dict[str, Any] = {"n_ok": len(ok), "n_failed": len(runs) - len(ok)}
    for metric in ("fid", "symmetry_error", "acc", "ifid", "train_seconds", "sec_per_step", "steps"):
        values = [float(r[metric]) for r in ok if r.get(metric) is not None and math.isfinite(float(r[metric]))]
        if values:
            out[metric] = {"mean": statistics.fmean(values),
                           "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                           "min": min(values), "max": max(values), "n": len(values)}
    return out


def merge_and_write(path: Path, payload: dict[str, Any]) -> dict[str, Any]:
    """Write ``payload`` to ``path`` keeping the runs another invocation wrote there (other seeds or arms of the
    same experiment and budget, e.g. one process per seed side by side); returns what was written.

    ``complete`` is true once every arm has a run (finished or failed) for every seed either invocation asked for.
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = json.loads(json.dumps(payload, default=_jsonable))
        old = json.loads(path.read_text()) if path.is_file() else {}
        def budget(p: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in p.get("budget", {}).items() if k != "seeds"}

        if old.get("experiment") == payload["experiment"] and budget(old) == budget(merged):
            for arm, entry in old.get("arms", {}).items():
                mine = merged["arms"].setdefault(arm, {k: v for k, v in entry.items() if k != "runs"} | {"runs": []})
                seeds = {r["seed"] for r in mine["runs"]}
                mine["runs"] = sorted(mine["runs"] + [r for r in entry["runs"] if r["seed"] not in seeds],
                                      key=lambda r: r["seed"])
                mine.update(summarize(mine["runs"]))
                mine.setdefault("config", entry.get("config"))
            merged["budget"]["seeds"] = sorted(set(merged["budget"]["seeds"]) | set(old["budget"]["seeds"]))
        wanted = set(merged["budget"]["seeds"])
        merged["complete"] = all({r["seed"] for r in a["runs"]} >= wanted for a in merged["arms"].values())
        merged["n_failed"] = sum(r["status"] != "ok" for a in merged["arms"].values() for r in a["runs"])
        write_json_atomic(path, merged)
    return merged


def link_splits(source: Path, index: dict[str, dict[str, list[str]]], folders: dict[str, Path]) -> str:
    """Make ``folders[split]/CLASS/FILE`` symlinks to ``source/CLASS/FILE`` for every file ``index`` lists per split
    and class (an ImageFolder of a subset, no copies); returns the index's short hash."""
    for name, by_class in index.items():
        for cls, files in by_class.items():
            (folders[name] / cls).mkdir(parents=True, exist_ok=True)
            for f in files:
                link = folders[name] / cls / f
                if not link.is_symlink():
                    os.symlink(source / cls / f, link)
    return hashlib.sha256(json.dumps(index, sort_keys=True).encode()).hexdigest()[:16]


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    from sahit.runs import write_text_atomic

    write_text_atomic(path, json.dumps(payload, indent=2, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def format_table(payload: dict[str, Any]) -> str:
    metrics = payload.get("metrics", list(SHAPES.metrics))
    rows = [("arm", *(c for m in metrics for c in (m, "+-")), "steps", "s/run", "runs")]
    for name, arm in payload["arms"].items():
        cells = [_f(arm.get(m, {}).get(k), 4) for m in metrics for k in ("mean", "std")]
        rows.append((name, *cells, _f(arm.get("steps", {}).get("mean"), 0), _f(arm.get("train_seconds", {}).get("mean"), 0),
                     f"{arm['n_ok']} ok" + (f", {arm['n_failed']} failed" if arm.get("n_failed") else "")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _f(value: float | None, digits: int = 2) -> str:
    """``digits`` significant digits (0: a whole number)."""
    if value is None:
        return ""
    return f"{value:.0f}" if digits == 0 else f"{value:.{digits}g}"


def machine() -> dict[str, Any]:
    """What the numbers depend on: torch version, threads, CPU model and cores, load."""
    import torch

    info: dict[str, Any] = {"torch": torch.__version__, "python": platform.python_version(),
                            "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu_model"] = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines()
                                  if ln.startswith("model name")), platform.processor() or platform.machine())
    except OSError:
        info["cpu_model"] = platform.processor() or platform.machine()
    info["loadavg_at_start"] = _loadavg()
    return info


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:500] if lines else ""
