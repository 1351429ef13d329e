"""Attention figures: the maps drawn are the layer's own explicit attention rows."""

import numpy as np
import pytest
import torch
from PIL import Image

import sahit
from sahit.cli import main
from sahit.viz.attention_figure import (
    attention_figure,
    attention_layers,
    attention_panels,
    capture_attention,
    figure_size,
    plot_attention,
    select_points,
)


def test_drawn_map_is_the_layers_explicit_attention_row(tiny_run):
    G = sahit.load(tiny_run)
    name, layer = next(iter(attention_layers(G).items()))
    assert name == "attention.1"
    inputs = {}
    handle = layer.register_forward_pre_hook(lambda m, args: inputs.__setitem__("x", args[0].clone()))
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(3))
    y = torch.tensor([1, 4])
    try:
        captured = capture_attention(G, z, y)
    finally:
        handle.remove()
    cap = captured[name]
    assert cap.query_hw == (16, 16) and cap.key_hw == (8, 8)  # 2x2 max-pooled keys
    points = [(5, 9), (30, 2)]  # pixels (x, y) in the 32x32 image -> query cells (2, 4) and (15, 1)
    panels = attention_panels(32, captured, points)
    with torch.no_grad():
        _, reference = layer(inputs["x"], return_attention=True)  # (B, N, M)
    for panel in panels:
        assert panel.queries == [4 * 16 + 2, 1 * 16 + 15]
        for q, drawn in zip(panel.queries, panel.maps):
            expected = reference[panel.image, q].reshape(8, 8).double().numpy()
            np.testing.assert_array_equal(drawn, expected)  # exactly the layer's row, not a recomputation
            assert drawn.sum() == pytest.approx(1.0, abs=1e-5)
    # What the figure draws is that array itself (imshow's extent does the upsampling).
    fig = plot_attention(torch.zeros(2, 3, 32, 32), panels[:1])
    heat = fig.axes[1].images[1].get_array()
    np.testing.assert_array_equal(np.asarray(heat), panels[0].maps[0])


def test_select_points_picks_the_most_different_rows():
    n, m = 16, 4
    attn = torch.full((n, m), 1 / m)
    attn[3] = torch.tensor([1.0, 0, 0, 0])
    attn[9] = torch.tensor([0, 0, 0, 1.0])
    attn[12] = torch.tensor([0.5, 0.5, 0, 0])
    chosen = select_points(attn, 3)
    assert len(set(chosen)) == 3
    assert set(chosen[:2]) == {3, 9}
    assert select_points(attn, 100) == select_points(attn, n)  # capped at N


def test_cli_writes_attention_png_of_expected_size(tiny_run, tmp_path, capsys):
    out = tmp_path / "attention.png"
    assert main(["attention", "--run", str(tiny_run), "--d", "--n", "2", "--seed", "1", "--out", str(out)]) == 0
    assert "attention.1, D.attention.0" in capsys.readouterr().out
    # 4 rows: (G attention.1, D attention.0) x 2 images; 5 columns: the image and 4 auto queries.
    assert Image.open(out).size == (5 * 190, 4 * 190 + 50)


def test_discriminator_maps_sum_to_one(tiny_run):
    from sahit.viz.run_files import load_discriminator

    result = attention_figure(sahit.load(tiny_run), n=1, seed=1, D=load_discriminator(tiny_run))
    assert [p.layer for p in result.panels] == ["attention.1", "D.attention.0"]
    assert figure_size(result.panels) == (5 * 190, 2 * 190 + 50)
    for panel in result.panels:
        assert len(set(panel.queries)) == 4
        for m in panel.maps:
            assert m.shape == (8, 8) and m.sum() == pytest.approx(1.0, abs=1e-5)


def test_cli_points_and_layer(tiny_run, tmp_path):
    out = tmp_path / "a.png"
    assert main(["attention", "--run", str(tiny_run), "--layer", "attention.1", "--points", "0,0", "31,31",
                 "--n", "1", "--class", "2", "--out", str(out)]) == 0
    assert Image.open(out).size == (3 * 190, 1 * 190 + 50)


@pytest.mark.parametrize("args, message", [
    (["--layer", "attention.7"], "no attention layer named 'attention.7'"),
    (["--points", "3;4"], "--points takes 'auto' or pixel positions"),
    (["--points", "40,1"], "outside the 32x32 image"),
])
def test_cli_bad_arguments_one_line(tiny_run, tmp_path, capsys, args, message):
    assert main(["attention", "--run", str(tiny_run), "--out", str(tmp_path / "x.png"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_no_attention_layers_is_one_clear_line(no_attention_run, tmp_path, capsys):
    assert main(["attention", "--run", str(no_attention_run), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no self-attention layers" in err and len(err.splitlines()) == 1


def test_missing_run_is_one_clear_line(tmp_path, capsys):
    for command in ("attention", "interpolate", "report"):
        assert main([command, "--run", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err.strip()
        assert "does not exist" in err and len(err.splitlines()) == 1
