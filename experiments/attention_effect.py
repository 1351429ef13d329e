"""What attention does in trained generators: the numbers of docs/attention-effect.md, from one command.

For every ``--run NAME=RUN`` (a run folder, an export, or whatever ``sahit.load`` resolves, e.g. zoo:NAME):

* **weight**: each attention layer's gamma and ||branch|| / ||residual input|| over training, from the
  run's log.jsonl (``attention/...`` keys, runs trained with this version) or else measured here on every
  checkpoint the run kept (its raw G and D, as the trainer measures them), plus the final generator's;
* **reach**: :func:`sahit.viz.attention_stats.attention_stats` (distance, entropy, far share against
  uniform and 3x3-local maps; HiT's regional, dilated and cross separately);
* **knock-outs**: :func:`sahit.metrics.ablation.ablate` (FID / intra-FID vs the intact samples, class
  accuracy, FID against ``--ref``), its grid saved as ``--grids/attention-effect-NAME.png``.

``--placement NAME=RUN`` (repeatable; e.g. cifar10-sagan and cifar10-sagan-noattn) records each run's
final step and FID over training: the log's and ``metrics*.json``'s points and, with ``--ref``, FID of
the EMA generator of every checkpoint it kept. Everything goes into one JSON (``--json``).

Run:    python -m experiments.attention_effect --run sagan=zoo:cifar10-sagan --features PATH --ref DATA ...
        python -m experiments.attention_effect --markdown       (the tables of docs/attention-effect.md)

``--features`` and ``--ref`` take a value for every run, or NAME=VALUE for one (data sets differ).
``--add`` measures only the runs it names and adds them to ``--json``'s payload (a run of the same name is
replaced), so one more model does not re-measure the others; the payload lists every command that made it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

EXPERIMENTS = Path(__file__).resolve().parent
DEFAULT_JSON = EXPERIMENTS / "results" / "attention_effect.json"
MAX_CURVE_POINTS = 60


def parse_named(values: list[str] | None, flag: str) -> dict[str, str]:
    """``["a=x", "b=y"]`` -> ``{"a": "x", "b": "y"}``; one-line errors for a missing name or a repeat."""
    out: dict[str, str] = {}
    for value in values or []:
        name, sep, spec = value.partition("=")
        if not sep or not name or not spec:
            raise ValueError(f"{flag} takes NAME=RUN, got {value!r}")
        if name in out:
            raise ValueError(f"{flag} names {name!r} twice")
        out[name] = spec
    return out


def per_run(values: list[str] | None, names: list[str]) -> dict[str, str | None]:
    """A value for each run: ``NAME=VALUE`` for one run, a bare VALUE for all the others."""
    default, named = None, {}
    for value in values or []:
        name, sep, spec = value.partition("=")
        if sep and name in names:
            named[name] = spec
        else:
            default = value
    return {name: named.get(name, default) for name in names}


# ------------------------------------------------------------------------------ measuring


def weight_curves(spec: str, G: torch.nn.Module, seed: int = 0) -> dict[str, Any]:
    """gamma and contribution ratio per layer over training: ``{"source", "points": {key: [[step, value]]}}``."""
    from sahit.models.contribution import attention_contributions
    from sahit.models.registry import build_from_config
    from sahit.runs import CHECKPOINTS, list_checkpoints, load_checkpoint, read_log, run_folder, sample_noise
    from sahit.training.attention_log import BATCH, PREFIX, SEED_OFFSET, AttentionLog, attention_key

    folder = run_folder(spec)
    device = next(G.parameters()).device
    z = sample_noise(BATCH, G.z_dim, seed + SEED_OFFSET).to(device)
    y = (torch.arange(BATCH) % G.num_classes).to(device) if G.num_classes else None
    final = {attention_key("G", layer, what): value
             for layer, entry in attention_contributions(G, z, y).items() for what, value in entry.items()}
    records = read_log(folder) if folder.is_dir() else []
    points: dict[str, list[list[float]]] = {}
    for record in records:
        for key, value in record.items():
            if key.startswith(PREFIX) and isinstance(value, (int, float)):
                points.setdefault(key, []).append([int(record["step"]), float(value)])
    source = "log.jsonl" if points else "final generator only"
    checkpoints = list_checkpoints(folder / CHECKPOINTS)
    if not points and checkpoints:  # a run trained before attention logging: measure its checkpoints as the trainer would
        raw, D = _copy(G), build_from_config(G.config)[1].to(device)
        log = AttentionLog(raw, D, seed, device)
        for step, path in checkpoints:
            state = load_checkpoint(path, map_location=device)
            raw.load_state_dict(state["G"])
            D.load_state_dict(state["D"])
            for key, value in log.values().items():
                points.setdefault(key, []).append([step, value])
        source = "checkpoints"
    return {"source": source, "points": {k: _thin(v) for k, v in points.items()}, "final_ema": final}


def _copy(G: torch.nn.Module) -> torch.nn.Module:
    import copy

    return copy.deepcopy(G)


def _thin(points: list[list[float]]) -> list[list[float]]:
    """At most MAX_CURVE_POINTS points, first and last kept."""
    if len(points) <= MAX_CURVE_POINTS:
        return points
    stride = -(-len(points) // MAX_CURVE_POINTS)
    return points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])


def fid_over_training(spec: str, reference: Any, extractor: Any, n: int, seed: int, device: str) -> dict[str, Any]:
    """Final step, FID points from the log and metrics files, and (with ``reference``) every checkpoint's EMA FID."""
    import sahit
    from sahit.metrics.evaluate import evaluate_generator
    from sahit.runs import CHECKPOINTS, final_step, list_checkpoints, load_checkpoint, run_folder
    from sahit.viz.run_files import metric_points

    folder = run_folder(spec)
    logged = metric_points(folder).get("fid", []) if folder.is_dir() else []
    out: dict[str, Any] = {"final_step": final_step(folder) if folder.is_dir() else None,
                           "logged_fid": [[s, v, src] for s, v, src in logged], "checkpoint_fid": []}
    if reference is None:
        return out
    G = sahit.load(spec, device=device)
    for step, path in list_checkpoints(folder / CHECKPOINTS):
        G.load_state_dict(load_checkpoint(path, map_location=device)["G_ema"])
        fid = evaluate_generator(G, reference, extractor, ["fid"], n=n, seed=seed, device=device, progress=False)
        out["checkpoint_fid"].append([step, fid["fid"].value])
    return out


def reference_stats(spec: str | None, resolution: int, extractor: Any, ref_n: int, device: str,
                    holdout: int = 0) -> Any:
    """Statistics of ``spec``: a `sahit stats` .npz, or a data set (cached, as `sahit eval` does); None for None.

    ``holdout`` > 0: of the images a run held out of training (all of them), not of the training images.
    """
    from sahit.metrics.evaluate import cached_reference_stats
    from sahit.metrics.stats import load_stats

    if spec is None:
        return None
    if spec.endswith(".npz"):
        return load_stats(spec)
    return cached_reference_stats(spec, resolution, extractor, n=None if holdout else ref_n, holdout=holdout,
                                  device=device, progress=False)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement the arguments ask for, as the JSON payload."""
    import sahit
    from sahit.metrics.ablation import ablate, save_ablation_grid
    from sahit.metrics.loading import load_extractor
    from sahit.viz.attention_stats import attention_stats

    runs, placement = parse_named(args.run, "--run"), parse_named(args.placement, "--placement")
    if not runs and not placement:
        raise ValueError("nothing to measure: give --run NAME=RUN and/or --placement NAME=RUN (or --markdown)")
    names = list(dict.fromkeys([*runs, *placement]))
    features, refs = per_run(args.features, names), per_run(args.ref, names)
    holdouts = {name: int(value or 0) for name, value in per_run(args.ref_holdout, names).items()}
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    payload: dict[str, Any] = {"command": " ".join(["python -m experiments.attention_effect", *sys.argv[1:]]),
                               "n": args.n, "stats_n": args.stats_n, "seed": args.seed, "runs": {}, "placement": {}}
    for name, spec in runs.items():
        if features[name] is None:
            raise ValueError(f"run {name!r} needs --features (inception | PATH, or {name}=PATH)")
        G = sahit.load(spec, device=device)
        extractor = load_extractor(features[name], device=device)
        reference = reference_stats(refs[name], G.resolution, extractor, args.ref_n, device, holdouts[name])
        result = ablate(G, extractor, n=args.n, seed=args.seed, batch_size=args.batch_size, reference=reference,
                        device=device, progress=False)
        grid = save_ablation_grid(result, Path(args.grids) / f"attention-effect-{name}.png")
        payload["runs"][name] = {
            "spec": spec, "family": G.config.get("family"), "resolution": G.resolution,
            "features": features[name], "ref": refs[name], "ref_holdout": holdouts[name],
            "weight": weight_curves(spec, G, args.seed),
            "reach": attention_stats(G, n=args.stats_n, seed=args.seed),
            "ablation": {**{k: v for k, v in result.items() if k != "grid"}, "grid": str(grid)},
        }
        print(f"{name}: measured ({len(result['layers'])} attention layers)", file=sys.stderr)
    for name, spec in placement.items():
        extractor = load_extractor(features[name], device=device) if features[name] else None
        G = sahit.load(spec, device=device)
        reference = (reference_stats(refs[name], G.resolution, extractor, args.ref_n, device, holdouts[name])
                     if extractor else None)
        payload["placement"][name] = {"spec": spec, "features": features[name], "ref": refs[name],
                                      "ref_holdout": holdouts[name],
                                      **fid_over_training(spec, reference, extractor, args.n, args.seed, device)}
        print(f"{name}: FID over training recorded", file=sys.stderr)
    return payload


def payload_to_add_to(path: Path, n: int, stats_n: int, seed: int) -> dict[str, Any]:
    """``path``'s payload, if runs measured with these settings may join it (checked before measuring anything).

    The settings every table shares (samples per knock-out, for reach, the seed) must match: a table mixing
    them would compare unlike numbers. ValueError (one line) when they differ; FileNotFoundError without ``path``.
    """
    if not path.is_file():
        raise FileNotFoundError(f"--add: {path} does not exist: measure first without --add")
    base = json.loads(path.read_text())
    for key, value in (("n", n), ("stats_n", stats_n), ("seed", seed)):
        if base[key] != value:
            raise ValueError(f"--add: {path} was measured with {key}={base[key]}, this with {value}; "
                             "give the same value")
    return base


def add_to(path: Path, payload: dict[str, Any]) -> dict[str, Any]:
    """``path``'s payload with ``payload``'s runs and placements added (same name: replaced) and its command listed."""
    base = payload_to_add_to(path, payload["n"], payload["stats_n"], payload["seed"])
    base["runs"].update(payload["runs"])
    base["placement"].update(payload["placement"])
    base["added"] = [*base.get("added", []), payload["command"]]
    return base


# ------------------------------------------------------------------------------ rendering


def _num(value: Any, digits: str = ".3g") -> str:
    return "–" if value is None else format(value, digits)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def weight_table(run: dict[str, Any]) -> str:
    """Per layer and value: first and last logged step, and the final sampling G's (its EMA G where kept)."""
    from sahit.training.attention_log import parse_attention_key

    weight, rows = run["weight"], []
    final = weight.get("final_ema", {})
    for key in sorted(set(weight["points"]) | set(final)):
        net, layer, what = parse_attention_key(key)
        pts = weight["points"].get(key, [])
        first = f"{_num(pts[0][1])} (step {pts[0][0]})" if pts else "–"
        last = f"{_num(pts[-1][1])} (step {pts[-1][0]})" if pts else "–"
        rows.append([net, f"`{layer}`", what, first, last, _num(final.get(key))])
    return _table(["net", "layer", "value", "first", "last", "final G (EMA where kept)"], rows)


def reach_table(run: dict[str, Any]) -> str:
    """Per layer and part: each statistic as model (uniform, 3x3-local)."""
    def cell(v: dict[str, Any]) -> str:
        return "–" if v["model"] is None else f"{_num(v['model'])} ({_num(v['uniform'])}, {_num(v['local'])})"

    rows = [[f"`{e['layer']}`", e["part"], str(e["keys"]), cell(e["mean_distance_px"]), cell(e["entropy"]),
             cell(e["far_share"])] for e in run["reach"]["layers"]]
    return _table(["layer", "part", "keys", "distance px (uniform, local)", "entropy (uniform, local)",
                   "far share (uniform, local)"], rows)


def ablation_table(run: dict[str, Any]) -> str:
    """One row per knock-out: the deltas against the intact generator on the same latents."""
    rows = [[a["knocked_out"] if a["knocked_out"] in ("intact", "all") else f"`{a['knocked_out']}`",
             _num(a["fid_vs_intact"], ".4g"), _num(a["ifid_vs_intact"], ".4g"), _num(a["class_accuracy"]),
             _num(a["fid"], ".4g"), _num(a["mean_abs_change"])] for a in run["ablation"]["arms"]]
    return _table(["knocked out", "FID vs intact", "intra-FID vs intact", "class accuracy", "FID vs data",
                   "mean abs pixel change"], rows)


def placement_table(placement: dict[str, Any]) -> str:
    """FID at every step any run has a number for (checkpoints' EMA FID, else the logged points)."""
    series = {name: {int(s): v for s, v in (p["checkpoint_fid"] or [[q[0], q[1]] for q in p["logged_fid"]])}
              for name, p in placement.items()}
    steps = sorted({s for values in series.values() for s in values})
    rows = [[str(s), *(_num(series[name].get(s), ".4g") for name in placement)] for s in steps]
    rows.append(["final step", *(str(p["final_step"]) for p in placement.values())])
    return _table(["step", *(f"{name} FID" for name in placement)], rows)


def _ref(run: dict[str, Any]) -> str:
    if not run["ref"]:
        return "none"
    held = run.get("ref_holdout", 0)
    return f"the {held:,} images held out of `{run['ref']}`" if held else f"`{run['ref']}`"


def render_markdown(payload: dict[str, Any]) -> str:
    """The tables of docs/attention-effect.md (no verdicts: those are written by hand beside them)."""
    added = "".join(f"; added by `{command}`" for command in payload.get("added", []))
    intro = (f"Numbers from `{payload['command']}`{added} ({payload['n']} samples per knock-out, "
             f"{payload['stats_n']} for reach, seed {payload['seed']}).\n")
    parts = [intro]
    sections = (("Attention's weight over training", weight_table, lambda r: f"source: {r['weight']['source']}"),
                ("Attention's reach", reach_table, lambda r: f"{r['reach']['n']} samples, far = beyond "
                 f"{r['reach']['far_threshold_px']:g} px"),
                ("Knock-outs", ablation_table, lambda r: f"features {r['features']}; FID vs data against "
                 f"{_ref(r)}"))
    for title, table, note in sections:
        parts.append(f"## {title}\n")
        for name, run in payload["runs"].items():
            parts.append(f"### {name} (`{run['spec']}`, {run['family']}, {run['resolution']} px; {note(run)})\n")
            parts.append(table(run) + "\n")
    if payload["placement"]:
        parts.append("## Attention placement at equal steps\n")
        parts.append(placement_table(payload["placement"]) + "\n")
    return "\n".join(parts)


def weight_figure(name: str, run: dict[str, Any], path: Path) -> Path:
    """gamma and contribution ratio of every layer over training, G solid and D dashed, one curve per layer."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    from sahit.training.attention_log import parse_attention_key

    curves = [(*parse_attention_key(key), pts) for key, pts in sorted(run["weight"]["points"].items()) if pts]
    shown = [what for what in ("gamma", "ratio") if any(c[2] == what for c in curves)]  # HiT has no gamma
    if not shown:
        raise ValueError(f"{name}: no gamma or ratio curve to draw")
    fig = Figure(figsize=(4.5 * len(shown), 3.2))
    axes = dict(zip(shown, fig.subplots(1, len(shown), squeeze=False)[0]))
    for net, layer, what, pts in curves:
        if what in axes:
            axes[what].plot([p[0] for p in pts], [p[1] for p in pts], label=f"{net} {layer}",
                            linestyle="-" if net == "G" else "--", marker="." if len(pts) < 30 else None)
    titles = {"gamma": "γ", "ratio": "‖attention branch‖ / ‖residual input‖"}
    for what, ax in axes.items():
        ax.set_title(f"{name}: {titles[what]}", fontsize=10)
        ax.set_xlabel("training step")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k" if x >= 1000 else f"{x:g}"))
        if ax.lines:
            ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", metavar="NAME=RUN", help="a generator to measure (repeatable)")
    parser.add_argument("--placement", action="append", metavar="NAME=RUN",
                        help="a run whose FID over training goes into the placement table (repeatable)")
    parser.add_argument("--features", action="append", metavar="[NAME=]inception|PATH",
                        help="feature extractor, for every run or NAME=... for one")
    parser.add_argument("--ref", action="append", metavar="[NAME=]STATS|DATA",
                        help="real data for FID: a `sahit stats` .npz or a data set, for every run or NAME=...")
    parser.add_argument("--ref-n", type=int, default=10_000, help="reference images when computed here")
    parser.add_argument("--ref-holdout", action="append", metavar="[NAME=]N",
                        help="FID against the N images the run held out of training (e.g. 5000 for the zoo's "
                             "CIFAR-10 runs), for every run or NAME=N for one; default 0: --ref's training images")
    parser.add_argument("--n", type=int, default=5000, help="samples per knock-out and per checkpoint FID")
    parser.add_argument("--stats-n", type=int, default=256, help="samples for the reach statistics")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="results JSON (written, or read by --markdown)")
    parser.add_argument("--grids", default=str(EXPERIMENTS.parent / "docs"),
                        help="folder of the knock-out grids and, with --markdown, the weight figures")
    parser.add_argument("--add", action="store_true",
                        help="add the runs measured now to --json's (same --n, --stats-n, --seed), keeping the others")
    parser.add_argument("--markdown", action="store_true",
                        help="measure nothing: print the markdown tables from --json and draw the weight figures")
    args = parser.parse_args(argv)
    path = Path(args.json)
    try:
        if args.markdown:
            if not path.is_file():
                raise FileNotFoundError(f"{path} does not exist: measure first (--run / --placement)")
            payload = json.loads(path.read_text())
            for name, run in payload["runs"].items():
                if run["weight"]["points"]:
                    weight_figure(name, run, Path(args.grids) / f"attention-effect-weight-{name}.png")
            print(render_markdown(payload))
            return 0
        if args.add:  # refuse a mismatch before minutes of measuring, not after
            payload_to_add_to(path, args.n, args.stats_n, args.seed)
        payload = measure(args)
        if args.add:
            payload = add_to(path, payload)
    except (ValueError, FileNotFoundError) as exc:
        print(f"attention_effect: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
