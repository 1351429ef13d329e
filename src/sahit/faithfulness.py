"""Every preset's recipe and architecture values against the papers and the official code.

``REFERENCES`` is the one table of reference values: per model family, one row per value, with the
paper's value, the official code's (compared with the presets, with file and line), and BigGAN-PyTorch's
or StudioGAN's where they differ. ``DEVIATIONS`` says why a preset (or every preset of a family) differs
from the official value. ``preset_report`` resolves a training preset and compares it; ``markdown``
renders docs/faithfulness.md (``python tools/faithfulness.py > docs/faithfulness.md``; a test checks
that the committed file equals the generated one).

Official code read for this table (file:line in those repositories):
SAGAN: brain-research/self-attention-gan; BigGAN: ajbrock/BigGAN-PyTorch; StudioGAN:
POSTECH-CVLab/PyTorch-StudioGAN; HiT: google-research/hit-gan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SAGAN_REPO = "brain-research/self-attention-gan"
HIT_REPO = "google-research/hit-gan"


@dataclass(frozen=True)
class Reference:
    """One value: its key (a TrainConfig key or ``model.<field>``), and what the sources say."""

    key: str
    label: str
    paper: str
    official: Any  # the official code's value, compared with the presets; a dict maps a variant to its value
    source: str  # file:line in the official repository
    others: str = ""  # BigGAN-PyTorch / StudioGAN where they differ, with file:line


REFERENCES: dict[str, list[Reference]] = {
    "sagan": [
        Reference("loss", "loss", "hinge", "hinge", "model.py:53, 63-73"),
        Reference("lr_g", "G learning rate", "1e-4", 1e-4, "model.py:40"),
        Reference("lr_d", "D learning rate", "4e-4", 4e-4, "model.py:38"),
        Reference("betas_g", "Adam betas (G)", "(0, 0.9)", [0.0, 0.999], "model.py:42, 137 (TF's default beta2)",
                  "BigGAN SAGAN script: 0.999 (scripts/launch_SAGAN_bs128x2_ema.sh:5)"),
        Reference("betas_d", "Adam betas (D)", "(0, 0.9)", [0.0, 0.999], "model.py:42, 135 (TF's default beta2)",
                  "StudioGAN ImageNet SAGAN: 0.999 (src/configs/ImageNet/SAGAN-256.yaml:20)"),
        Reference("n_dis", "D steps per G step", "1", 1, "train_imagenet.py:60-61, 132"),
        Reference("batch_size", "batch size", "256", 256, "train_imagenet.py:42 (flag default 64)",
                  "BigGAN: 128 x 2 accumulations (launch_SAGAN_bs128x2_ema.sh:3-4)"),
        Reference("steps", "G steps", "~1M", 1_000_000, "train_imagenet.py:139 (stops at 2M)",
                  "StudioGAN: 1M (SAGAN-256.yaml:22)"),
        Reference("update", "update", "alternating", "alternating", "train_imagenet.py:132-137 (sequential hooks)"),
        Reference("reuse_fake", "G step reuses D step's fakes", "-", False,
                  "utils_ori.py:46, model.py:221 (z, y drawn in the graph: fresh per train op)",
                  "BigGAN: fresh (train_fns.py:69-70); StudioGAN: fresh (src/worker.py:519)"),
        Reference("d_sn_in_g_step", "D's power iteration also in the G step", "-", False,
                  "model.py:273-275 (NO_OPS on fakes), ops.py:165-171",
                  "BigGAN: every training pass (layers.py:93-98); StudioGAN: every pass (worker.py:281-282)"),
        Reference("ema_decay", "G EMA decay", "none", None, "none in the official code",
                  "BigGAN SAGAN script: 0.9999 (utils.py:284; launch_SAGAN_bs128x2_ema.sh:11); "
                  "StudioGAN: none (src/config.py:102)"),
        Reference("ema_start", "G EMA start", "-", None, "-",
                  "BigGAN SAGAN script: 2000 (launch_SAGAN_bs128x2_ema.sh:11)"),
        Reference("ema_kimg", "G EMA half-life (kimg)", "-", None, "-"),
        Reference("ema_rampup", "G EMA half-life ramp-up", "-", None, "-"),
        Reference("ema_spectral_norm", "EMA's spectral-norm u, v", "-", None, "-",
                  "BigGAN: averages u, runs power iteration in eval too (utils.py:638-640, layers.py:93); "
                  "StudioGAN: averages u, v (src/utils/ema.py:37-40)"),
        Reference("class_conditional", "class-conditional", "yes", True, "model.py:219-221; generator.py:80-81"),
        Reference("flip", "random flips", "-", False, "utils_ori.py:218-240 (none)"),
        Reference("data_crop", "crop", "-", "center", "utils_ori.py:226-229 (pre-resized 128x128 records)"),
        Reference("model.init", "weight initialisation", "-", "xavier",
                  "ops.py:47, 105, 200, 230, 257; non_local.py:21, 34, 48",
                  "BigGAN SAGAN script: xavier (launch_SAGAN_bs128x2_ema.sh:10); StudioGAN: orthogonal "
                  "(src/config.py:108-110)"),
        Reference("model.bn_momentum", "G batch-norm momentum", "-", 0.001,
                  "ops.py:310 (CBN decay 0.999; the last BN: 0.9999, ops.py:363)",
                  "BigGAN: 0.1 (layers.py:213); StudioGAN: 0.1 (src/utils/ops.py:227)"),
        Reference("model.n_power_iterations", "power iterations", "1", 1, "ops.py:125"),
        Reference("model.attn_key_ratio", "attention keys", "C/8", 0.125, "non_local.py:55"),
        Reference("model.attn_value_ratio", "attention values",
                  "C (arXiv v1); C/8 + W_v (ICML, v2)", 0.5, "non_local.py:71, 80"),
        Reference("model.attn_pool_kv", "2x2 max-pool of keys, values", "-", True, "non_local.py:61, 72"),
        Reference("model.g_attn_res", "attention in G at", "-", [32], "generator.py:208",
                  "BigGAN SAGAN script: 64 (launch_SAGAN_bs128x2_ema.sh:6)"),
        Reference("model.z_dim", "z dimension", "-", 128, "model.py:49"),
    ],
    "hit": [
        Reference("loss", "loss", "-", "logistic", "run.py:88 (non-saturating)"),
        Reference("r1_gamma", "R1 weight", "-", 10.0, "run.py:92-95; utils/losses.py:29-41"),
        Reference("r1_every", "R1 every k D steps", "-", 1, "trainers/gan_trainer.py:148-152"),
        Reference("lr_g", "G learning rate", "-", {"imagenet": 1e-4, "faces": 5e-5},
                  "README.md:39, 88, 121"),
        Reference("lr_d", "D learning rate", "-", {"imagenet": 1e-4, "faces": 5e-5},
                  "README.md:40, 89, 122"),
        Reference("betas_g", "Adam betas (G)", "-", [0.0, 0.99], "run.py:68-70"),
        Reference("betas_d", "Adam betas (D)", "-", [0.0, 0.99], "run.py:68-70"),
        Reference("n_dis", "D steps per G step", "-", 1, "trainers/gan_trainer.py:138-217"),
        Reference("batch_size", "batch size", "-", 256, "README.md:36, 85, 118"),
        Reference("steps", "steps", "-", {"imagenet": 1_000_000, "faces": 500_000},
                  "README.md:36 (ImageNet), 118 (FFHQ; CelebA-HQ 250k: 85)"),
        Reference("update", "update", "-", "simultaneous", "trainers/gan_trainer.py:142-217 (one forward pass)"),
        Reference("reuse_fake", "G step reuses D step's fakes", "-", False, "(one fake batch per step)"),
        Reference("bcr_weight", "bCR weight", "-", {"imagenet": 0.0, "faces": 10.0},
                  "run.py:79-82; README.md:90, 123"),
        Reference("ema_decay", "G EMA decay", "-", 0.999, "run.py:75"),
        Reference("ema_start", "G EMA start", "-", 10, "run.py:77; trainers/gan_trainer.py:128-136"),
        Reference("class_conditional", "class-conditional", "no (ImageNet 128)", False,
                  "trainers/gan_trainer.py:144-146 (no labels)"),
        Reference("flip", "random flips", "-", True, "run.py:51"),
        Reference("data_crop", "crop (training)", "-", {"imagenet": "random", "faces": "center"},
                  "utils/datasets.py:164-169 (ImageNet: random; evaluation: centre), 172-185 (faces: none)"),
        Reference("data_crop_fraction", "crop size", "-", {"imagenet": 0.875, "faces": 1.0}, "README.md:37, 86"),
        Reference("data_interpolation", "resize", "-", "bicubic", "utils/dataset_utils.py:32, 35 (antialiased)"),
        Reference("model.num_classes", "classes", "-", 0, "models/generators.py (latents only)"),
        Reference("model.z_dim", "z dimension", "-", {"imagenet": 256, "faces": 512}, "README.md:39, 88"),
        Reference("model.d_channel_base", "D width (16384 x multiplier)", "-", {"imagenet": 16384, "faces": 32768},
                  "README.md:40, 89 (channel_multiplier 1 / 2)"),
    ],
}

# Which official configuration a preset follows (default: the first of the row's variants).
VARIANTS = {"hit-faces256": "faces", "hit-L-faces256": "faces", "hit-faces1024": "faces"}
# The configuration a family's other presets follow, named in `sahit presets` (none: the family has one).
DEFAULT_VARIANTS = {"hit": "imagenet"}
# The preset whose values the "sahit" column of each family's table shows.
FLAGSHIPS = {"sagan": "sagan-imagenet128-tf", "hit": "hit-imagenet128"}

CPU = "CPU-sized preset"
# Why sahit differs from the official value: per family (every preset of it), then per preset.
DEVIATIONS: dict[str, dict[str, str]] = {
    "sagan": {
        "ema_decay": "sahit keeps an EMA copy of G as well as G (BigGAN-PyTorch's SAGAN script's 0.9999)",
        "ema_start": "BigGAN-PyTorch's SAGAN script",
        "ema_spectral_norm": "power iteration on the averaged weights keeps the EMA layers' sigma at 1 "
                             "(measured: tests/training/test_recipes.py)",
    },
    "sagan-imagenet128": {
        "ema_start": "the preset's own choice (20k of 1M steps)",
        "model.g_attn_res": "BigGAN-PyTorch's SAGAN script (attention at 64); sagan-imagenet128-tf has the "
                            "official 32",
    },
    "sagan-cifar10": {
        "batch_size": "CIFAR-10 at 32 px (StudioGAN: 64)",
        "steps": "CIFAR-10 at 32 px (StudioGAN: 100k)",
        "ema_kimg": "StyleGAN2-ADA's CIFAR-10 EMA (stylegan2-ada-pytorch training/training_loop.py:298-301, "
                    "train.py:160): the fixed 0.9999 from step 1000 made the EMA worse than the raw G in short runs",
        "ema_rampup": "StyleGAN2-ADA's CIFAR-10 EMA: the half-life is at most 5% of the images seen",
        "model.g_attn_res": "attention at 16x16 of 32 px (StudioGAN's CIFAR-10 SAGAN)",
    },
    "cifar10-small": {
        "steps": f"{CPU}: 7,500 steps, about 36 minutes on 2 cores with bf16 (docs/race.md)",
        "lr_g": f"{CPU}: doubled with lr_d (TTUR's ratio kept): lower held-out FID after 10 CPU minutes in every "
                "seed (experiments/cpu_recipe.py, docs/zoo.md)",
        "lr_d": f"{CPU}: doubled with lr_g (experiments/cpu_recipe.py, docs/zoo.md)",
        "flip": "random horizontal flips, as StudioGAN's CIFAR-10 recipe (src/config.py:264)",
        "model.bn_momentum": "PyTorch's and StudioGAN's 0.1: with 0.001 the running statistics that sampling uses "
                             "lagged thousands of steps (FID 46 for the first 1,500 steps of the race, docs/race.md)",
    },
    "quickstart": {
        "lr_g": f"{CPU}: raised for a short run", "lr_d": f"{CPU}: raised for a short run",
        "betas_g": f"{CPU}: tuned that way (kept from 0.1.0 with its results)",
        "betas_d": f"{CPU}: tuned that way (kept from 0.1.0 with its results)",
        "batch_size": CPU, "steps": CPU, "ema_decay": f"{CPU}: short EMA", "ema_start": f"{CPU}: short EMA",
        "model.g_attn_res": f"{CPU}: 16 px",
        "model.z_dim": CPU,
        "reuse_fake": f"{CPU}: fresh latents cost ~19% more time per step at this size; kept so its "
                      "published grids stay reproducible",
        "d_sn_in_g_step": f"{CPU}: kept so its published grids stay reproducible",
        "ema_spectral_norm": f"{CPU}: kept so its published grids stay reproducible",
        "flip": f"{CPU}: kept so its published grids stay reproducible",
        "model.init": f"{CPU}: sahit's earlier init, kept so its published grids stay reproducible",
        "model.bn_momentum": f"{CPU}: torch's default, kept so its published grids stay reproducible",
    },
    "hit-quickstart": {
        "lr_g": f"{CPU}: raised for a short run", "lr_d": f"{CPU}: raised for a short run",
        "r1_gamma": f"{CPU}: lazy R1 (StyleGAN2)", "r1_every": f"{CPU}: lazy R1 (StyleGAN2)",
        "batch_size": CPU, "steps": CPU, "ema_decay": f"{CPU}: short EMA", "ema_start": f"{CPU}: short EMA",
        "update": f"{CPU}: tuned with alternating updates; kept so its published results stay reproducible",
        "reuse_fake": f"{CPU}: kept so its published results stay reproducible",
        "class_conditional": f"{CPU}: learns the built-in shapes' classes",
        "data_crop": f"{CPU}: built-in data (folders: sahit's resize and centre crop)",
        "data_crop_fraction": f"{CPU}: built-in data", "data_interpolation": f"{CPU}: built-in data",
        "model.z_dim": CPU, "model.d_channel_base": CPU,
    },
    "hit-cifar10-small": {
        "r1_gamma": f"{CPU}: CIFAR-10 at 32 px (StyleGAN2-ADA's CIFAR-10 gamma is 0.01), lazy R1 (StyleGAN2)",
        "r1_every": f"{CPU}: lazy R1 (StyleGAN2)",
        "lr_g": f"{CPU}: batch 32 (official 1e-4 at batch 256), and 4e-4 rather than 2e-4: lower held-out FID after "
                "10 CPU minutes in every seed (experiments/cpu_recipe.py --family hit, docs/zoo.md)",
        "lr_d": f"{CPU}: batch 32 (official 1e-4 at batch 256), doubled with lr_g",
        "batch_size": CPU, "steps": f"{CPU}: about 34 minutes on 2 cores with bf16 (docs/race.md)",
        "class_conditional": "class accuracy and intra-FID next to cifar10-small's conditional SAGAN",
        "data_crop": "CIFAR-10 is 32x32 already: no crop", "data_crop_fraction": "CIFAR-10 is 32x32 already: no crop",
        "model.z_dim": f"{CPU}: hit-32 model preset", "model.d_channel_base": f"{CPU}: hit-32 model preset",
    },
    "hit-imagenet64": {"model.z_dim": "small preset for CPU / one GPU", "model.d_channel_base": "small preset"},
}


UNUSED = "unused"


def _resolved(preset: str) -> tuple[Any, Any]:
    """(TrainConfig, model config) of a training preset as `sahit train --preset PRESET` resolves them."""
    from .models import model_config
    from .training.config import config_from_dict, load_preset

    cfg = config_from_dict(load_preset(preset))
    return cfg, model_config(cfg.model.name, **cfg.model.args)


def _value(cfg: Any, model: Any, key: str) -> Any:
    return getattr(model, key[len("model."):]) if key.startswith("model.") else getattr(cfg, key)


def official_value(ref: Reference, preset: str) -> Any:
    if isinstance(ref.official, dict):
        return ref.official.get(VARIANTS.get(preset, ""), next(iter(ref.official.values())))
    return ref.official


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))
    return a == b


def training_presets() -> list[str]:
    """Every shipped training preset."""
    from .training.config import available_presets

    return available_presets()


def family_name(preset: str) -> str:
    from .models.registry import family_of
    from .training.config import load_preset

    return family_of(load_preset(preset)["model"]).name


def preset_report(preset: str) -> list[dict[str, Any]]:
    """One entry per reference row: the preset's value, the official value, and whether (and why) it differs."""
    from .training.config import preset_chain, unused_keys

    family = family_name(preset)
    cfg, model = _resolved(preset)
    reasons = dict(DEVIATIONS.get(family, {}))
    for name in reversed(preset_chain(preset)):  # a preset's base's reasons hold for it too
        reasons.update(DEVIATIONS.get(name, {}))
    unused = unused_keys(cfg)
    rows = []
    for ref in REFERENCES.get(family, []):  # a family without an official reference has no rows
        value, official = _value(cfg, model, ref.key), official_value(ref, preset)
        differs = official is not None and not _same(value, official)
        if official is None:  # the official code has no such value (e.g. no EMA): sahit's choice, if stated
            differs = ref.key in reasons
        if ref.key in unused:  # another key replaces it (ema_kimg > 0: ema_decay, ema_start)
            value, differs = UNUSED, False
        rows.append({"key": ref.key, "value": value, "official": official, "differs": differs,
                     "why": reasons.get(ref.key, "")})
    return rows


def recipe_summary(preset: str) -> str:
    """One line for `sahit presets`: the recipe a preset trains with and where it deviates."""
    from .models.registry import family_of

    family = family_of(family_name(preset))
    variant = VARIANTS.get(preset) or DEFAULT_VARIANTS.get(family.name, "")
    source = family.recipe_name + (f", {variant} settings" if variant else "")
    from .training.config import preset_chain

    # the family's own choices (e.g. SAGAN's EMA) are part of its recipe
    own = {k for name in preset_chain(preset) for k in DEVIATIONS.get(name, {})}
    differs = [r["key"] for r in preset_report(preset) if r["differs"] and r["key"] in own]
    return source + (f"; differs in {', '.join(differs)}" if differs else "")


# ----------------------------------------------------------------------------------------- markdown


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}" if value >= 10_000 else str(value)
    if isinstance(value, list):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    if isinstance(value, dict):
        return ", ".join(f"{_fmt(v)} ({k})" for k, v in value.items())
    return str(value)


def markdown() -> str:
    """docs/faithfulness.md: one table per family (one row per value), then every preset's deviations."""
    repos = {"sagan": SAGAN_REPO, "hit": HIT_REPO}
    presets = training_presets()
    lines = [
        "# Faithfulness: every preset against the papers and the official code",
        "",
        "Generated by `python tools/faithfulness.py > docs/faithfulness.md` from the presets and the reference",
        "table in `src/sahit/faithfulness.py`; `tests/test_faithfulness.py` checks that this file is current and",
        "that every preset's resolved recipe equals the official values except where a reason is given below.",
        "Official code: file:line in the repository named above each table. The \"sahit\" column shows the values",
        "of the preset named in its header as `sahit train --preset NAME` resolves them (the family's recipe in the",
        "model registry, then each preset's `base:` chain, then the values the preset's YAML states); every",
        "preset's differences are listed after each table.",
        "Where the paper text and the official code disagree, sahit follows the code that produced the paper's",
        "numbers and offers the other as an option. The paper column is filled where the paper's text was checked",
        "(\"-\": not stated there, or not checked).",
        "",
    ]
    for family, refs in REFERENCES.items():
        members = [p for p in presets if family_name(p) == family]
        default = FLAGSHIPS[family]
        reports = {p: {r["key"]: r for r in preset_report(p)} for p in members}
        lines += [f"## {family} ({repos[family]})", "",
                  (f"| value | paper | official code | file:line | BigGAN / StudioGAN | sahit (`{default}`) "
                   "| why sahit differs |"),
                  "|---|---|---|---|---|---|---|"]
        for ref in refs:
            row = reports[default][ref.key]
            why = row["why"] if row["differs"] else ""
            lines.append(f"| {ref.label} (`{ref.key}`) | {ref.paper} | {_fmt(ref.official)} | {ref.source} | "
                         f"{ref.others} | {_fmt(row['value'])} | {why} |")
        lines += ["", f"Presets of {family} that differ from the official values:", ""]
        for p in members:
            diffs = [r for r in reports[p].values() if r["differs"]]
            variant = f" ({VARIANTS[p]} settings)" if p in VARIANTS else ""
            if not diffs:
                lines.append(f"- `{p}`{variant}: none")
                continue
            lines.append(f"- `{p}`{variant}: " + "; ".join(
                f"`{r['key']}` {_fmt(r['value'])} [official {_fmt(r['official'])}]: {r['why']}" for r in diffs))
        lines.append("")
    lines += _reuse_fake_section()
    return "\n".join(lines).rstrip() + "\n"


def _reuse_fake_section() -> list[str]:
    """The measured cost and benefit of reuse_fake, from experiments/results/reuse_fake.json (if present)."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "experiments" / "results" / "reuse_fake.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    arms, eq = data["arms"], data.get("equal_time", {})
    times = data["budget"]["step_times"]

    def fid(name: str) -> str:
        mean = arms[name].get("fid", {}).get("mean")
        per_seed = ", ".join(f"{r['fid']:.2f}" for r in arms[name]["runs"] if "fid" in r)
        return f"{mean:.2f} (seeds: {per_seed})" if mean is not None else "-"

    fast = eq.get("faster_arm", "reuse")
    slow = "fresh" if fast == "reuse" else "reuse"
    lines = [
        "## What `reuse_fake` costs and buys",
        "",
        (f"`python -m experiments.reuse_fake --data CIFAR10_TRAIN_FOLDER` ({data['budget']['steps']} G steps, "
         f"batch {data['budget']['batch_size']}, sagan-cifar10 at width {data['budget']['width']}, seeds "
         f"{', '.join(str(s) for s in data['budget']['seeds'])}, FID of {data['budget']['eval_n']} samples with a "
         "CIFAR-10 domain feature extractor; experiments/results/reuse_fake.json):"),
        "",
        "| | fresh z, y for the G step (default) | reuse the D step's fakes |",
        "|---|---|---|",
        f"| seconds per step (interleaved, 1 thread) | {times['fresh']:.3f} | {times['reuse']:.3f} |",
        f"| FID at equal steps (final evaluation) | {fid('fresh')} | {fid('reuse')} |",
    ]
    if eq.get(f"{fast}_fid_mean") is not None and eq.get(f"{slow}_fid_mean") is not None:
        cells = {fast: f"{eq[f'{fast}_fid_mean']:.2f} ({eq[f'{fast}_steps']} steps)",
                 slow: f"{eq[f'{slow}_fid_mean']:.2f} ({eq[f'{slow}_steps']} steps, interpolated)"}
        lines.append(f"| FID at equal time ({eq['seconds']:.0f} s; FID curves) | {cells['fresh']} | {cells['reuse']} |")
        lines += ["", (f"Equal time: the faster arm's {eq[f'{fast}_steps']} steps took as long as "
                       f"{eq[f'{slow}_steps']} of the slower arm's (step times measured interleaved in one process); "
                       f"the slower arm's FID curve (evaluated every "
                       f"{data['budget']['steps'] // max(1, data['budget']['eval_points'])} steps) is interpolated "
                       "linearly there, which overstates its FID a little where the curve still falls steeply. "
                       "The other settings are pinned in the script (EMA 0.99, Adam (0, 0.9), and sahit 0.1.0's "
                       "defaults).")]
    return [*lines, ""]
