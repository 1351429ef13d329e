"""Reading a run folder for pictures: the run itself, its discriminator, logs and metrics.

The run folder's layout and its readers are :mod:`sahit.runs`; this module adds what pictures need.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from ..export import load_discriminator
from ..metrics.registry import lower_is_better, output_names
from ..runs import final_step, read_log, read_metrics_files, run_folder, sample_grids

__all__ = ["METRIC_LOWER_IS_BETTER", "best_point", "load_discriminator", "metric_points", "read_log", "run_folder",
           "sample_grids"]

# Metric names as `sahit eval` writes them, and whether lower is better (from the metric registry).
METRIC_LOWER_IS_BETTER = {name: lower_is_better(name) for name in output_names()}
_LOG_METRIC = re.compile(r"^(?:(?:eval|metrics?)[/_.])?(" + "|".join(METRIC_LOWER_IS_BETTER) + r")$")
_STEP_IN_NAME = re.compile(r"(\d+)")


def metric_points(run: Path, records: list[dict[str, Any]] | None = None) -> dict[str, list[tuple[int, float, str]]]:
    """Metric values over training: ``{metric: [(step, value, source), ...]}`` sorted by step.

    From log records with a metric key (``fid``, ``eval/fid``, ...) and from every
    ``metrics*.json`` of the run (``sahit eval``). A file's step is its ``step`` field, else
    the number in its name (``metrics-step-5000.json``), else the run's final step
    (``summary.json``), since ``sahit eval`` evaluates the exported generator.
    """
    points: dict[str, list[tuple[int, float, str]]] = {}
    for record in records if records is not None else read_log(run):
        for key, value in record.items():
            match = _LOG_METRIC.match(key)
            if match and _finite(value):
                points.setdefault(match.group(1), []).append((int(record["step"]), float(value), "log.jsonl"))
    last_step = final_step(run, records)
    for path, payload in read_metrics_files(run):
        step = payload.get("step")
        if not isinstance(step, int):
            numbers = _STEP_IN_NAME.findall(path.stem)
            step = int(numbers[-1]) if numbers else last_step
        if step is None:
            continue
        for name, result in payload["results"].items():
            value = result.get("value") if isinstance(result, dict) else result
            if name in METRIC_LOWER_IS_BETTER and _finite(value):
                points.setdefault(name, []).append((int(step), float(value), path.name))
    return {name: sorted(values) for name, values in points.items()}


def best_point(metric: str, values: list[tuple[int, float, str]]) -> tuple[int, float, str]:
    """The best (step, value, source): lowest for FID/KID/intra-FID, highest otherwise."""
    lower = METRIC_LOWER_IS_BETTER.get(metric, True)
    return (min if lower else max)(values, key=lambda p: p[1])


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
