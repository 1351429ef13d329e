"""Attention reach statistics against hand-set maps with known distances and entropies."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from sahit.models import build
from sahit.models.attention_capture import CapturedAttention
from sahit.models.base import Generator
from sahit.viz.attention_stats import attention_stats, format_stats_table

H = W = 8  # query and key grid of the synthetic layers
R = 16  # image size: one cell is 2 x 2 output pixels
OFFSET = 3  # the "offset" layer: every query attends to the cell 3 columns away (left near the right edge)


def _target(r: int, c: int) -> tuple[int, int]:
    return (r, c + OFFSET) if c + OFFSET < W else (r, c - OFFSET)


class HandSetGenerator(Generator):
    """A generator whose three attention layers return maps set by hand: uniform, identity, fixed offset."""

    def __init__(self) -> None:
        super().__init__()
        self.z_dim, self.num_classes, self.resolution, self.config = 4, 2, R, {"family": "synthetic"}
        self.weight = torch.nn.Parameter(torch.zeros(()))

    def forward(self, z, y=None):
        return torch.zeros(len(z), 3, R, R)

    def attention_layer_names(self):
        return ["uniform", "identity", "offset"]

    def layer_attention(self, z, y=None, layers=None):
        b, n = len(z), H * W
        offset = torch.zeros(n, n)
        for r, c in itertools.product(range(H), range(W)):
            tr, tc = _target(r, c)
            offset[r * W + c, tr * W + tc] = 1
        maps = {"uniform": torch.full((n, n), 1 / n), "identity": torch.eye(n), "offset": offset}
        return self(z), {k: CapturedAttention(v.expand(b, n, n).clone(), (H, W), (H, W)) for k, v in maps.items()}


def _centre(r, c):
    return ((r + 0.5) * R / H, (c + 0.5) * R / W)


def _brute_uniform_and_local():
    """Mean distance, far share and normalised entropy of uniform and 3x3-local maps, by loops."""
    cells = list(itertools.product(range(H), range(W)))
    out = {}
    for kind in ("uniform", "local"):
        dist = far = ent = 0.0
        for q in cells:
            keys = [k for k in cells if kind == "uniform" or max(abs(k[0] - q[0]), abs(k[1] - q[1])) <= 1]
            d = [math.dist(_centre(*q), _centre(*k)) for k in keys]
            dist += sum(d) / len(keys)
            far += sum(x > R / 4 for x in d) / len(keys)
            ent += math.log(len(keys)) / math.log(len(cells))
        out[kind] = (dist / len(cells), ent / len(cells), far / len(cells))
    return out


def test_hand_set_maps_give_known_distances_entropies_and_far_shares():
    stats = attention_stats(HandSetGenerator(), n=4, seed=0)
    by_layer = {e["layer"]: e for e in stats["layers"]}
    assert list(by_layer) == ["uniform", "identity", "offset"] and stats["far_threshold_px"] == R / 4
    ref = _brute_uniform_and_local()
    for e in stats["layers"]:  # the reference columns are the same for every layer over these keys
        for i, stat in enumerate(("mean_distance_px", "entropy", "far_share")):
            assert e[stat]["uniform"] == pytest.approx(ref["uniform"][i], rel=1e-5)
            assert e[stat]["local"] == pytest.approx(ref["local"][i], rel=1e-5)
    uniform = by_layer["uniform"]
    assert uniform["mean_distance_px"]["model"] == pytest.approx(ref["uniform"][0], rel=1e-5)
    assert uniform["entropy"]["model"] == pytest.approx(1.0, rel=1e-5)
    assert uniform["far_share"]["model"] == pytest.approx(ref["uniform"][2], rel=1e-5)
    identity = by_layer["identity"]
    assert [identity[s]["model"] for s in ("mean_distance_px", "entropy", "far_share")] == [0.0, 0.0, 0.0]
    offset = by_layer["offset"]
    assert offset["mean_distance_px"]["model"] == pytest.approx(OFFSET * R / W)  # 3 cells of 2 px
    assert offset["entropy"]["model"] == pytest.approx(0.0, abs=1e-6)
    assert offset["far_share"]["model"] == pytest.approx(1.0)  # 6 px > 16 / 4
    assert set(offset["per_class"]) == {"0", "1"}
    assert offset["per_class"]["1"]["mean_distance_px"] == pytest.approx(6.0)
    table = format_stats_table(stats)
    assert "offset" in table and "6 (" in table and "far = beyond 4 px" in table


def test_pooled_keys_put_the_query_in_its_own_2x2_cell():
    class Pooled(HandSetGenerator):
        def layer_attention(self, z, y=None, layers=None):
            attn = torch.zeros(H * W, (H // 2) * (W // 2))
            for r, c in itertools.product(range(H), range(W)):
                attn[r * W + c, (r // 2) * (W // 2) + c // 2] = 1  # the pooled cell holding the query
            return self(z), {"pooled": CapturedAttention(attn.expand(len(z), -1, -1).clone(), (H, W), (H // 2, W // 2))}

    (entry,) = attention_stats(Pooled(), n=2)["layers"]
    # a query's centre is half a query cell (1 px) from its pooled cell's centre along each axis
    assert entry["mean_distance_px"]["model"] == pytest.approx(math.sqrt(2))
    assert entry["keys"] == 16 and entry["queries"] == 64


def test_hit_parts_are_separate_and_uniform_when_queries_are_zero(single_thread):
    torch.manual_seed(0)
    G, _ = build("hit-32", widths=[16, 16, 8], heads=[2, 2, 2], block_sizes=[2, 4, None], num_classes=2)
    for m in G.modules():
        if hasattr(m, "q") and isinstance(m.q, torch.nn.Linear):  # q = 0: every logit 0, every map uniform
            torch.nn.init.zeros_(m.q.weight)
            torch.nn.init.zeros_(m.q.bias)
    stats = attention_stats(G, n=2, batch_size=1)
    parts = {(e["layer"], e["part"]) for e in stats["layers"]}
    assert {("stages.0.layers.0", "regional"), ("stages.0.layers.0", "dilated"), ("stages.0.cross", "cross"),
            ("stages.1.layers.0", "regional"), ("stages.2.cross", "cross")} <= parts
    for e in stats["layers"]:
        assert e["entropy"]["model"] == pytest.approx(1.0, abs=1e-5)
        if e["part"] == "cross":
            assert e["mean_distance_px"]["model"] is None and e["far_share"]["local"] is None
        else:
            for stat in ("mean_distance_px", "far_share"):
                assert e[stat]["model"] == pytest.approx(e[stat]["uniform"], rel=1e-4, abs=1e-6)
    regional = next(e for e in stats["layers"] if e["part"] == "regional" and e["layer"] == "stages.0.layers.0")
    # stage 0: 8x8 tokens of 4 px on a 32 px image, 2x2 blocks: a uniform row averages 0, 4, 4, 4*sqrt(2) px
    assert regional["mean_distance_px"]["uniform"] == pytest.approx((8 + 4 * math.sqrt(2)) / 4)
    assert regional["keys"] == 4
    dilated = next(e for e in stats["layers"] if e["part"] == "dilated" and e["layer"] == "stages.0.layers.0")
    grid = [(8.0 * i, 8.0 * j) for i in range(4) for j in range(4)]  # same offset in each of 4x4 blocks, 8 px apart
    mean_pairwise = sum(math.dist(a, b) for a in grid for b in grid) / len(grid) ** 2
    assert dilated["mean_distance_px"]["uniform"] == pytest.approx(mean_pairwise, rel=1e-5)
    assert dilated["keys"] == 16
    assert set(regional["per_class"]) == {"0", "1"}


def test_generator_without_attention_says_so():
    G, _ = build("quickstart", g_width=16, d_width=16, z_dim=16, g_attn_res=[], d_attn_res=[])
    with pytest.raises(ValueError, match="no attention layers"):
        attention_stats(G, n=2)


def test_cli_stats_on_a_trained_run(tiny_run, tmp_path, capsys):
    import json

    from sahit.cli import main

    out = tmp_path / "stats.json"
    assert main(["attention", "--run", str(tiny_run), "--stats", "--n", "3", "--json", str(out)]) == 0
    stats = json.loads(out.read_text())
    assert stats["n"] == 3 and [e["layer"] for e in stats["layers"]] == ["attention.1"]
    entry = stats["layers"][0]
    assert 0 <= entry["entropy"]["model"] <= 1 + 1e-6 and entry["part"] == "self"
    printed = capsys.readouterr().out
    assert "attention.1" in printed and f"wrote {out}" in printed
    assert main(["attention", "--run", str(tiny_run), "--stats", "--d"]) == 2  # one line, no traceback
    assert "measures the generator's attention" in capsys.readouterr().err
