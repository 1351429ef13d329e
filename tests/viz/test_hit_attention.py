"""HiT attention figures: the maps drawn are the layers' own explicit attention, placed on the image."""

import numpy as np
import pytest
import torch
from PIL import Image

import sahit
from sahit.cli import main
from sahit.models.hit import CrossAttentionLayer, SelfAttentionLayer
from sahit.viz.attention_figure import hit_attention_figure
from sahit.viz.hit_attention import (
    capture_hit_attention,
    hit_attention_layers,
    hit_attention_panels,
    hit_figure_size,
    plot_hit_attention,
    select_hit_points,
)

from ..conftest import sharp_hit_generator

POINTS = [(5, 9), (30, 2)]  # pixels (x, y) of the 32x32 image


@pytest.fixture(scope="module")
def hit_G():
    return sharp_hit_generator()


@pytest.fixture(scope="module")
def hit_run(hit_G, tmp_path_factory):
    """An export folder of an (untrained) HiT-32 generator with its EMA copy."""
    folder = tmp_path_factory.mktemp("hit") / "run"
    sahit.save_generator(folder / "export", hit_G, hit_G)
    return folder


def _reference_maps(G, z, y):
    """Run capture_hit_attention while hooks record what every attention layer returned, and its input."""
    returned, inputs, handles = {}, {}, []
    for name, module in G.named_modules():
        if isinstance(module, (SelfAttentionLayer, CrossAttentionLayer)):
            handles.append(module.register_forward_pre_hook(
                lambda m, args, name=name: inputs.__setitem__(name, args[0].clone())))
            handles.append(module.register_forward_hook(
                lambda m, args, out, name=name: returned.__setitem__(name, out[1])))
    try:
        images, captured = capture_hit_attention(G, z, y)
    finally:
        for h in handles:
            h.remove()
    return images, captured, returned, inputs


@pytest.mark.parametrize("per_head", [False, True])
def test_drawn_maps_are_the_layers_own_attention(hit_G, per_head):
    G = hit_G
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(3))
    y = torch.tensor([1, 4])
    _, captured, returned, inputs = _reference_maps(G, z, y)
    assert list(captured) == hit_attention_layers(G) == [
        "stages.0.cross", "stages.0.layers.0", "stages.1.cross", "stages.1.layers.0", "stages.2.cross"]
    # The multi-axis maps are those of the layer's explicit path, called directly on the same input.
    with torch.no_grad():
        layer = G.stages[1].layers[0]
        _, direct = layer.attn.forward_blocked(layer.norm(inputs["stages.1.layers.0"]), return_attention=True)
    torch.testing.assert_close(returned["stages.1.layers.0"]["regional"], direct["regional"], rtol=0, atol=0)

    panels = hit_attention_panels(32, captured, POINTS, per_head=per_head)
    heads = {"stages.0.cross": 4, "stages.1.cross": 4, "stages.2.cross": 2, "stages.0.layers.0": 2,
             "stages.1.layers.0": 2}
    assert len(panels) == 2 * (sum(heads.values()) if per_head else 5)
    for panel in panels:
        stage = G.stages[int(panel.layer.split(".")[1])]
        s, b, ref = stage.size, stage.block_size, returned[panel.layer]
        assert panel.size == s and panel.points == POINTS
        reduce = (lambda a: a.mean(0)) if panel.head is None else (lambda a, head=panel.head: a[head])
        for i, (x, y_px) in enumerate(POINTS):
            r, c = y_px * s // 32, x * s // 32
            assert panel.cells[i] == (r, c)
            if stage.kind == "multi_axis":
                g, p = (r // b) * (s // b) + c // b, (r % b) * b + c % b  # block and in-block offset
                n = g * b * b + p  # the token's index in the blocked order the layer sees
            else:
                n = r * s + c
            if panel.kind == "cross":
                expected = reduce(ref[panel.image, :, n, :]).double().numpy()  # (M,) over the latent tokens
                drawn = panel.maps["cross"][i]
                assert drawn.shape == (16,)
                _assert_same(drawn, expected, exact=panel.head is not None)
                assert drawn.sum() == pytest.approx(1.0, abs=1e-5)
                continue
            assert panel.kind == "multi_axis" and set(panel.maps) == {"regional", "dilated"}
            regional, dilated = panel.maps["regional"][i], panel.maps["dilated"][i]
            assert regional.shape == dilated.shape == (s, s)
            # Regional: the row over the P positions of the query's own block, at that block, zero elsewhere.
            expected = reduce(ref["regional"][panel.image, g, :, p, :]).double().numpy()  # (P,)
            block = np.zeros((s, s), dtype=bool)
            block[r // b * b:(r // b + 1) * b, c // b * b:(c // b + 1) * b] = True
            _assert_same(regional[block], expected, exact=panel.head is not None)  # row-major = P order
            assert (regional[~block] == 0).all()
            # Dilated: the row over the G blocks at the query's offset, at those positions, zero elsewhere.
            expected = reduce(ref["dilated"][panel.image, p, :, g, :]).double().numpy()  # (G,)
            offset = np.zeros((s, s), dtype=bool)
            offset[r % b::b, c % b::b] = True
            _assert_same(dilated[offset], expected, exact=panel.head is not None)  # row-major = G order
            assert (dilated[~offset] == 0).all()
            assert regional.sum() == pytest.approx(1.0, abs=1e-5)
            assert dilated.sum() == pytest.approx(1.0, abs=1e-5)
            assert regional[r, c] > 0 and dilated[r, c] > 0  # the query is in both of its own key sets
            assert np.ptp(regional[block]) > 1e-3 and np.ptp(dilated[offset]) > 1e-3  # not uniform


def _assert_same(drawn, expected, exact):
    if exact:  # one head: the layer's values themselves
        np.testing.assert_array_equal(drawn, expected)
    else:  # mean over heads: same numbers up to the order of summation
        np.testing.assert_allclose(drawn, expected, rtol=1e-6, atol=1e-9)


def test_figure_draws_those_arrays(hit_G):
    z = torch.randn(1, hit_G.z_dim, generator=torch.Generator().manual_seed(0))
    images, captured = capture_hit_attention(hit_G, z, torch.tensor([2]), layers=["stages.1.layers.0",
                                                                                  "stages.1.cross"])
    panels = hit_attention_panels(32, captured, [(5, 9)])
    assert [p.layer for p in panels] == ["stages.1.layers.0", "stages.1.cross"]
    fig = plot_hit_attention(images, panels)
    axes = fig.axes  # row 0: image, regional, dilated; row 1: image, cross bars
    np.testing.assert_array_equal(np.asarray(axes[1].images[1].get_array()), panels[0].maps["regional"][0])
    np.testing.assert_array_equal(np.asarray(axes[2].images[1].get_array()), panels[0].maps["dilated"][0])
    heights = [bar.get_height() for bar in axes[4].patches]
    np.testing.assert_array_equal(heights, panels[1].maps["cross"][0])
    assert axes[1].images[1].get_extent() == [0, 32, 32, 0]  # stretched over the whole image


def test_auto_points_differ(hit_G):
    z = torch.randn(1, hit_G.z_dim, generator=torch.Generator().manual_seed(1))
    _, captured = capture_hit_attention(hit_G, z, torch.tensor([0]))
    points = select_hit_points(32, captured, 0, 4)
    assert len(set(points)) == 4 and all(0 <= v < 32 for p in points for v in p)
    panels = hit_attention_panels(32, captured, None, num_points=4)
    assert all(p.points == points for p in panels)  # the same points in every layer of the image
    # 16x16 regional maps: points chosen for the most different maps fall in different blocks.
    blocks = {(r // 4, c // 4) for r, c in next(p for p in panels if p.layer == "stages.1.layers.0").cells}
    assert len(blocks) == 4


def test_global_attention_ablation(hit_G):
    G, _ = sahit.build("hit-32", attention="global")
    G.eval()
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0))
    returned = {}
    layer = G.stages[0].layers[0]
    handle = layer.register_forward_hook(lambda m, a, out: returned.__setitem__("attn", out[1]))
    try:
        _, captured = capture_hit_attention(G, z, layers=["stages.0.layers.0"])
    finally:
        handle.remove()
    panel = hit_attention_panels(32, captured, [(13, 20)])[0]
    assert panel.kind == "global"
    expected = returned["attn"][0, :, 5 * 8 + 3].mean(0).reshape(8, 8).double().numpy()  # cell (5, 3)
    np.testing.assert_allclose(panel.maps["global"][0], expected, rtol=1e-6)


@pytest.mark.parametrize("overrides", [{"attention": "regional"}, {"attention": "dilated"}, {"cross_attention": False}])
def test_ablations_without_both_axes_or_cross_attention_are_refused_clearly(overrides):
    G, _ = sahit.build("hit-32", **overrides)
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="is an ablation"):
        capture_hit_attention(G.eval(), z)


def test_cli_draws_hit_attention(hit_run, tmp_path, capsys):
    out = tmp_path / "hit.png"
    assert main(["attention", "--run", str(hit_run), "--n", "1", "--points", "3,3", "20,9", "--layer",
                 "stages.0.layers.0", "--layer", "stages.0.cross", "--class", "1", "--out", str(out)]) == 0
    assert "stages.0.layers.0, stages.0.cross" in capsys.readouterr().out
    # 2 rows (the two layers); 5 columns: the image, then regional + dilated per query.
    assert Image.open(out).size == (5 * 190, 2 * 190 + 50)
    result = hit_attention_figure(sahit.load(hit_run), n=1, layers=["stages.0.layers.0"], points=[(3, 3)],
                                  per_head=True)
    assert [p.head for p in result.panels] == [0, 1]
    assert hit_figure_size(result.panels) == (3 * 190, 2 * 190 + 50)


@pytest.mark.parametrize("args, message", [
    (["--d"], "no attention to draw"),
    (["--layer", "stages.5.cross"], "no attention layer named 'stages.5.cross'"),
    (["--points", "40,1"], "outside the 32x32 image"),
])
def test_cli_bad_arguments_one_line(hit_run, tmp_path, capsys, args, message):
    assert main(["attention", "--run", str(hit_run), "--out", str(tmp_path / "x.png"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_report_has_hit_attention_figure(hit_run, tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", "--run", str(hit_run), "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    section = page[page.index("<h2>Attention</h2>"):page.index("<h2>Configuration</h2>")]
    assert 'alt="HiT attention maps"' in section and "data:image/png;base64," in section
    assert "SAGAN only" not in page
