"""SelfAttention2d against a plain float64 reference written here."""

import pytest
import torch
import torch.nn.functional as F

from sahit.layers import SelfAttention2d


def reference_attention(layer: SelfAttention2d, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SAGAN attention in float64, with explicit loops over the definitions (no shared code)."""
    x = x.double()
    b, _c, h, w = x.shape

    def conv1x1(module, inp):
        weight = module.weight.detach().double()  # spectral-normalised weight as the layer sees it
        return torch.einsum("oi,bihw->bohw", weight[:, :, 0, 0], inp)

    q = conv1x1(layer.f, x)
    k = conv1x1(layer.g, x)
    v = conv1x1(layer.h, x)
    if layer.pool_kv:
        k = F.max_pool2d(k, 2)
        v = F.max_pool2d(v, 2)
    q = q.reshape(b, q.shape[1], -1)  # (B, Ck, N)
    k = k.reshape(b, k.shape[1], -1)  # (B, Ck, M)
    v = v.reshape(b, v.shape[1], -1)  # (B, Cv, M)
    logits = torch.einsum("bcn,bcm->bnm", q, k)  # unscaled, as in SAGAN
    attn = torch.exp(logits - logits.amax(-1, keepdim=True))
    attn = attn / attn.sum(-1, keepdim=True)
    o = torch.einsum("bnm,bcm->bcn", attn, v).reshape(b, -1, h, w)
    if isinstance(layer.v, torch.nn.Identity):
        out = o
    else:
        out = conv1x1(layer.v, o)
    return layer.gamma.detach().double() * out + x, attn


SHAPES = [(1, 16, 4, 4), (2, 32, 8, 8), (3, 64, 8, 6), (2, 16, 16, 16)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("pool_kv", [True, False])
@pytest.mark.parametrize("value_ratio", [0.5, 1.0, 0.0625])
def test_fast_explicit_and_reference_agree(shape, pool_kv, value_ratio):
    torch.manual_seed(0)
    layer = SelfAttention2d(shape[1], pool_kv=pool_kv, value_ratio=value_ratio).eval()
    with torch.no_grad():
        layer.gamma.fill_(0.7)
    x = torch.randn(shape)
    with torch.no_grad():
        fast = layer(x)
        explicit, attn = layer(x, return_attention=True)
        ref, ref_attn = reference_attention(layer, x)
    scale = ref.abs().max()
    assert (fast.double() - ref).abs().max() / scale < 1e-5
    assert (explicit.double() - ref).abs().max() / scale < 1e-5
    assert (attn.double() - ref_attn).abs().max() < 1e-5
    n = shape[2] * shape[3]
    m = n // 4 if pool_kv else n
    assert attn.shape == (shape[0], n, m)
    assert torch.allclose(attn.sum(-1), torch.ones(shape[0], n), atol=1e-5)


def test_unbatched_matches_batched():
    torch.manual_seed(1)
    layer = SelfAttention2d(32).eval()
    with torch.no_grad():
        layer.gamma.fill_(1.0)
        x = torch.randn(4, 32, 8, 8)
        whole = layer(x)
        one_by_one = torch.cat([layer(x[i : i + 1]) for i in range(4)])
    assert torch.allclose(whole, one_by_one, atol=1e-5)


def test_gamma_zero_is_exact_identity():
    layer = SelfAttention2d(32)
    x = torch.randn(2, 32, 8, 8)
    assert layer.gamma.item() == 0.0
    assert torch.equal(layer(x), x)


def test_channel_counts_follow_ratios():
    official = SelfAttention2d(64)
    assert (official.key_channels, official.value_channels) == (8, 32)
    assert official.v.weight.shape == (64, 32, 1, 1)
    paper_text = SelfAttention2d(64, value_ratio=1.0)
    assert isinstance(paper_text.v, torch.nn.Identity)
    assert all(not hasattr(m, "bias") or m.bias is None for m in (official.f, official.g, official.h, official.v))


def test_gradients_reach_every_parameter():
    torch.manual_seed(2)
    layer = SelfAttention2d(32)
    with torch.no_grad():
        layer.gamma.fill_(0.5)
    layer(torch.randn(2, 32, 8, 8)).square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_gamma_gets_gradient_from_zero():
    layer = SelfAttention2d(16)
    layer(torch.randn(2, 16, 4, 4)).square().sum().backward()
    assert layer.gamma.grad.abs() > 0


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="key_ratio"):
        SelfAttention2d(10, key_ratio=0.125)
    layer = SelfAttention2d(16)
    with pytest.raises(ValueError, match="expected"):
        layer(torch.randn(2, 8, 4, 4))
    with pytest.raises(ValueError, match="even"):
        layer(torch.randn(2, 16, 5, 4))
