"""Single-axis variants of multi-axis attention (HiT's ablations) against a plain reference."""

import math

import pytest
import torch

from sahit.layers import MultiAxisAttention

pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


def _linear(x, layer):
    return x @ layer.weight.double().T + layer.bias.double()


def _reference(attn: MultiAxisAttention, x: torch.Tensor, regional_heads: int) -> torch.Tensor:
    """Plain float64 attention in image coordinates: heads [0, regional_heads) attend to the query's
    own b x b block, the others to the tokens at the query's offset in every block."""
    b, height, width, c = x.shape
    x = x.double()
    h, d, s = attn.num_heads, attn.head_dim, attn.block_size
    q = _linear(x, attn.q).view(b, height, width, h, d)
    k, v = _linear(x, attn.k), _linear(x, attn.v)  # (B, H, W, d): one key / value head for all query heads
    out = torch.zeros(b, height, width, h, d, dtype=torch.float64)
    for i in range(height):
        for j in range(width):
            block = [(a, e) for a in range(height) for e in range(width) if (a // s, e // s) == (i // s, j // s)]
            offset = [(a, e) for a in range(height) for e in range(width) if (a % s, e % s) == (i % s, j % s)]
            for head in range(h):
                keys = block if head < regional_heads else offset
                kk = torch.stack([k[:, a, e] for a, e in keys], 1)  # (B, n, d)
                vv = torch.stack([v[:, a, e] for a, e in keys], 1)
                p = torch.softmax((kk @ q[:, i, j, head, :, None]).squeeze(-1) / math.sqrt(d), dim=-1)  # (B, n)
                out[:, i, j, head] = (p[..., None] * vv).sum(1)
    return _linear(out.reshape(b, height, width, c), attn.proj)


@pytest.mark.parametrize("axes, heads, regional_heads", [
    ("multi_axis", 4, 2), ("regional", 4, 4), ("dilated", 4, 0), ("regional", 3, 3), ("dilated", 1, 0),
])
def test_every_axis_mode_matches_plain_reference(axes, heads, regional_heads):
    torch.manual_seed(0)
    attn = MultiAxisAttention(12, heads, 2, axes=axes)
    for p in attn.parameters():  # non-trivial biases too
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(2, 4, 6, 12)
    ref = _reference(attn, x, regional_heads)
    explicit, maps = attn(x, return_attention=True)
    assert torch.allclose(attn(x).double(), ref, atol=1e-5, rtol=1e-4)
    assert torch.allclose(explicit.double(), ref, atol=1e-5, rtol=1e-4)
    expected = {"multi_axis": {"regional", "dilated"}, "regional": {"regional"}, "dilated": {"dilated"}}[axes]
    assert set(maps) == expected
    if "regional" in maps:
        assert maps["regional"].shape == (2, 6, regional_heads, 4, 4)  # (B, G, heads, P, P)
    if "dilated" in maps:
        assert maps["dilated"].shape == (2, 4, heads - regional_heads, 6, 6)  # (B, P, heads, G, G)


@pytest.mark.parametrize("axes, field", [
    ("regional", {(i, j) for i in range(4, 8) for j in range(4, 8)}),
    ("dilated", {(i, j) for i in (1, 5, 9, 13) for j in (2, 6, 10, 14)}),
])
def test_single_axis_receptive_field(axes, field):
    torch.manual_seed(0)
    attn = MultiAxisAttention(16, 4, 4, axes=axes).double()
    x = torch.randn(1, 16, 16, 16, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad((attn(x)[0, 5, 6] * torch.randn(16, dtype=torch.float64)).sum(), x)
    nz = grad[0].abs().sum(-1) > 0  # (H, W): the inputs token (5, 6) depends on, through every head
    assert {(int(i), int(j)) for i, j in nz.nonzero()} == field


def test_same_parameters_in_every_mode_and_bad_axes_rejected():
    counts = {a: sum(p.numel() for p in MultiAxisAttention(16, 4, 4, axes=a).parameters())
              for a in ("multi_axis", "regional", "dilated")}
    assert len(set(counts.values())) == 1
    with pytest.raises(ValueError, match="axes must be one of"):
        MultiAxisAttention(16, 4, 4, axes="local")
    with pytest.raises(ValueError, match="even"):
        MultiAxisAttention(12, 3, 4)  # only the split needs an even number of heads
