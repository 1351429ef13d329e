"""HiT layers: blocking reshapes, multi-axis receptive fields, fast path vs plain reference."""

import math

import pytest
import torch

from sahit.layers import (
    BlurDownsample,
    CrossAttention,
    GlobalAttention,
    MultiAxisAttention,
    block_images,
    pixel_shuffle,
    unblock_images,
)

pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


def test_block_unblock_roundtrip_and_layout():
    x = torch.arange(2 * 8 * 12 * 3, dtype=torch.float32).view(2, 8, 12, 3)
    blocks = block_images(x, 4)  # (B, G, P, C)
    assert blocks.shape == (2, 6, 16, 3)
    # Block 1 is the second block of the first grid row; position 5 is (row 1, col 1) inside it.
    assert torch.equal(blocks[:, 1, 5], x[:, 1, 4 + 1])
    assert torch.equal(blocks[:, 3, 0], x[:, 4, 0])  # first block of the second grid row
    assert torch.equal(unblock_images(blocks, grid_width=3, block_size=4), x)
    with pytest.raises(ValueError, match="does not divide"):
        block_images(x, 5)


def test_pixel_shuffle_is_tensorflow_depth_to_space():
    c = 2
    x = torch.randn(1, 3, 5, 4 * c)
    y = pixel_shuffle(x, 2)
    assert y.shape == (1, 6, 10, c)
    for r in range(2):
        for s in range(2):
            assert torch.equal(y[0, r::2, s::2], x[0, :, :, (r * 2 + s) * c : (r * 2 + s + 1) * c])


def _receptive_field(attn: MultiAxisAttention, keep: str, token=(5, 6), size=16) -> set[tuple[int, int]]:
    """Input positions an output token depends on, with only the ``keep`` half of the heads."""
    attn = attn.double()
    half = attn.num_heads // 2 * attn.head_dim
    with torch.no_grad():  # silence the other half of the heads through the output projection
        if keep == "regional":
            attn.proj.weight[:, half:] = 0
        else:
            attn.proj.weight[:, :half] = 0
    x = torch.randn(1, size, size, attn.dim, dtype=torch.float64, requires_grad=True)
    y = attn(x)
    w = torch.randn(attn.dim, dtype=torch.float64)
    (grad,) = torch.autograd.grad((y[0, token[0], token[1]] * w).sum(), x)
    nz = grad[0].abs().sum(-1) > 0  # (H, W)
    return {(int(i), int(j)) for i, j in nz.nonzero()}


def test_multi_axis_receptive_fields_are_block_and_dilated_grid():
    torch.manual_seed(0)
    regional = _receptive_field(MultiAxisAttention(16, 4, 4), "regional")
    assert regional == {(i, j) for i in range(4, 8) for j in range(4, 8)}
    dilated = _receptive_field(MultiAxisAttention(16, 4, 4), "dilated")
    assert dilated == {(i, j) for i in (1, 5, 9, 13) for j in (2, 6, 10, 14)}


def _linear(x, layer):
    return x @ layer.weight.double().T + layer.bias.double()


def _reference_multi_axis(attn: MultiAxisAttention, x: torch.Tensor):
    """Plain float64 multi-axis attention, token by token, in image coordinates."""
    b, height, width, c = x.shape
    x = x.double()
    h, d, s = attn.num_heads, attn.head_dim, attn.block_size
    q = _linear(x, attn.q).view(b, height, width, h, d)
    k = _linear(x, attn.k)  # (B, H, W, d): one key head shared by all query heads
    v = _linear(x, attn.v)
    out = torch.zeros(b, height, width, h, d, dtype=torch.float64)
    probs = {}
    for i in range(height):
        for j in range(width):
            same_block = [(a, e) for a in range(height) for e in range(width) if a // s == i // s and e // s == j // s]
            same_offset = [(a, e) for a in range(height) for e in range(width) if a % s == i % s and e % s == j % s]
            for head in range(h):
                keys = same_block if head < h // 2 else same_offset
                kk = torch.stack([k[:, a, e] for a, e in keys], 1)  # (B, n, d)
                vv = torch.stack([v[:, a, e] for a, e in keys], 1)
                p = torch.softmax((kk @ q[:, i, j, head, :, None]).squeeze(-1) / math.sqrt(d), dim=-1)  # (B, n)
                out[:, i, j, head] = (p[..., None] * vv).sum(1)
                probs[(i, j, head)] = p
    return _linear(out.reshape(b, height, width, c), attn.proj), probs


def test_fast_and_explicit_paths_match_plain_float64_reference():
    torch.manual_seed(0)
    attn = MultiAxisAttention(16, 4, 4)
    for p in attn.parameters():  # non-trivial biases too
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(2, 8, 8, 16)
    ref, probs = _reference_multi_axis(attn, x)
    fast = attn(x)
    explicit, maps = attn(x, return_attention=True)
    assert torch.allclose(fast.double(), ref, atol=1e-5, rtol=1e-4)
    assert torch.allclose(explicit.double(), ref, atol=1e-5, rtol=1e-4)
    # Token (5, 6): block (1, 1) = block index 3, position (1, 2) inside it = 6.
    assert maps["regional"].shape == (2, 4, 2, 16, 16) and maps["dilated"].shape == (2, 16, 2, 4, 4)
    assert torch.allclose(maps["regional"][:, 3, 0, 6].double(), probs[(5, 6, 0)], atol=1e-6)
    assert torch.allclose(maps["dilated"][:, 6, 0, 3].double(), probs[(5, 6, 2)], atol=1e-6)
    assert torch.allclose(maps["regional"].sum(-1), torch.ones(()), atol=1e-6)


def test_cross_and_global_attention_match_reference():
    torch.manual_seed(0)
    cross = CrossAttention(dim=16, latent_dim=24, num_heads=4)
    x, lat = torch.randn(2, 4, 4, 16), torch.randn(2, 5, 24)
    q = _linear(x.double(), cross.q).view(2, 16, 4, 4)  # (B, N, h, d)
    k, v = _linear(lat.double(), cross.k), _linear(lat.double(), cross.v)  # (B, M, d)
    p = torch.softmax(torch.einsum("bnhd,bmd->bhnm", q, k) / 2.0, dim=-1)
    ref = _linear(torch.einsum("bhnm,bmd->bnhd", p, v).reshape(2, 4, 4, 16), cross.proj)
    y, maps = cross(x, lat, return_attention=True)
    assert torch.allclose(cross(x, lat).double(), ref, atol=1e-5)
    assert torch.allclose(y.double(), ref, atol=1e-5)
    assert torch.allclose(maps.double(), p, atol=1e-6)

    glob = GlobalAttention(16, 4)
    q = _linear(x.double(), glob.q).view(2, 16, 4, 4)
    t = x.double().view(2, 16, 16)
    k, v = _linear(t, glob.k), _linear(t, glob.v)
    p = torch.softmax(torch.einsum("bnhd,bmd->bhnm", q, k) / 2.0, dim=-1)
    ref = _linear(torch.einsum("bhnm,bmd->bnhd", p, v).reshape(2, 4, 4, 16), glob.proj)
    assert torch.allclose(glob(x).double(), ref, atol=1e-5)


def test_multi_axis_rejects_bad_shapes():
    with pytest.raises(ValueError, match="even"):
        MultiAxisAttention(12, 3, 4)
    with pytest.raises(ValueError, match="do not divide"):
        MultiAxisAttention(10, 4, 4)
    with pytest.raises(ValueError, match="does not divide"):
        MultiAxisAttention(8, 2, 4)(torch.randn(1, 6, 6, 8))
    with pytest.raises(ValueError, match="expected"):
        MultiAxisAttention(8, 2, 4)(torch.randn(1, 8, 8, 4))


def test_blur_downsample_halves_and_preserves_constants():
    blur = BlurDownsample(3)
    x = torch.ones(2, 3, 8, 8)
    y = blur(x)
    assert y.shape == (2, 3, 4, 4)
    assert torch.allclose(y[:, :, 1:-1, 1:-1], torch.ones(()))  # interior: the filter sums to 1


def test_blur_downsample_equals_the_zero_padded_binomial_filter():
    blur = BlurDownsample(2).double()
    x = torch.randn(2, 2, 8, 6, dtype=torch.float64)
    f = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))  # TensorFlow SAME padding: 1 zero on each side
    ref = torch.zeros(2, 2, 4, 3, dtype=torch.float64)
    for i in range(4):
        for j in range(3):
            ref[:, :, i, j] = (padded[:, :, 2 * i:2 * i + 4, 2 * j:2 * j + 4] * (f[:, None] * f[None, :])).sum((2, 3))
    assert torch.allclose(blur(x), ref / 64)


def test_cpu_bf16_attention_takes_matmul_softmax_for_small_maps(monkeypatch):
    """Under CPU bf16 autocast, small multi-query maps skip the fused kernel (slow backward in bf16),
    with the softmax normalised in fp32; the result agrees with the float64 reference to bf16 accuracy."""
    import torch.nn.functional as F

    from sahit.layers import self_attention as attention_module
    from sahit.models.hit import multi_axis

    calls, sdpa = [], F.scaled_dot_product_attention

    def recording_sdpa(*args, **kwargs):
        calls.append(args[0].shape)
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(multi_axis.F, "scaled_dot_product_attention", recording_sdpa)
    torch.manual_seed(0)
    attn = MultiAxisAttention(16, 4, 4)
    x = torch.randn(2, 8, 8, 16)
    ref, _ = _reference_multi_axis(attn, x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = attn(x)
    assert not calls  # regional 32 query rows x 16 keys, dilated 8 x 4: both small
    assert y.dtype == torch.bfloat16 and torch.allclose(y.double(), ref, atol=3e-2, rtol=3e-2)
    y.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in attn.parameters())

    monkeypatch.setattr(attention_module, "CPU_BF16_EXPLICIT_MAX_LOGITS", 0)  # every map "large": the fused kernel
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused = attn(x)
    assert len(calls) == 2  # one call per axis
    assert torch.allclose(fused.double(), ref, atol=3e-2, rtol=3e-2)
    attn(x)  # no autocast: the fused kernel in fp32, whatever the size
    assert len(calls) == 4


def test_softmax_keys_normalises_half_precision_in_fp32():
    from sahit.layers.self_attention import softmax_keys

    logits = (torch.randn(3, 5, 40) * 4).bfloat16()
    p = softmax_keys(logits)
    assert p.dtype == torch.bfloat16
    assert torch.equal(p, torch.softmax(logits.float(), dim=-1).bfloat16())
    x = torch.randn(2, 7, dtype=torch.float64)
    assert softmax_keys(x).dtype == torch.float64 and torch.equal(softmax_keys(x), torch.softmax(x, dim=-1))


def test_blur_downsample_runs_in_fp32_under_cpu_autocast():
    """oneDNN's bf16 depthwise backward is slow on the CPU: the blur computes in fp32 under autocast,
    with the same values and input gradient as outside it."""
    blur = BlurDownsample(4)
    x = torch.randn(2, 4, 8, 8).bfloat16().float().requires_grad_(True)  # representable in bf16 and fp32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = blur(x.bfloat16())
    assert y.dtype == torch.float32
    expected = blur(x)
    assert torch.allclose(y, expected, atol=1e-6)
    y.sum().backward()
    grad_autocast = x.grad.clone()
    x.grad = None
    expected.sum().backward()
    assert torch.allclose(grad_autocast, x.grad, atol=1e-6)
