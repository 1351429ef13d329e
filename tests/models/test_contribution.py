"""Knock-outs and contribution ratios on HiT's ablation variants (global attention, no cross-attention)."""

import pytest
import torch

from sahit.models import build
from sahit.models.contribution import attention_contributions
from sahit.models.knockout import knocked_out, knockout_names


@pytest.mark.parametrize("overrides", [{"attention": "global", "block_sizes": [1, 1, None]},
                                       {"cross_attention": False}, {"attention": "regional"}])
def test_hit_variants_knock_out_and_measure_every_branch(overrides, single_thread):
    torch.manual_seed(0)
    G, _ = build("hit-32", widths=[16, 16, 8], heads=[2, 2, 2], **overrides)
    G.eval()
    names = knockout_names(G)
    has_cross = any(n.endswith(".cross") for n in names)
    assert has_cross == overrides.get("cross_attention", True) and any(".layers." in n for n in names)
    z = G.sample_noise(2, seed=0)
    with torch.no_grad():
        intact = G(z)
        for name in names:
            with knocked_out(G, name):
                assert not torch.equal(G(z), intact), name
        assert torch.equal(G(z), intact)
    ratios = attention_contributions(G, z)
    assert list(ratios) == names and all(v["ratio"] > 0 for v in ratios.values())
    with knocked_out(G, names):  # a knocked-out branch adds nothing: its ratio is exactly 0
        assert all(v["ratio"] == 0 for v in attention_contributions(G, z).values())
