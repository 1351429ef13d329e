"""The model card (``README.md``) of an export folder: what the generator is and how it was made.

The card opens with YAML front matter as the Hugging Face hub reads it (``license``, ``tags``, ...),
then says, in Markdown: the model, the data, the steps, the recipe, the metrics measured during
training, the command that made it and the sahit version. What is not known (an export written
from Python without a training record) is said to be unknown rather than left out.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from ._version import __version__
from .runs import read_log

DEFAULT_LICENSE = "apache-2.0"
# Config keys shown in the recipe table, in this order (all keys are also in the full config below it).
RECIPE_KEYS = ("loss", "lr_g", "lr_d", "betas_g", "betas_d", "adam_eps", "lr_decay_start", "n_dis", "batch_size",
               "ema_decay", "ema_start", "ema_kimg", "ema_rampup", "r1_gamma", "r1_every", "bcr_weight", "bcr_policy",
               "augment", "flip", "precision", "seed")
UNKNOWN = "unknown"


@dataclass
class TrainingRecord:
    """How a generator was trained, as far as the card is concerned.

    ``config``: the training config (``TrainConfig.to_dict()``); ``step``: generator updates done;
    ``evals``: the evaluation records of ``log.jsonl`` (``{"step", "fid", ...}``); ``command``: the
    command line that ran the training (``sys.argv``).
    """

    config: dict[str, Any] | None = None
    step: int | None = None
    evals: list[dict[str, Any]] = field(default_factory=list)
    command: list[str] | None = None


def training_record(run_dir: str | Path, config: dict[str, Any], step: int,
                    command: list[str] | None = None) -> TrainingRecord:
    """The record of the run in ``run_dir``: its config and step, the FIDs in its ``log.jsonl``, this process's argv."""
    evals = [r for r in read_log(Path(run_dir)) if isinstance(r.get("fid"), (int, float))
             and not isinstance(r.get("fid"), bool) and math.isfinite(r["fid"])]
    return TrainingRecord(config=config, step=step, evals=evals, command=list(sys.argv if command is None else command))


def render_command(argv: list[str]) -> str:
    """``sys.argv`` as a line to paste: the ``sahit`` script and ``python -m sahit`` both read ``sahit ...``."""
    if not argv:
        return UNKNOWN
    first = Path(argv[0])
    if first.name == "sahit" or (first.name == "__main__.py" and first.parent.name == "sahit"):
        head = ["sahit"]
    else:
        head = ["python", argv[0]]
    return shlex.join(head + list(argv[1:]))


def model_card(generator: nn.Module, training: TrainingRecord | None = None, license: str = DEFAULT_LICENSE,
               has_ema: bool = True, version: str = __version__) -> str:
    """The Markdown text of the card for ``generator`` (with its YAML front matter)."""
    model = dict(getattr(generator, "config", {}) or {})
    family = model.get("family", UNKNOWN)
    classes = int(getattr(generator, "num_classes", 0))
    config = (training.config if training else None) or {}
    front = {
        "license": license,
        "library_name": "sahit",
        "tags": ["sahit", "gan", str(family), "image-generation", "pytorch"],
    }
    if classes == 0:
        front["pipeline_tag"] = "unconditional-image-generation"
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", ""]
    preset = config.get("model", UNKNOWN)
    lines += [f"# sahit {family} generator" + (f" ({preset})" if preset != UNKNOWN else ""), ""]

    lines += ["## Model", "", "| | |", "|---|---|",
              f"| family | {family} |",
              f"| preset | {preset} |",
              f"| resolution | {getattr(generator, 'resolution', UNKNOWN)} px |",
              f"| classes | {classes if classes else '0 (unconditional)'} |",
              f"| latent size (z_dim) | {getattr(generator, 'z_dim', UNKNOWN)} |",
              f"| parameters | {sum(p.numel() for p in generator.parameters()):,} |",
              "| weights | " + ("`generator_ema.safetensors` (EMA: what `sahit.load` returns), `generator.safetensors`"
                                if has_ema else "`generator.safetensors`") + " |",
              ""]

    data = config.get("data", UNKNOWN)
    if data == "builtin":
        data = f"builtin (sahit's built-in shapes, {config.get('data_length', UNKNOWN):,} images)"
    if config.get("data_holdout"):
        data += f"; {config['data_holdout']:,} images held out of training (`data_holdout`; evaluation compares with them)"
    lines += ["## Data", "", f"{data}", ""]

    step = training.step if training and training.step is not None else None
    lines += ["## Training", ""]
    if step is None:
        lines += [f"Steps: {UNKNOWN} (this export was written without a training record).", ""]
    else:
        batch = config.get("batch_size")
        seen = f" ({step * batch * config.get('n_dis', 1):,} real images shown to D)" if batch else ""
        lines += [f"Steps: {step:,} generator updates{seen}.", ""]
    if config:
        lines += ["| recipe | |", "|---|---|"]
        lines += [f"| {key} | {_value(config[key])} |" for key in RECIPE_KEYS if key in config]
        lines += ["", "<details><summary>full training config</summary>", "", "```yaml",
                  yaml.safe_dump(config, sort_keys=False).strip(), "```", "", "</details>", ""]
    else:
        lines += [f"Recipe: {UNKNOWN}.", ""]

    lines += ["## Metrics", ""]
    evals = training.evals if training else []
    if training is None:
        lines += [f"{UNKNOWN.capitalize()} (this export was written without a training record).", ""]
    elif evals:
        best = min(evals, key=lambda r: r["fid"])
        last = max(evals, key=lambda r: r["step"])
        lines += ["Measured during training (`eval_every`), on the EMA generator:", "",
                  "| | step | FID | samples | features | reference |", "|---|---|---|---|---|---|"]
        for name, r in (("best", best), ("last", last)):
            lines.append(f"| {name} | {r['step']:,} | {r['fid']:.4g} | {r.get('eval_n', UNKNOWN)} | "
                         f"{r.get('extractor', UNKNOWN)} | {r.get('reference', UNKNOWN)} |")
        lines.append("")
    else:
        lines += ["None measured during training. Score it with `sahit eval --run FOLDER`.", ""]

    lines += ["## How it was made", ""]
    if training and training.command:
        lines += ["```bash", render_command(training.command), "```", ""]
    else:
        lines += [f"Command: {UNKNOWN}.", ""]
    lines += [f"Written by sahit {version}.", ""]
    lines += ["## Use", "", "```python", "import sahit", "",
              'G = sahit.load("PATH")  # this folder, its run folder, or hf:ORG/NAME',
              "images = G.sample(16, seed=0)  # (16, 3, R, R) in [-1, 1]", "```", ""]
    return "\n".join(lines)


def _value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, dict, bool)) else str(value)
