"""Knock-outs at sampling time: what a trained generator loses without each attention layer.

For the intact generator, each attention contribution knocked out alone, and all of them at once
(:func:`sahit.models.knockout.knocked_out`), :func:`ablate` samples the same ``n`` latents and labels
and reports, against the intact generator's own samples (so 0 means "no change"):

- ``fid_vs_intact``: FID between the knocked-out and the intact samples;
- ``ifid_vs_intact``: intra-FID, the mean over classes of that FID (class-conditional G);
- ``class_accuracy``: how often the extractor's classifier names the class the sample was asked for
  (a domain extractor trained on the run's classes);
- ``fid`` against real data when reference statistics are given;
- ``mean_abs_change``: mean |pixel difference| to the intact images of the preview grid ([-1, 1] scale).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..models.knockout import knocked_out, knockout_names
from .evaluate import evaluate_features, extract_features, generated_batches
from .extractor import FeatureExtractor
from .fid import fid_from_features, intra_fid
from .loading import load_extractor
from .stats import FeatureSet, ReferenceStats

INTACT, ALL = "intact", "all"


def arms(G: torch.nn.Module, layers: Sequence[str] | None = None) -> list[tuple[str, list[str]]]:
    """``[(label, knocked-out names)]``: intact, each layer alone, then all at once (with more than one)."""
    names = knockout_names(G)
    if not names:
        raise ValueError("this generator has no attention layers: there is nothing to knock out")
    chosen = names if layers is None else list(layers)
    unknown = [name for name in chosen if name not in names]
    if unknown:
        raise ValueError(f"no attention layer named {unknown[0]!r}; this generator has {', '.join(names)}")
    out = [(INTACT, []), *((name, [name]) for name in chosen)]
    if len(chosen) > 1:
        out.append((ALL, list(chosen)))
    return out


@torch.no_grad()
def ablate(
    G: torch.nn.Module,
    extractor: str | Path | FeatureExtractor,
    *,
    n: int = 5000,
    seed: int = 0,
    batch_size: int = 100,
    layers: Sequence[str] | None = None,
    reference: ReferenceStats | None = None,
    grid_n: int = 8,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Knock out each attention layer of ``G`` in turn (and all at once) and measure what changes.

    Returns ``{"n", "seed", "extractor", "layers": [...names], "arms": [{"knocked_out": label, "layers",
    "fid_vs_intact", "ifid_vs_intact", "class_accuracy", "fid", "mean_abs_change"}], "restored_identical",
    "grid": (arms, grid_n, 3, R, R) tensor}`` (values None where not defined). ``restored_identical``
    checks that the intact samples after every knock-out equal those before, bit for bit.
    """
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    plan = arms(G, layers)
    device = device or next(G.parameters()).device
    extractor = load_extractor(extractor, device=device)
    conditional = bool(getattr(G, "num_classes", 0))
    classify = conditional and extractor.num_classes == G.num_classes
    z_grid = G.sample_noise(grid_n, seed + 1)
    y_grid = G.sample_labels(grid_n, None)
    features: dict[str, FeatureSet] = {}
    grids = []
    for label, names in plan:
        with knocked_out(G, names):
            features[label] = extract_features(
                generated_batches(G, n, batch_size, seed), extractor, keep_features=True, keep_logits=classify,
                total=-(-n // batch_size), progress=progress, desc=label)
            grids.append(G.sample_from(z_grid, y_grid).cpu())
    restored = torch.equal(G.sample_from(z_grid, y_grid).cpu(), grids[0])
    intact = features[INTACT]
    results = []
    for (label, names), grid in zip(plan, grids):
        fs = features[label]
        same = label == INTACT  # against itself: 0 by definition, not float rounding's 1e-19
        entry: dict[str, Any] = {"knocked_out": label, "layers": names,
                                 "fid_vs_intact": 0.0 if same else fid_from_features(intact.features, fs.features)}
        entry["ifid_vs_intact"] = (None if not conditional else 0.0 if same
                                   else intra_fid(intact.features, intact.labels, fs.features, fs.labels))
        entry["class_accuracy"] = (float(np.mean(fs.logits.argmax(1) == fs.labels)) if classify else None)
        entry["fid"] = (evaluate_features(reference, fs, extractor, ["fid"], seed=seed)["fid"].value
                        if reference is not None else None)
        entry["mean_abs_change"] = float((grid - grids[0]).abs().mean())
        results.append(entry)
    return {"n": n, "seed": seed, "extractor": extractor.metadata(), "layers": [label for label, _ in plan if label not in (INTACT, ALL)],
            "class_accuracy_note": None if classify else _no_accuracy_reason(conditional, extractor, G),
            "arms": results, "restored_identical": restored, "grid": torch.stack(grids)}


def _no_accuracy_reason(conditional: bool, extractor: FeatureExtractor, G: torch.nn.Module) -> str:
    if not conditional:
        return "unconditional generator: no class to check"
    return (f"the extractor classifies {extractor.num_classes} classes, the generator makes {G.num_classes}: "
            "pass --features PATH of a domain extractor trained on the run's classes")


def format_ablation_table(result: dict[str, Any]) -> str:
    """A text table: one row per arm, FID / intra-FID vs intact, class accuracy, FID vs data, pixel change."""
    def number(v: Any, digits: str = ".4g") -> str:
        return "-" if v is None else format(v, digits)

    header = ["knocked out", "FID vs intact", "intra-FID vs intact", "class acc.", "FID vs data", "mean |Δpixel|"]
    rows = [[a["knocked_out"], number(a["fid_vs_intact"]), number(a["ifid_vs_intact"]),
             number(a["class_accuracy"], ".3f"), number(a["fid"]), number(a["mean_abs_change"], ".3g")]
            for a in result["arms"]]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"{result['n']} samples per row, the same latents and labels (seed {result['seed']}); "
                 f"features {result['extractor']['extractor']}")
    if result.get("class_accuracy_note"):
        lines.append(f"class accuracy: {result['class_accuracy_note']}")
    return "\n".join(lines)


def save_ablation_grid(result: dict[str, Any], path: str | Path) -> Path:
    """One row of preview samples per arm (intact first), each row labelled with what is knocked out."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from torchvision.utils import make_grid

    grid = result["grid"]  # (arms, k, 3, R, R)
    labels = [a["knocked_out"] for a in result["arms"]]
    fig = Figure(figsize=(1.0 * grid.shape[1] + 2.2, 1.0 * len(labels) + 0.4))
    axes = fig.subplots(len(labels), 1, squeeze=False)[:, 0]
    for ax, row, label in zip(axes, grid, labels):
        strip = make_grid(row.float() * 0.5 + 0.5, nrow=len(row), padding=1).clamp(0, 1)
        ax.imshow(strip.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("intact (top) and each knock-out, same latents", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
