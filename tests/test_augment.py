"""DiffAugment: shapes, determinism under a seed, differentiability, each op's semantics."""

import pytest
import torch

from sahit.augment import diff_augment, rand_contrast, rand_cutout, rand_saturation, rand_translation


def test_shape_seed_and_gradient():
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    a = diff_augment(x, generator=torch.Generator().manual_seed(0))
    b = diff_augment(x, generator=torch.Generator().manual_seed(0))
    c = diff_augment(x, generator=torch.Generator().manual_seed(1))
    assert a.shape == x.shape
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(3)
    d = diff_augment(x)
    torch.manual_seed(3)
    assert torch.equal(d, diff_augment(x))  # the global torch RNG works too
    a.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_translation_moves_pixels_with_zero_fill():
    x = torch.zeros(64, 1, 16, 16)
    x[:, 0, 8, 8] = 1.0
    y = rand_translation(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y.sum(dim=(1, 2, 3)), torch.ones(64))  # a shift of at most 2 keeps the pixel
    pos = y[:, 0].flatten(1).argmax(1)
    dy, dx = pos // 16 - 8, pos % 16 - 8
    assert dy.abs().max() <= 2 and dx.abs().max() <= 2 and len(set(zip(dy.tolist(), dx.tolist()))) > 5
    full = rand_translation(torch.ones(64, 1, 16, 16), generator=torch.Generator().manual_seed(0))
    assert ((full == 0) | (full == 1)).all() and (full == 0).any()


def test_cutout_zeroes_a_quarter_square_at_most():
    x = torch.ones(256, 3, 16, 16)
    y = rand_cutout(x, generator=torch.Generator().manual_seed(0))
    zeroed = (y[:, 0] == 0).flatten(1).sum(1)
    assert zeroed.max() == 64 and zeroed.min() > 0  # 8x8 squares, clipped at the borders
    assert torch.equal(y[:, 0], y[:, 2])  # the same mask on every channel


def test_color_ops_keep_means_where_they_should():
    x = torch.randn(8, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    assert torch.allclose(rand_saturation(x, generator=g).mean(1), x.mean(1), atol=1e-6)
    assert torch.allclose(rand_contrast(x, generator=g).mean((1, 2, 3)), x.mean((1, 2, 3)), atol=1e-6)


def test_policy_errors():
    with pytest.raises(ValueError, match="unknown augmentation"):
        diff_augment(torch.zeros(1, 3, 8, 8), policy="color,flip")
    assert torch.equal(diff_augment(torch.ones(1, 3, 8, 8), policy=""), torch.ones(1, 3, 8, 8))


def test_parse_augment_setting():
    from sahit.augment import parse_augment

    assert parse_augment("") == "" and parse_augment("  ") == ""
    assert parse_augment("diffaug") == "color,translation,cutout"
    assert parse_augment("diffaug:translation, color") == "translation,color"
    for bad, match in (("ada", "must look like"), ("diffaug:", "names no operation"),
                       ("diffaug:color,flip", "unknown augmentation 'flip'")):
        with pytest.raises(ValueError, match=match):
            parse_augment(bad)
