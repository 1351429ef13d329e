"""Crash safety, measured: SIGKILL ``sahit train`` at random moments, restart it, check nothing is lost.

    python tools/kill_loop.py                       # 20 kills, seed 0, prints a summary, writes JSON
    python tools/kill_loop.py --kills 5 --seed 1 --json kill_loop.json

A tiny quickstart model trains on the built-in data with a checkpoint every step. The script
first trains an uninterrupted reference run, then trains the same run again while killing it
with SIGKILL (no chance to clean up) at seeded random moments, restarting it after each kill:

* ``write``: as soon as a checkpoint's ``.tmp`` file appears (the checkpoint is being written),
* ``write+``: a few milliseconds after the ``.tmp`` appears (mid-write, fsync, rename or rotation),
* ``step``: at a random moment inside a training step.

After every kill it loads every checkpoint file (none may be corrupt), checks that the newest
complete checkpoint never goes backwards, and checks from ``log.jsonl`` that the next restart
resumed from exactly that checkpoint (its first logged step is the checkpoint's step + 1).
At the end the final checkpoints of the two runs must be equal bit for bit: G, D, G_ema, both
optimizers, scalers, RNG states and data position; the exported safetensors must match too.

"bytes lost" counts the bytes of complete checkpoints that a kill destroyed or corrupted (the
goal is 0); "steps redone" counts training steps repeated because a kill came before the
step's checkpoint was complete (expected: that work was never saved).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from sahit.runs import (
    CHECKPOINT_PATTERN,
    CHECKPOINTS,
    EXPORT,
    LOG,
    CheckpointError,
    checkpoint_path,
    jsonl_end,
    load_checkpoint,
    read_jsonl_from,
)

TINY = ["model.g_width=16", "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false"]
MODES = ("write", "write+", "step")


def train_command(run_dir: Path, steps: int, ckpt_every: int, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "sahit", "train", "--preset", "quickstart", "--out", str(run_dir),
            f"steps={steps}", f"ckpt_every={ckpt_every}", "keep_ckpts=3", "log_every=1", "sample_every=100000",
            *TINY, *extra]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # same thread count for both runs; less contention on small machines
    env["PYTHONUNBUFFERED"] = "1"
    return env


def check_checkpoints(ckpt_dir: Path) -> dict[str, Any]:
    """Load every checkpoint file: {step: size} of the good ones, [(name, size, error)] of the bad ones."""
    good: dict[int, int] = {}
    bad: list[tuple[str, int, str]] = []
    tmps = []
    if ckpt_dir.is_dir():
        for path in sorted(ckpt_dir.iterdir()):
            match = CHECKPOINT_PATTERN.match(path.name)
            if match is None:
                if path.name.endswith(".tmp"):
                    tmps.append(path.name)
                continue
            try:
                state = load_checkpoint(path)
                if int(state["step"]) != int(match.group(1)):
                    raise CheckpointError(f"step {state['step']} inside {path.name}")
                good[int(match.group(1))] = path.stat().st_size
            except (CheckpointError, OSError) as exc:
                bad.append((path.name, path.stat().st_size if path.exists() else 0, str(exc)))
    return {"good": good, "bad": bad, "tmp": tmps}


def _new_records(log: Path, offset: int) -> int:
    return len(read_jsonl_from(log, offset)[0])


def run_life(cmd: list[str], run_dir: Path, mode: str, rng: random.Random, step_time: float,
             out_file: Path, offset: int, timeout: float) -> dict[str, Any]:
    """Start one training process and SIGKILL it as ``mode`` says; returns what happened."""
    ckpt_dir, log = run_dir / CHECKPOINTS, run_dir / LOG
    with open(out_file, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_env())
    t0 = time.monotonic()
    # Wait for the restarted process to log its first step (it has resumed and cleaned stale .tmp files).
    target = 1 if mode.startswith("write") else rng.randint(1, 2)
    delay = rng.uniform(0.0, 0.03) if mode == "write+" else rng.uniform(0.0, 0.8 * step_time)
    tmp_wanted = rng.randint(1, 2)
    tmp_seen, last_tmp, fired_at, started = 0, None, None, False
    while True:
        if proc.poll() is not None:
            return {"mode": mode, "killed": False, "returncode": proc.returncode, "seconds": time.monotonic() - t0}
        if time.monotonic() - t0 > timeout:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"training process made no progress in {timeout:.0f}s; see {out_file}")
        started = started or _new_records(log, offset) >= target
        if started:  # from here on only the checkpoint folder is polled, so no .tmp window is missed
            if mode == "step":
                time.sleep(delay)
                break
            tmps = [p.name for p in ckpt_dir.glob("*.tmp")] if ckpt_dir.is_dir() else []
            if tmps and tmps[0] != last_tmp:
                last_tmp = tmps[0]
                tmp_seen += 1
                if tmp_seen >= tmp_wanted:
                    fired_at = tmps[0]
                    if mode == "write+":
                        time.sleep(delay)
                    break
            time.sleep(0.0005)
        else:
            time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return {"mode": mode, "killed": True, "returncode": proc.returncode, "tmp_at_kill": fired_at,
            "seconds": round(time.monotonic() - t0, 2)}


def compare_states(a: Any, b: Any, where: str = "") -> list[str]:
    """Paths at which two checkpoint states differ (tensors compared bit for bit)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return [where]
        same = a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        return [] if same else [where]
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where} (keys differ)"]
        return [d for k in a for d in compare_states(a[k], b[k], f"{where}.{k}" if where else str(k))]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where} (lengths differ)"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in compare_states(x, y, f"{where}[{i}]")]
    return [] if a == b else [where]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def kill_loop(workdir: str | Path, kills: int = 20, seed: int = 0, steps: int | None = None, ckpt_every: int = 1,
              extra: list[str] | None = None, timeout: float = 300.0, verbose: bool = True) -> dict[str, Any]:
    """Run the experiment in ``workdir`` (made empty first); returns the result dict."""
    workdir = Path(workdir)
    if workdir.exists():
        import shutil

        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    extra = list(extra or [])
    steps = steps or 2 * kills + 3
    rng = random.Random(seed)
    say = print if verbose else (lambda *a, **k: None)
    ref_dir, run_dir = workdir / "reference", workdir / "killed"

    say(f"reference: {steps} steps without interruption ...", flush=True)
    t0 = time.monotonic()
    ref = subprocess.run(train_command(ref_dir, steps, ckpt_every, extra), check=False, capture_output=True, env=_env(),
                         timeout=timeout + 30 * steps)
    if ref.returncode != 0:
        raise RuntimeError(f"reference run failed ({ref.returncode}): {ref.stdout.decode()[-2000:]}")
    ref_records, _ = read_jsonl_from(ref_dir / LOG, 0)
    step_time = max(1.0 / max(r["it_per_s"] for r in ref_records[1:] or ref_records), 0.05)
    say(f"reference done in {time.monotonic() - t0:.0f}s ({step_time:.2f}s/step)", flush=True)

    cmd = train_command(run_dir, steps, ckpt_every, extra)
    lives: list[dict[str, Any]] = []
    problems: list[str] = []
    bytes_lost = corrupt_seen = log_corrupt = steps_redone = 0
    resumes_checked = resumes_ok = 0
    survived = 0
    for life in range(kills + 1):
        n_problems = len(problems)
        before = check_checkpoints(run_dir / CHECKPOINTS)
        last = max(before["good"], default=0)
        log = run_dir / LOG
        offset = jsonl_end(log)
        final = life == kills
        if final:
            with open(workdir / f"life-{life:02d}.out", "wb") as out:
                proc = subprocess.run(cmd, check=False, stdout=out, stderr=subprocess.STDOUT, env=_env(),
                                      timeout=timeout + 30 * steps)
            info = {"mode": "finish", "killed": False, "returncode": proc.returncode}
        else:
            mode = rng.choice(MODES)
            info = run_life(cmd, run_dir, mode, rng, step_time, workdir / f"life-{life:02d}.out", offset, timeout)
        after = check_checkpoints(run_dir / CHECKPOINTS)
        records, corrupt = read_jsonl_from(log, offset)
        log_corrupt += corrupt
        info.update(resumed_from=last, ckpts_after=sorted(after["good"]), tmp_left=after["tmp"],
                    first_step=records[0]["step"] if records else None,
                    last_step=records[-1]["step"] if records else None)
        if records:
            resumes_checked += 1
            if records[0]["step"] == last + 1:
                resumes_ok += 1
            else:
                problems.append(f"life {life}: resumed at step {records[0]['step'] - 1}, "
                                f"newest complete checkpoint was {last}")
        for name, size, why in after["bad"]:
            corrupt_seen += 1
            bytes_lost += size
            problems.append(f"life {life}: corrupt checkpoint {name}: {why}")
        newest = max(after["good"], default=0)
        if newest < last:
            bytes_lost += before["good"][last]
            problems.append(f"life {life}: newest checkpoint went back from {last} to {newest}")
        if records and info["killed"]:
            steps_redone += max(0, records[-1]["step"] - newest)
        lives.append(info)
        if life > 0 and lives[-2]["killed"] and len(problems) == n_problems:
            survived += 1  # the previous kill left a run that resumed correctly with nothing lost
        if not info["killed"]:
            if info["returncode"] != 0:
                problems.append(f"life {life}: exited with {info['returncode']} (see life-{life:02d}.out)")
            break
        say(f"kill {life + 1:2d}/{kills} [{info['mode']:6s}] after {info['seconds']:5.1f}s: "
            f"resumed from {last}, logged {info['first_step']}..{info['last_step']}, checkpoints {info['ckpts_after']}"
            + (f", killed while writing {info['tmp_at_kill']}" if info.get("tmp_at_kill") else ""), flush=True)
    kills_done = sum(1 for info in lives if info["killed"])
    if kills_done < kills:
        problems.append(f"the run finished after {kills_done} kills (raise --steps)")

    ref_state = load_checkpoint(checkpoint_path(ref_dir / CHECKPOINTS, steps))
    final_path = checkpoint_path(run_dir / CHECKPOINTS, steps)
    differences: list[str] = ["final checkpoint missing"]
    if final_path.is_file():
        differences = compare_states(ref_state, load_checkpoint(final_path))
    for name in ("generator.safetensors", "generator_ema.safetensors"):
        if _sha(ref_dir / EXPORT / name) != _sha(run_dir / EXPORT / name):
            differences.append(f"export/{name}")
    if differences:
        problems.append(f"final state differs from the uninterrupted run at: {', '.join(differences[:8])}")
    result = {
        "kills": kills, "kills_survived": survived,
        "resumes_verified": resumes_ok, "resumes_checked": resumes_checked,
        "kills_during_checkpoint_write": sum(1 for info in lives if info.get("tmp_at_kill")),
        "corrupt_checkpoints": corrupt_seen, "bytes_lost": bytes_lost, "log_lines_corrupt": log_corrupt,
        "steps_redone": steps_redone, "steps": steps, "ckpt_every": ckpt_every, "seed": seed,
        "bit_identical": not differences, "differences": differences, "problems": problems,
        "seconds": round(time.monotonic() - t0, 1), "lives": lives,
        "torch": torch.__version__, "command": " ".join(cmd[1:]),
    }
    result["ok"] = not problems
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="training steps (default 2*kills+3)")
    parser.add_argument("--ckpt-every", type=int, default=1)
    parser.add_argument("--workdir", default="runs/kill_loop", help="emptied first")
    parser.add_argument("--json", default=None, help="where to write the result (default WORKDIR/kill_loop.json)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="extra `sahit train` overrides")
    args = parser.parse_args(argv)
    result = kill_loop(args.workdir, args.kills, args.seed, args.steps, args.ckpt_every, args.overrides)
    json_path = Path(args.json or Path(args.workdir) / "kill_loop.json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2))
    print(f"kills survived {result['kills_survived']}/{result['kills']} "
          f"({result['kills_during_checkpoint_write']} while a checkpoint was being written) | "
          f"resumes verified {result['resumes_verified']}/{result['resumes_checked']} | "
          f"corrupt checkpoints {result['corrupt_checkpoints']} | bytes lost {result['bytes_lost']} | "
          f"steps redone {result['steps_redone']} | final state bit-identical: {result['bit_identical']} | "
          f"{result['seconds']:.0f}s | {json_path}")
    for problem in result["problems"]:
        print(f"  problem: {problem}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
