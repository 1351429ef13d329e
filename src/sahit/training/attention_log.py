"""Attention's weight over training: at every log step, each attention layer's gamma and contribution ratio.

The values come from :func:`sahit.models.contribution.attention_contributions` on a fixed small batch:
G on fixed latents (their own seed, never the training stream), D on G's images of those latents. They
go into the step's ``log.jsonl`` record and TensorBoard under ``attention/NET/LAYER/ratio`` and
``attention/NET/LAYER/gamma`` (NET is G or D; LAYER the module path, as ``sahit ablate`` names it).
Measuring runs in eval mode without gradients, so it moves no weight, statistic or random stream:
a run trains bit for bit as it would without it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..models.contribution import attention_contributions
from ..models.knockout import knockout_names
from ..runs import sample_noise

PREFIX = "attention/"
BATCH = 8  # images of the fixed batch: enough for a stable norm ratio, cheap at every log step
SEED_OFFSET = 24_680  # latents from cfg.runtime.seed + this, away from the sample grid's cfg.runtime.seed + 12345


class AttentionLog:
    """Measures G's and D's attention contributions on one fixed batch, made once (lazily) per session."""

    def __init__(self, G: nn.Module, D: nn.Module, seed: int, device: torch.device, batch: int = BATCH) -> None:
        self.G, self.D, self.device = G, D, device
        self.seed, self.batch = seed + SEED_OFFSET, batch
        self.inputs: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def _fixed_inputs(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.inputs is None:
            z = sample_noise(self.batch, self.G.z_dim, self.seed).to(self.device)
            k = self.G.num_classes
            y = (torch.arange(self.batch) % k).to(self.device) if k else None
            self.inputs = (z, y)
        return self.inputs

    @torch.no_grad()
    def values(self) -> dict[str, float]:
        """``{"attention/G/LAYER/ratio": r, "attention/G/LAYER/gamma": g, ...}``; {} without attention."""
        z, y = self._fixed_inputs()
        record: dict[str, float] = {}
        g_values = attention_contributions(self.G, z, y)
        d_values = {}
        if knockout_names(self.D):  # D's attention is measured on G's images of the fixed latents
            was_training = self.G.training
            self.G.eval()
            try:
                fakes = self.G(z, y)
            finally:
                self.G.train(was_training)
            d_values = attention_contributions(self.D, fakes, y)
        for net, values in (("G", g_values), ("D", d_values)):
            for layer, entry in values.items():
                for what, value in entry.items():
                    record[attention_key(net, layer, what)] = value
        return record


def attention_key(net: str, layer: str, what: str) -> str:
    """The log key of one value: ``attention/G/attention.0/gamma``."""
    return f"{PREFIX}{net}/{layer}/{what}"


def parse_attention_key(key: str) -> tuple[str, str, str] | None:
    """``(net, layer, what)`` of a key :func:`attention_key` made, else None."""
    if not key.startswith(PREFIX):
        return None
    net, _, rest = key[len(PREFIX):].partition("/")
    layer, _, what = rest.rpartition("/")
    return (net, layer, what) if net and layer and what else None


def attention_series(records: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, list[tuple[int, float]]]]:
    """From log records: ``{(net, what): {layer: [(step, value), ...]}}``, e.g. ``("G", "gamma")``."""
    series: dict[tuple[str, str], dict[str, list[tuple[int, float]]]] = {}
    for record in records:
        for key, value in record.items():
            parsed = parse_attention_key(key)
            if parsed is None or not isinstance(value, (int, float)):
                continue
            net, layer, what = parsed
            series.setdefault((net, what), {}).setdefault(layer, []).append((int(record["step"]), float(value)))
    return series
