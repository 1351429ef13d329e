"""One self-contained HTML page about a run: configuration, curves, metrics, truncation, samples, attention, files.

Every picture is embedded as a ``data:image/png;base64`` URI, so the page opens in a browser
from disk with no server and can be mailed as one file.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..metrics.registry import lower_is_better
from ..runs import (
    CONFIG,
    is_packaged,
    is_run_folder,
    metrics_files,
    read_config,
    read_config_text,
    read_export_config,
    write_text_atomic,
)
from .run_files import best_point, metric_points, read_log, run_folder, sample_grids

MAX_SAMPLE_GRIDS = 8  # evenly spaced over training, plus the final grid
TRUNCATIONS = (0.25, 0.5, 1.0, 1.5, 2.0)  # thresholds of the FID/IS-against-truncation curve (plus none)
TRUNCATION_N = 1000  # samples per point: cheap, enough to rank thresholds (not for comparing with papers)
PLOT_STYLE = {
    "figure.dpi": 100, "savefig.dpi": 100, "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
    "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
    "legend.fontsize": 8, "legend.frameon": False,
}
FILE_NOTES = {
    "config.yaml": "training configuration (every key of TrainConfig)",
    "log.jsonl": "one JSON record per logged step: losses, learning rates, throughput, attention weights",
    "summary.json": "summary of the last training session",
    "samples": "sample grids written during training (one row per class)",
    "checkpoints": "full training state (G, D, EMA, optimizers, RNG), newest kept",
    "export": "generator(s) as safetensors + config.json, for sahit.load",
    "tb": "TensorBoard events (tensorboard --logdir)",
}

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; background: #fff; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
.meta { color: #666; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; }
th { background: #f6f8fa; }
img { max-width: 100%; }
img.samples { max-width: 340px; image-rendering: pixelated; }
figure { display: inline-block; margin: 0.4em; vertical-align: top; }
figcaption { text-align: center; color: #555; font-size: 0.85em; }
.note { color: #a40; }
.row { display: flex; flex-wrap: wrap; gap: 1em; }
.row p { margin: 0; }
code { background: #f6f8fa; padding: 0 0.2em; }
"""


def build_report(
    run: str | Path,
    out: str | Path | None = None,
    attention: bool = True,
    seed: int = 0,
    truncation: Sequence[float] | None = TRUNCATIONS,
    features: str | None = None,
    truncation_n: int = TRUNCATION_N,
) -> Path:
    """Write the HTML report of ``run`` to ``out`` (default ``RUN/report.html``; ``report-NAME.html`` in the
    current folder for ``zoo:NAME``); returns its path.

    The truncation curve (FID and IS at each threshold of ``truncation`` and without truncation,
    ``truncation_n`` samples per point) needs a feature extractor: ``features`` (inception | PATH)
    or the run's ``eval_features``; without one, or with ``truncation=None``, the page says why it is absent.
    """
    folder = run_folder(run)
    if not is_run_folder(folder):
        raise FileNotFoundError(f"{folder} is not a sahit run folder (no config.yaml, log.jsonl or export/)")
    default = Path.cwd() / f"report-{folder.name}.html" if is_packaged(run) else folder / "report.html"
    out = Path(out) if out else default
    records = read_log(folder)
    sections = [
        _section_summary(folder, records),
        _section_training(records),
        _section_attention_weight(records),
        _section_metrics(folder, records),
        _section_truncation(folder, truncation, features, truncation_n, seed),
        _section_samples(folder),
        _section_attention(folder, seed) if attention else "",
        _section_config(folder),
        _section_files(folder, out),
    ]
    step = records[-1]["step"] if records else "?"
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>sahit run {html.escape(folder.name)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>sahit run <code>{html.escape(folder.name)}</code></h1>\n"
        f"<p class=\"meta\">{html.escape(str(folder.resolve()))} · last logged step {step} · "
        f"report written {now}</p>\n"
        + "\n".join(s for s in sections if s)
        + "\n</body>\n</html>\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, page)
    return out


# ------------------------------------------------------------------------------ sections


def _section_summary(folder: Path, records: list[dict[str, Any]]) -> str:
    """Key facts at the top: model, data, progress, batch, learning rates, throughput, best metric."""
    config = read_config(folder)
    model: dict[str, Any] = (read_export_config(folder) or {}).get("model", {})
    step = records[-1]["step"] if records else 0
    rates = [r["it_per_s"] for r in records[1:] if _number(r.get("it_per_s"))]
    images = [r["img_per_s"] for r in records[1:] if _number(r.get("img_per_s"))]
    points = metric_points(folder, records)
    if "fid" in points:
        best = best_point("fid", points["fid"])
        fid = f"{best[1]:.4g} at step {best[0]}"
    else:
        fid = "no metrics yet"
    facts = [
        ("model", (f"{config.get('model', model.get('family', '?'))} ({model.get('family', '?')}, "
                   f"{model.get('resolution', '?')} px, {model.get('num_classes', '?')} classes)")),
        ("data", str(config.get("data", "?"))),
        ("steps", f"{step} of {config.get('steps', '?')}"),
        ("batch size", str(config.get("batch_size", "?"))),
        ("learning rates", f"G {config.get('lr_g', '?')}, D {config.get('lr_d', '?')}"),
        ("throughput (median)", f"{_median(rates)} it/s, {_median(images)} img/s"),
        ("best FID", fid),
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
    return f"<h2>Summary</h2>\n<table>{rows}</table>"


def _section_config(folder: Path) -> str:
    parts = ["<h2>Configuration</h2>"]
    text = read_config_text(folder)
    if text is not None:
        parts.append(f"<p><code>{html.escape(str(folder / CONFIG))}</code></p><pre>{html.escape(text)}</pre>")
    else:
        parts.append("<p class=\"note\">no config.yaml in this run folder</p>")
    export = read_export_config(folder)
    if export is not None:
        model = export.get("model", {})
        parts.append("<p>Model as exported (<code>export/config.json</code>):</p>"
                     f"<pre>{html.escape(json.dumps(model, indent=2))}</pre>")
    return "\n".join(parts)


def _section_training(records: list[dict[str, Any]]) -> str:
    parts = ["<h2>Training</h2>"]
    if not records:
        return parts[0] + "\n<p class=\"note\">no training log yet (log.jsonl is missing or empty)</p>"
    steps = [r["step"] for r in records]
    parts.append("<div class=\"row\">")
    parts.append(_img(_line_plot(
        "Losses", steps, {k: [r.get(k) for r in records] for k in ("loss_d", "loss_g") if any(k in r for r in records)},
        ylabel="loss (per batch)"), "loss curves"))
    lrs = {k: [r.get(k) for r in records] for k in ("lr_g", "lr_d") if any(k in r for r in records)}
    if lrs:
        parts.append(_img(_line_plot("Learning rates", steps, lrs, ylabel="learning rate", logy=True),
                          "learning-rate curves"))
    parts.append("</div>")
    rates = [r["it_per_s"] for r in records[1:] if _number(r.get("it_per_s"))]
    images = [r["img_per_s"] for r in records[1:] if _number(r.get("img_per_s"))]
    if rates or images:
        parts.append(_img(_throughput_plot(records), "throughput"))
        parts.append(
            "<table><tr><th>throughput (median over logged intervals, first excluded)</th><th>value</th></tr>"
            f"<tr><td>iterations per second</td><td>{_median(rates)}</td></tr>"
            f"<tr><td>images per second (G steps × batch size)</td><td>{_median(images)}</td></tr></table>"
        )
    return "\n".join(parts)


def _section_attention_weight(records: list[dict[str, Any]]) -> str:
    """gamma and ||attention branch|| / ||residual input|| of every attention layer over training, one curve each."""
    from ..training.attention_log import attention_key, attention_series

    series = attention_series(records)
    if not series:
        return ""
    steps = [r["step"] for r in records]
    labels = {"gamma": ("γ (learned scale of the attention output)", "γ"),
              "ratio": ("‖attention branch‖ / ‖residual input‖", "contribution ratio")}
    intro = ("<p>At every log step, on a fixed batch (G: fixed latents; D: G's images of them), each attention "
             "layer's γ where it has one, and the norm of what its attention branch adds against the norm of the "
             "residual stream it adds to (0: the layer adds nothing). Layers are named by module path, as "
             "<code>sahit ablate</code> names them.</p>")
    parts = ["<h2>Attention over training</h2>", intro, "<div class=\"row\">"]
    for (net, what), layers in sorted(series.items(), key=lambda item: (item[0][0] != "G", item[0][1])):
        title, ylabel = labels.get(what, (what, what))
        curves = {layer: [r.get(attention_key(net, layer, what)) for r in records] for layer in layers}
        parts.append(_img(_line_plot(f"{net}: {title}", steps, curves, ylabel=ylabel),
                          f"{net} attention {what} per layer"))
    parts.append("</div>")
    return "\n".join(parts)


def _section_metrics(folder: Path, records: list[dict[str, Any]]) -> str:
    points = metric_points(folder, records)
    parts = ["<h2>Metrics</h2>"]
    if not points:
        parts.append("<p class=\"note\">no metrics yet: run <code>sahit eval --run "
                     f"{html.escape(str(folder))}</code> (writes metrics.json) or train with "
                     "<code>eval_every=N</code>.</p>")
        return "\n".join(parts)
    rows = []
    order = sorted(points, key=lambda m: (m != "fid", m))
    parts.append("<div class=\"row\">")
    for metric in order:
        values = points[metric]
        best = best_point(metric, values)
        with matplotlib.rc_context(PLOT_STYLE):
            fig = Figure(figsize=(5.2, 3.2))
            ax = fig.subplots()
            ax.plot([p[0] for p in values], [p[1] for p in values], "o-", color="#0072B2", label=metric.upper())
            ax.plot([best[0]], [best[1]], "*", ms=16, color="#D55E00", label=f"best: {best[1]:.4g} at step {best[0]}")
            ax.set_title(f"{metric.upper()} over training ({'lower' if lower_is_better(metric) else 'higher'}"
                         " is better)")
            ax.set_xlabel("training step (G updates)")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(metric.upper())
            ax.legend()
            fig.tight_layout()
        parts.append(_img(_png(fig), f"{metric} over training"))
        rows.append(f"<tr><td>{html.escape(metric)}</td><td>{best[1]:.6g}</td><td>{best[0]}</td>"
                    f"<td>{html.escape(best[2])}</td><td>{len(values)}</td></tr>")
    parts.append("</div>")
    parts.append("<table><tr><th>metric</th><th>best</th><th>at step</th><th>source</th><th>points</th></tr>"
                 + "".join(rows) + "</table>")
    return "\n".join(parts)


def _section_truncation(
    folder: Path, thresholds: Sequence[float] | None, features: str | None, n: int, seed: int
) -> str:
    """FID and IS against the truncation threshold (BigGAN's variety-against-quality curve)."""
    from ..export import load
    from ..metrics import cached_reference_stats, load_extractor, truncation_sweep

    parts = ["<h2>Truncation</h2>"]
    config = read_config(folder)
    features = features or config.get("eval_features") or None
    command = f"sahit report --run {folder} --features inception|PATH"
    if not thresholds:
        return parts[0] + "\n<p class=\"note\">no truncation curve: left out (--no-truncation)</p>"
    if not features:
        return parts[0] + ("\n<p class=\"note\">no truncation curve: the run has no <code>eval_features</code> and "
                           f"no feature extractor was given (<code>{html.escape(command)}</code>)</p>")
    if not config.get("data"):
        return parts[0] + "\n<p class=\"note\">no truncation curve: config.yaml names no data set to compare with</p>"
    try:
        G = load(folder)
        extractor = load_extractor(features, device=next(G.parameters()).device)
        reference = cached_reference_stats(str(config["data"]), G.resolution, extractor,
                                           n=int(config.get("eval_n") or 5000),
                                           holdout=int(config.get("data_holdout") or 0), progress=False)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return parts[0] + f"\n<p class=\"note\">no truncation curve: {html.escape(message)}</p>"
    points = [*sorted(thresholds), None]
    results = truncation_sweep(G, reference, extractor, points, n=n, seed=seed, progress=False)
    finite = [t for t in points if t is not None]
    with matplotlib.rc_context(PLOT_STYLE):
        fig = Figure(figsize=(9, 3.2))
        for ax, metric, better in zip(fig.subplots(1, 2), ("fid", "is"), ("lower", "higher")):
            ax.plot(finite, [results[t][metric].value for t in finite], "o-", color="#0072B2", label="truncated")
            ax.axhline(results[None][metric].value, ls="--", color="#D55E00", label="no truncation")
            ax.set_title(f"{metric.upper()} against truncation ({better} is better)")
            ax.set_xlabel("truncation threshold (|z| redrawn beyond it)")
            ax.set_ylabel(metric.upper())
            ax.legend()
        fig.tight_layout()
    parts.append(f"<p>EMA generator, {n} samples per point (seed {seed}), {html.escape(extractor.name)} features, "
                 f"reference {html.escape(str(config['data']))} ({reference.n} images). Lower thresholds trade "
                 "variety for quality. Sample with one: <code>sahit sample --run "
                 f"{html.escape(str(folder))} --truncation 0.5</code>.</p>")
    parts.append(_img(_png(fig), "FID and IS against truncation"))
    rows = "".join(f"<tr><td>{'none' if t is None else t}</td><td>{r['fid'].value:.4g}</td><td>{r['is'].value:.4g}"
                   "</td></tr>" for t, r in results.items())
    parts.append(f"<table><tr><th>truncation</th><th>FID</th><th>IS</th></tr>{rows}</table>")
    return "\n".join(parts)


def _section_samples(folder: Path) -> str:
    grids = sample_grids(folder)
    parts = ["<h2>Samples over training</h2>"]
    if not grids:
        return parts[0] + "\n<p class=\"note\">no sample grids yet (samples/ is empty)</p>"
    steps = [g for g in grids if g[0] != "final"]
    if len(steps) > MAX_SAMPLE_GRIDS:
        idx = sorted({round(i * (len(steps) - 1) / (MAX_SAMPLE_GRIDS - 1)) for i in range(MAX_SAMPLE_GRIDS)})
        steps = [steps[i] for i in idx]
    chosen = steps + [g for g in grids if g[0] == "final"]
    parts.append(f"<p>{len(grids)} grids in <code>{html.escape(str(folder / 'samples'))}</code>; "
                 f"{len(chosen)} shown (EMA generator, one row per class).</p>")
    for label, path in chosen:
        parts.append(f"<figure><img src=\"{_data_uri(path.read_bytes())}\" alt=\"samples at {html.escape(label)}\" "
                     f"class=\"samples\"><figcaption>{html.escape(label)}</figcaption></figure>")
    return "\n".join(parts)


def _section_attention(folder: Path, seed: int) -> str:
    from ..export import load
    from .attention_figure import attention_figure, plot_attention
    from .hit_attention import HiTPanel, plot_hit_attention

    parts = ["<h2>Attention</h2>"]
    try:
        G = load(folder)
    except (FileNotFoundError, ValueError) as exc:
        return parts[0] + f"\n<p class=\"note\">no attention figure: {html.escape(str(exc))}</p>"
    if not G.attention_layer_names():
        return parts[0] + "\n<p class=\"note\">this generator has no self-attention layers</p>"
    try:
        result = attention_figure(G, n=2, seed=seed)
    except ValueError as exc:  # e.g. an ablation whose attention the figure does not cover
        return parts[0] + f"\n<p class=\"note\">no attention figure: {html.escape(str(exc))}</p>"
    command = f"<code>sahit attention --run {html.escape(str(folder))} --out attention.png</code>"
    if isinstance(result.panels[0], HiTPanel):  # token maps are wide (two columns per query): one image
        labels = None if result.labels is None else result.labels[:1]
        fig = plot_hit_attention(result.images[:1], [p for p in result.panels if p.image == 0], labels=labels,
                                 title="G attention (HiT): query points (left), their regional / dilated maps "
                                 "and cross-attention over the latent tokens")
        parts.append(f"<p>EMA generator, seed {seed}, one image; query points picked automatically (maps that "
                     "differ most), mean over heads. Multi-axis rows: <em>regional</em> = the query's attention "
                     "inside its own block (outlined on the left), <em>dilated</em> = over the tokens at the same "
                     f"offset in every block. Cross rows: attention over the latent tokens. Make your own with "
                     f"{command} (<code>--per-head</code> for each head).</p>")
        parts.append(_img(_png(fig), "HiT attention maps"))
        return "\n".join(parts)
    fig = plot_attention(result.images, result.panels, labels=result.labels,
                         title="G self-attention: query points (left) and their attention maps")
    parts.append(f"<p>EMA generator, seed {seed}; query points picked automatically (rows that differ most). "
                 f"Make your own with {command}.</p>")
    parts.append(_img(_png(fig), "attention maps"))
    return "\n".join(parts)


def _section_files(folder: Path, out: Path) -> str:
    rows = []
    for name, note in FILE_NOTES.items():
        path = folder / name
        if path.is_dir():
            files = [p for p in path.rglob("*") if p.is_file()]
            size = f"{len(files)} files, {_size(sum(p.stat().st_size for p in files))}"
        elif path.is_file():
            size = _size(path.stat().st_size)
        else:
            size = "absent"
        rows.append(f"<tr><td><code>{html.escape(str(path))}</code></td><td>{size}</td>"
                    f"<td>{html.escape(note)}</td></tr>")
    for path in metrics_files(folder):
        rows.append(f"<tr><td><code>{html.escape(str(path))}</code></td><td>{_size(path.stat().st_size)}</td>"
                    "<td>metrics from sahit eval</td></tr>")
    rows.append(f"<tr><td><code>{html.escape(str(out))}</code></td><td></td><td>this report</td></tr>")
    return ("<h2>Files</h2>\n<table><tr><th>path</th><th>size</th><th>what</th></tr>" + "".join(rows) + "</table>")


# ------------------------------------------------------------------------------ plots


def _line_plot(title: str, steps: Sequence[int], series: dict[str, list], ylabel: str, logy: bool = False) -> bytes:
    with matplotlib.rc_context(PLOT_STYLE):
        fig = Figure(figsize=(5.2, 3.2))
        ax = fig.subplots()
        for name, values in series.items():
            xy = [(s, v) for s, v in zip(steps, values) if isinstance(v, (int, float))]
            ax.plot([p[0] for p in xy], [p[1] for p in xy], label=name, marker="." if len(xy) < 30 else None)
        if logy and all(v > 0 for vs in series.values() for v in vs if isinstance(v, (int, float))):
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("training step (G updates)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.legend()
        fig.tight_layout()
    return _png(fig)


def _throughput_plot(records: list[dict[str, Any]]) -> bytes:
    with matplotlib.rc_context(PLOT_STYLE):
        fig = Figure(figsize=(5.2, 3.2))
        ax = fig.subplots()
        steps = [r["step"] for r in records]
        ax.plot(steps, [r.get("it_per_s", float("nan")) for r in records], color="#0072B2", label="it/s",
                marker="." if len(steps) < 30 else None)
        ax.set_xlabel("training step (G updates)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("iterations / s", color="#0072B2")
        ax2 = ax.twinx()
        ax2.plot(steps, [r.get("img_per_s", float("nan")) for r in records], color="#D55E00", ls="--",
                 label="img/s")
        ax2.set_ylabel("images / s", color="#D55E00")
        ax2.grid(False)
        ax.set_title("Throughput (first interval includes start-up)")
        fig.tight_layout()
    return _png(fig)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _img(png: bytes, alt: str) -> str:
    return f"<p><img src=\"{_data_uri(png)}\" alt=\"{html.escape(alt)}\"></p>"


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.3g}" if values else "n/a"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
