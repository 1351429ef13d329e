"""Training and sampling speed of sahit's trainer, FLOPs per iteration and fraction of matmul peak.

One iteration = ``n_dis`` D steps + one G step through ``Trainer.train_step``. Each model is built from
its YAML preset with ``prepare_run`` (so hit-32 trains with its own recipe: logistic loss + R1), and
timed in several variants:
fp32 / bf16 autocast, channels_last on/off, eager / ``torch.compile`` (compile time excluded:
every variant is warmed up first; a failed compile is recorded in the table, not raised).

All variants of one model live side by side and are timed in interleaved rounds (round r
times one iteration of every variant), so a change of machine load hits every variant alike:
the ratios between rows are meaningful even on a busy machine. Besides the median wall time per
iteration the table shows the fastest iteration and the process CPU seconds per iteration, both
less sensitive to other jobs on a shared machine. Real batches are drawn from the
trainer's own loader once, before timing, and cycled: the numbers are the model's, not the
data loader's.

For sagan-cifar10 a ``reference`` row reproduces what widely used SAGAN implementations do
per iteration: separate real and fake D passes, a fresh G forward for the G step, unpooled
explicit attention with C value channels, fp32, no channels_last, D gradients computed in
the G step. It is timed in the same rounds; the best sahit variant's speedup over it is printed.

FLOPs per iteration are counted by ``FlopCounterMode`` around one eager train step (forward +
backward actually executed: matmuls, convolutions, attention). Achieved FLOP/s are compared
with this machine's matmul peak measured in the same run (large square matmuls): fp32 rows
against the fp32 peak, bf16 rows against the bf16 peak.

Run:  python -m benchmarks.train_speed --quick                     (a few minutes)
      python -m benchmarks.train_speed                             (all models and variants)
      python -m benchmarks.train_speed --models sagan-cifar10 --variants fp32 bf16 bf16+compile
Writes benchmarks/results/train_speed.json and prints plain and markdown tables.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.common import machine_details, print_markdown_table, print_table, write_json
from benchmarks.flops import conv_share, count_flops, matmul_peak
from sahit.layers import SelfAttention2d
from sahit.models import build
from sahit.training import Trainer, prepare_run

# Per model: training batch, sampling (n, batch_size), and fixed overrides of its preset.
MODELS: dict[str, dict[str, Any]] = {
    "sagan-cifar10": {"batch": 64, "sample": (256, 256), "overrides": []},
    # The 1000-class model of the paper (the built-in data has 10 classes; labels 0..9 are used).
    "sagan-imagenet128": {"batch": 4, "sample": (16, 16), "overrides": ["model.num_classes=1000"]},
    "hit-32": {"batch": 64, "sample": (256, 256), "overrides": []},
    "hit-256": {"batch": 2, "sample": (4, 4), "overrides": []},
}

VARIANTS: dict[str, dict[str, Any]] = {
    "fp32": {"precision": "fp32"},
    "fp32+cl": {"precision": "fp32", "channels_last": True},
    "bf16": {"precision": "bf16"},
    "bf16+cl": {"precision": "bf16", "channels_last": True},
    "fp32+compile": {"precision": "fp32", "compile": True},
    "bf16+compile": {"precision": "bf16", "compile": True},
    "bf16+cl+compile": {"precision": "bf16", "channels_last": True, "compile": True},
}
DEFAULT_VARIANTS = ["fp32", "fp32+cl", "bf16", "bf16+cl", "fp32+compile", "bf16+compile"]
QUICK = {"models": ["sagan-cifar10", "hit-32"], "variants": ["fp32", "bf16", "bf16+cl"], "repeats": 3, "warmup": 1,
         "peak_size": 2048, "sample_repeats": 2, "batch": {"sagan-cifar10": 16, "hit-32": 16}, "sample_n": 64}
REFERENCE = "reference"


# ------------------------------------------------------------------------------ variants
class Runner:
    """One timed configuration: ``step()`` runs one training iteration."""

    def __init__(self, name: str, step: Callable[[], Any], batch: int, precision: str, warmup: int,
                 count: Callable[[], Any] | None = None) -> None:
        self.name, self.step, self.batch, self.precision, self.warmup = name, step, batch, precision, warmup
        self.count = count or step  # what FlopCounterMode runs (an eager step)
        self.times: list[float] = []
        self.cpu_times: list[float] = []  # process CPU seconds: less sensitive to other jobs than wall time
        self.error: str | None = None
        self.warmup_s: float | None = None


def cycled_batches(trainer: Trainer, n: int) -> Iterator:
    source = trainer.batches()
    return itertools.cycle([next(source) for _ in range(n)])


def make_trainer_runner(model: str, variant: str, batch: int, tmp: Path, extra: list[str],
                        warmup: int, compile_warmup: int) -> tuple[Runner, Trainer]:
    spec = VARIANTS[variant]
    overrides = [f"batch_size={batch}", "progress=false", "num_workers=0", "device=cpu", "data=builtin",
                 f"data_length={max(4 * batch, 64)}", *extra] + [f"{k}={str(v).lower()}" for k, v in spec.items()]
    overrides += [f"{k}=false" for k in ("channels_last", "compile") if k not in spec]
    cfg, run_dir = prepare_run(model, out=tmp / f"{model}-{variant}", overrides=overrides)
    trainer = Trainer(cfg, run_dir)
    batches = cycled_batches(trainer, 2 * cfg.n_dis)
    compiled = spec.get("compile", False)
    runner = Runner(variant, lambda: trainer.train_step(batches), batch, spec["precision"],
                    compile_warmup if compiled else warmup)
    runner.n_dis = cfg.n_dis
    runner.recipe = {k: getattr(cfg, k) for k in ("loss", "n_dis", "r1_gamma", "bcr_weight", "reuse_fake")}
    return runner, trainer


def _explicit_attention(module: SelfAttention2d) -> None:
    """Force the matmul-softmax path of one attention layer (what most SAGAN ports run)."""
    module.forward = functools.partial(SelfAttention2d.forward, module, explicit=True)


def make_reference_runner(model: str, batch: int, extra_args: dict[str, Any], warmup: int) -> Runner:
    """A widely-used-implementation style iteration on sahit's G and D (see the module docstring)."""
    torch.manual_seed(0)
    G, D = build(model, **extra_args, attn_pool_kv=False, attn_value_ratio=1.0)
    for m in itertools.chain(G.modules(), D.modules()):
        if isinstance(m, SelfAttention2d):
            _explicit_attention(m)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=4e-4, betas=(0.0, 0.9))
    gen = torch.Generator().manual_seed(0)
    reals = [(torch.rand(batch, 3, G.resolution, G.resolution, generator=gen) * 2 - 1,
              torch.randint(0, max(G.num_classes, 1), (batch,), generator=gen)) for _ in range(2)]
    batches = itertools.cycle(reals)
    runner = Runner(REFERENCE, lambda: reference_step(G, D, opt_g, opt_d, batches), batch, "fp32", warmup)
    runner.n_dis = 1
    runner.recipe = {"loss": "hinge", "n_dis": 1, "attention": "unpooled explicit, value C", "reuse_fake": False}
    return runner


def reference_step(G, D, opt_g, opt_d, batches: Iterator) -> None:
    """Hinge loss, separate real/fake D passes, a fresh G forward for the G step, D not frozen."""
    real, y_real = next(batches)
    b = real.shape[0]
    conditional = G.num_classes > 0
    y_real = y_real if conditional else None
    # D step
    z = torch.randn(b, G.z_dim)
    y_fake = torch.randint(0, G.num_classes, (b,)) if conditional else None
    fake = G(z, y_fake)
    d_real = D(real, y_real)
    d_fake = D(fake.detach(), y_fake)
    loss_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    # G step
    z = torch.randn(b, G.z_dim)
    y_fake = torch.randint(0, G.num_classes, (b,)) if conditional else None
    loss_g = -D(G(z, y_fake), y_fake).mean()
    opt_g.zero_grad()
    opt_d.zero_grad()
    loss_g.backward()
    opt_g.step()


# -------------------------------------------------------------------------------- timing
def warm_up(runner: Runner) -> None:
    t0 = time.perf_counter()
    try:
        for _ in range(runner.warmup):
            runner.step()
    except Exception as exc:  # noqa: BLE001 - recorded in the table, the other variants still run
        runner.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        traceback.print_exc(limit=3)
    runner.warmup_s = time.perf_counter() - t0


def timed_rounds(runners: list[Runner], repeats: int, log: Callable[[str], None]) -> None:
    """Round r times one iteration of every runner, so load changes hit all variants alike."""
    for r in range(repeats):
        for runner in runners:
            if runner.error:
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                runner.step()
            except Exception as exc:  # noqa: BLE001 - recorded in the table, the other variants still run
                runner.error = f"{type(exc).__name__}: {exc}"[:300]
                continue
            runner.times.append(time.perf_counter() - t0)
            runner.cpu_times.append(time.process_time() - c0)
        done = [f"{x.name} {x.times[-1]:.3f}s" for x in runners if x.times and len(x.times) == r + 1]
        log(f"  round {r + 1}/{repeats}: " + ", ".join(done))


def time_sampling(model: str, extra_args: dict[str, Any], n: int, batch_size: int, repeats: int,
                  variants: list[str]) -> list[dict[str, Any]]:
    """Images/s of ``G.sample(n)`` (eval mode, no grad), fp32 and bf16 autocast, interleaved."""
    torch.manual_seed(0)
    G, _ = build(model, **extra_args)
    G.eval()
    contexts = {
        "fp32": contextlib.nullcontext,
        "bf16": lambda: torch.autocast("cpu", dtype=torch.bfloat16),
    }
    fns = {v: (lambda ctx=contexts[v]: _sample(G, ctx, n, batch_size)) for v in variants}
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(repeats):
        for v, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[v].append(time.perf_counter() - t0)
    return [{"model": model, "precision": v, "n": n, "batch_size": batch_size,
             "s": statistics.median(t), "img_per_s": n / statistics.median(t)} for v, t in times.items()]


def _sample(G, ctx, n: int, batch_size: int) -> None:
    with ctx():
        G.sample(n, batch_size=batch_size, seed=0)


# ---------------------------------------------------------------------------------- main
def benchmark_model(model: str, args: argparse.Namespace, tmp: Path,
                    log: Callable[[str], None]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    spec = MODELS[model]
    batch = args.batch.get(model, spec["batch"])
    extra = list(spec["overrides"])
    extra_args = {k.removeprefix("model."): int(v) for k, v in (o.split("=") for o in extra)
                  if k.startswith("model.")}
    runners: list[Runner] = []
    trainers: list[Trainer] = []
    for variant in args.variants:
        log(f"{model}: building {variant}")
        try:
            runner, trainer = make_trainer_runner(model, variant, batch, tmp, extra, args.warmup,
                                                  args.compile_warmup)
        except Exception as exc:  # noqa: BLE001 - recorded in the table, the other variants still run
            failed = Runner(variant, lambda: None, batch, VARIANTS[variant]["precision"], 0)
            failed.error = f"{type(exc).__name__}: {exc}"[:300]
            runners.append(failed)
            continue
        runners.append(runner)
        trainers.append(trainer)
    if model == "sagan-cifar10" and args.reference:
        runners.append(make_reference_runner(model, batch, extra_args, args.warmup))

    # FLOPs per iteration: one eager step of the first eager sahit variant, and of the reference.
    flops: dict[str, Any] = {}
    eager = next((r for r in runners if not r.error and not VARIANTS.get(r.name, {}).get("compile")
                  and r.name != REFERENCE), None)
    if eager is not None:
        flops["sahit"] = count_flops(eager.count)
    ref = next((r for r in runners if r.name == REFERENCE), None)
    if ref is not None:
        flops[REFERENCE] = count_flops(ref.count)

    for runner in runners:
        if runner.error:
            continue
        log(f"{model}: warming up {runner.name} ({runner.warmup} iterations)")
        warm_up(runner)
        if runner.error:
            log(f"{model}: {runner.name} failed: {runner.error}")
    timed_rounds(runners, args.repeats, log)

    rows = []
    base = next((r for r in runners if r.name == "fp32" and r.times), None)
    base_s = statistics.median(base.times) if base else None
    for runner in runners:
        row: dict[str, Any] = {"model": model, "variant": runner.name, "batch": runner.batch}
        if runner.error or not runner.times:
            row["note"] = runner.error or "no timing"
            rows.append(row)
            continue
        s = statistics.median(runner.times)
        f = flops.get(REFERENCE if runner.name == REFERENCE else "sahit")
        row.update(s_per_it=s, it_per_s=1 / s, img_per_s=runner.batch / s,
                   min_s_per_it=min(runner.times), cpu_s_per_it=statistics.median(runner.cpu_times),
                   spread=(max(runner.times) - min(runner.times)) / s, warmup_s=runner.warmup_s,
                   speedup_vs_fp32=(base_s / s) if base_s else None)
        if f:
            achieved = f["total"] / s / 1e9
            row.update(gflop_per_it=f["total"] / 1e9, gflops=achieved)
        rows.append(row)
    info = {"batch": batch, "flops": flops, "recipe": {r.name: getattr(r, "recipe", None) for r in runners},
            "times": {r.name: r.times for r in runners}, "cpu_times": {r.name: r.cpu_times for r in runners}}
    if flops.get("sahit"):
        info["conv_share"] = conv_share(flops["sahit"]["by_op"])
    ref_row = next((r for r in rows if r["variant"] == REFERENCE and "s_per_it" in r), None)
    if ref_row:
        best = min((r for r in rows if r["variant"] != REFERENCE and "s_per_it" in r), key=lambda r: r["s_per_it"],
                   default=None)
        for r in rows:
            if "s_per_it" in r:
                r["speedup_vs_reference"] = ref_row["s_per_it"] / r["s_per_it"]
        if best:
            info["best_vs_reference"] = {"variant": best["variant"], "speedup": ref_row["s_per_it"] / best["s_per_it"]}
    del trainers, runners
    return rows, info


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"models {QUICK['models']}, variants {QUICK['variants']}, "
                             f"{QUICK['repeats']} repeats, {QUICK['peak_size']}^2 peak matmuls")
    parser.add_argument("--models", nargs="+", choices=list(MODELS))
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS))
    parser.add_argument("--batch", nargs="+", default=[], metavar="MODEL=N",
                        help="training batch per model, e.g. sagan-imagenet128=8")
    parser.add_argument("--repeats", type=int, help="timed iterations per variant (default 5)")
    parser.add_argument("--warmup", type=int, help="untimed iterations per eager variant (default 2)")
    parser.add_argument("--compile-warmup", type=int, default=4,
                        help="untimed iterations per compiled variant (compilation and recompiles happen here)")
    parser.add_argument("--no-reference", dest="reference", action="store_false",
                        help="skip the reference-style sagan-cifar10 baseline")
    parser.add_argument("--no-sampling", dest="sampling", action="store_false")
    parser.add_argument("--sample-repeats", type=int)
    parser.add_argument("--peak-size", type=int, help="side of the square peak matmuls (default 4096)")
    parser.add_argument("--peak-repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", default="train_speed", help="name of the JSON file in benchmarks/results/")
    args = parser.parse_args()
    quick = QUICK if args.quick else {}
    args.models = args.models or quick.get("models") or list(MODELS)
    args.variants = args.variants or quick.get("variants") or DEFAULT_VARIANTS
    args.repeats = args.repeats or quick.get("repeats") or 5
    args.sample_repeats = args.sample_repeats or quick.get("sample_repeats") or 3
    args.peak_size = args.peak_size or quick.get("peak_size") or 4096
    args.warmup = args.warmup if args.warmup is not None else quick.get("warmup", 2)
    args.sample_n = quick.get("sample_n")
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = dict(quick.get("batch", {}))
    for item in args.batch:
        name, _, n = item.partition("=")
        if name not in MODELS or not n.isdigit():
            parser.error(f"--batch takes MODEL=N with MODEL one of {list(MODELS)}, got {item!r}")
        batches[name] = int(n)
    args.batch = batches
    return args


def main() -> None:
    args = parse_args()
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:7.1f}s] {msg}", flush=True)

    machine_start = machine_details()
    log(f"machine: {machine_start}")
    log(f"matmul peak ({args.peak_size}^2, {args.peak_repeats} repeats) ...")
    peak_before = matmul_peak(args.peak_size, args.peak_repeats)
    log("  " + ", ".join(f"{k} {v['gflops']:.1f} GFLOP/s" for k, v in peak_before.items()))

    rows: list[dict[str, Any]] = []
    infos: dict[str, Any] = {}
    samples: list[dict[str, Any]] = []
    # Fractions of peak are filled in at the end, against the higher of the two peak measurements.
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            model_rows, infos[model] = benchmark_model(model, args, Path(tmp), log)
            rows += model_rows
            print_table(model_rows, ["model", "variant", "s_per_it", "min_s_per_it", "cpu_s_per_it", "img_per_s", "speedup_vs_fp32",
                                     "speedup_vs_reference", "gflops", "note"])
            if args.sampling:
                n, bs = MODELS[model]["sample"]
                n = bs = min(n, args.sample_n) if args.sample_n else n
                extra_args = {k.removeprefix("model."): int(v) for k, v in
                              (o.split("=") for o in MODELS[model]["overrides"]) if k.startswith("model.")}
                log(f"{model}: sampling {n} images, batch {bs}")
                samples += time_sampling(model, extra_args, n, bs, args.sample_repeats, ["fp32", "bf16"])

    log("matmul peak again ...")
    peak_after = matmul_peak(args.peak_size, args.peak_repeats)
    log("  " + ", ".join(f"{k} {v['gflops']:.1f} GFLOP/s" for k, v in peak_after.items()))
    peak = {k: max(v["gflops"], peak_after[k]["gflops"]) for k, v in peak_before.items()}
    for row in rows:
        if "gflops" in row:
            dtype = "fp32" if row["variant"] == REFERENCE else VARIANTS[row["variant"]]["precision"]
            row["pct_peak"] = 100 * row["gflops"] / peak[dtype]

    train_cols = ["model", "variant", "batch", "s_per_it", "min_s_per_it", "cpu_s_per_it", "it_per_s", "img_per_s", "speedup_vs_fp32",
                  "speedup_vs_reference", "gflop_per_it", "gflops", "pct_peak", "spread", "warmup_s", "note"]
    sample_cols = ["model", "precision", "n", "batch_size", "s", "img_per_s"]
    peak_rows = [{"dtype": k, "size": v["size"], "before_gflops": v["gflops"],
                  "after_gflops": peak_after[k]["gflops"], "peak_gflops": peak[k]} for k, v in peak_before.items()]
    peak_cols = ["dtype", "size", "before_gflops", "after_gflops", "peak_gflops"]
    print("\n## Training (one iteration = n_dis D steps + one G step)\n")
    print_table(rows, train_cols)
    if samples:
        print("\n## Sampling (G.sample, eval mode)\n")
        print_table(samples, sample_cols)
    print("\n## Matmul peak (GFLOP/s, median of repeats, before and after the models; pct_peak uses the higher)\n")
    print_table(peak_rows, peak_cols)
    for model, info in infos.items():
        if "conv_share" in info:
            print(f"{model}: {info['flops']['sahit']['total'] / 1e9:.1f} GFLOP/iteration, "
                  f"{100 * info['conv_share']:.0f}% in convolutions")
        if "best_vs_reference" in info:
            b = info["best_vs_reference"]
            print(f"{model}: best variant {b['variant']} is {b['speedup']:.2f}x faster than the reference-style step")
    print("\n<!-- markdown -->\n")
    print_markdown_table(rows, [c for c in train_cols if c not in ("spread", "warmup_s")])
    print()
    if samples:
        print_markdown_table(samples, sample_cols)
        print()
    print_markdown_table(peak_rows, peak_cols)
    write_json(args.out, {
        "command": "python -m benchmarks.train_speed " + " ".join(sys.argv[1:]),
        "machine_start": machine_start, "loadavg_end": _loadavg(), "seconds": time.perf_counter() - t_start,
        "repeats": args.repeats, "warmup": args.warmup, "compile_warmup": args.compile_warmup, "peak": {"before": peak_before, "after": peak_after},
        "rows": rows, "sampling": samples, "models": infos,
    })


def _loadavg() -> list[float] | None:
    try:
        import os

        return list(os.getloadavg())
    except OSError:
        return None


if __name__ == "__main__":
    main()
