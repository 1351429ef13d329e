"""Latent and class interpolation: slerp/lerp, class mixes, grids and GIFs."""

import pytest
import torch
from PIL import Image

import sahit
from sahit.cli import main
from sahit.layers import ConditionalBatchNorm2d
from sahit.viz.interpolation import class_interpolation, interpolate, latent_path, lerp, seed_latent, slerp


def gif_length_ms(path) -> int:
    """A GIF's total duration: Pillow merges identical consecutive frames into one longer frame, so the number of
    frames depends on the samples while the duration does not."""
    image = Image.open(path)
    total = 0
    for index in range(image.n_frames):
        image.seek(index)
        total += image.info["duration"]
    return total


def test_slerp_and_lerp_hit_the_ends_and_slerp_keeps_the_norm():
    a, b = torch.randn(64, generator=torch.Generator().manual_seed(0)), torch.randn(64)
    b = b / b.norm() * a.norm()
    t = torch.linspace(0, 1, 7)
    for fn in (slerp, lerp):
        path = fn(a, b, t)
        assert path.shape == (7, 64)
        torch.testing.assert_close(path[0], a)
        torch.testing.assert_close(path[-1], b)
    norms = slerp(a, b, t).norm(dim=1)
    torch.testing.assert_close(norms, torch.full_like(norms, float(a.norm())))
    assert lerp(a, b, t)[3].norm() < a.norm()  # the straight line cuts inside the sphere
    with pytest.raises(ValueError, match="at least two seeds"):
        latent_path([0], 8, 4)


def test_interpolation_starts_at_the_seeds_sample(tiny_run):
    G = sahit.load(tiny_run)
    result = interpolate(G, seeds=[5, 6, 7], classes=[2, 3], steps=4)
    assert result.images.shape == (2, 2, 4, 3, 32, 32)
    z5 = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(5))[0]
    torch.testing.assert_close(seed_latent(5, G.z_dim), z5)
    torch.testing.assert_close(result.images[1, 0, 0], G.sample(1, classes=3, seed=5)[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(result.images[0, 1, -1], G.sample(1, classes=2, seed=7)[0], atol=1e-5, rtol=0)


def test_cli_writes_png_and_gif(tiny_run, tmp_path):
    png, gif = tmp_path / "i.png", tmp_path / "i.gif"
    assert main(["interpolate", "--run", str(tiny_run), "--seeds", "0", "1", "2", "--classes", "1", "4",
                 "--steps", "3", "--out", str(png), "--gif", str(gif)]) == 0
    assert Image.open(png).size == (round((1.3 + 3 * 0.9) * 100), round((0.45 + 4 * 0.9) * 100))  # 4 rows, 3 columns
    image = Image.open(gif)
    assert image.size == (2 * 128, 128)  # two classes side by side, 32 px enlarged x4
    assert gif_length_ms(gif) == (2 * (2 * 3 - 1) - 2) * 80  # there (5 distinct latents) and back, 80 ms each


def test_cli_rejects_bad_class(tiny_run, tmp_path, capsys):
    assert main(["interpolate", "--run", str(tiny_run), "--class", "12", "--out", str(tmp_path / "i.png")]) == 2
    assert "class 12 is out of range" in capsys.readouterr().err


def test_class_interpolation_ends_are_the_pure_class_samples(tiny_run):
    G = sahit.load(tiny_run)
    with torch.no_grad():  # after 2 steps the classes' CBN gains are still ~1: make the classes differ
        for cbn in (m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)):
            cbn.gain.weight.add_(0.5 * torch.randn_like(cbn.gain.weight))
    result = class_interpolation(G, 2, 7, seeds=[3, 4], steps=5, truncation=0.8)
    assert result.images.shape == (2, 1, 5, 3, 32, 32)
    for row, seed in enumerate([3, 4]):
        start, end = (G.sample(1, classes=k, seed=seed, truncation=0.8)[0] for k in (2, 7))
        torch.testing.assert_close(result.images[row, 0, 0], start, atol=1e-5, rtol=0)
        torch.testing.assert_close(result.images[row, 0, -1], end, atol=1e-5, rtol=0)
        middle = result.images[row, 0, 2]
        assert (middle - start).abs().max() > 1e-3 and (middle - end).abs().max() > 1e-3


def test_class_interpolation_needs_the_soft_class_hook(tiny_run, monkeypatch):
    G = sahit.load(tiny_run)
    monkeypatch.setattr(G, "soft_classes", False)
    with pytest.raises(ValueError, match="cannot take a mix of classes"):
        class_interpolation(G, 0, 1)


def test_cli_class_interpolation(tiny_run, tmp_path, capsys):
    png, gif = tmp_path / "c.png", tmp_path / "c.gif"
    assert main(["interpolate", "--run", str(tiny_run), "--between", "1", "5", "--seeds", "0", "9", "--steps", "4",
                 "--out", str(png), "--gif", str(gif)]) == 0
    assert "class 1 → 5" in capsys.readouterr().out
    assert Image.open(png).size == (round((1.3 + 4 * 0.9) * 100), round((0.45 + 2 * 0.9) * 100))  # 2 rows, 4 columns
    assert Image.open(gif).size == (2 * 128, 128) and gif_length_ms(gif) == (2 * 4 - 2) * 80
    assert main(["interpolate", "--run", str(tiny_run), "--between", "1", "10", "--out", str(png)]) == 2
    assert "class 10 is out of range" in capsys.readouterr().err
