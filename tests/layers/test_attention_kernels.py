"""SAGAN attention's fused path is eligible for SDPA's flash / memory-efficient kernels, and equals the explicit path.

The CPU test checks what the kernels require of their inputs; the ``cuda`` tests force the kernels
(SDPA raises when none of the allowed ones can run) and compare with the explicit matmul-softmax path.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from sahit.layers import SelfAttention2d
from sahit.layers import self_attention as attention_module

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
FLASH, EFFICIENT = SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION


@pytest.mark.parametrize("channels, value_ratio", [(64, 0.5), (64, 1.0), (256, 0.0625), (24, 0.5)])
def test_fused_call_gets_what_flash_and_efficient_kernels_need(monkeypatch, channels, value_ratio):
    seen, sdpa = [], F.scaled_dot_product_attention

    def recording_sdpa(q, k, v, **kwargs):
        seen.append((q, k, v, kwargs))
        return sdpa(q, k, v, **kwargs)

    monkeypatch.setattr(attention_module.F, "scaled_dot_product_attention", recording_sdpa)
    monkeypatch.setattr(attention_module, "CPU_BF16_EXPLICIT_MAX_LOGITS", 0)  # no CPU shortcut: the fused call
    layer = SelfAttention2d(channels, value_ratio=value_ratio)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        layer(torch.randn(2, channels, 8, 8))
    (q, k, v, kwargs), = seen
    assert q.dim() == k.dim() == v.dim() == 4  # (B, heads, sequence, head size)
    assert q.shape[-1] == k.shape[-1] == v.shape[-1]  # flash needs one head size for q, k and v
    assert q.shape[-1] % 8 == 0
    assert all(t.stride(-1) == 1 for t in (q, k, v))  # unit stride in the head dimension
    assert q.dtype == k.dtype == v.dtype == torch.bfloat16  # half precision under autocast: flash can run
    assert kwargs.get("attn_mask") is None and not kwargs.get("is_causal", False)


def test_cpu_bf16_takes_the_explicit_path_for_small_maps_only(monkeypatch):
    calls = []

    def recording_sdpa(*args, **kwargs):
        calls.append(args[0].shape)
        return F.scaled_dot_product_attention.__wrapped__(*args, **kwargs)

    recording_sdpa.__wrapped__ = F.scaled_dot_product_attention
    monkeypatch.setattr(attention_module.F, "scaled_dot_product_attention", recording_sdpa)
    torch.manual_seed(0)
    layer = SelfAttention2d(16, pool_kv=False)
    with torch.no_grad():
        layer.gamma.fill_(1.0)
    x = torch.randn(2, 16, 16, 16)  # 256 queries x 256 keys: at the limit
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
        assert not calls
        reference = layer(x, explicit=True)
    assert torch.equal(y, reference)
    layer(x)  # fp32: fused
    with torch.autocast("cpu", dtype=torch.bfloat16):
        layer(torch.randn(2, 16, 32, 16))  # 512 x 512 logits: past the limit, fused
    assert len(calls) == 2


def _layer_and_input(channels: int, size: int) -> tuple[SelfAttention2d, torch.Tensor]:
    torch.manual_seed(0)
    layer = SelfAttention2d(channels).cuda().eval()
    with torch.no_grad():
        layer.gamma.fill_(1.0)
    return layer, torch.randn(4, channels, size, size, device="cuda")


@pytest.mark.parametrize("dtype, backends, tolerance", [
    (torch.float32, [EFFICIENT], 1e-4),  # flash has no float32 kernel
    (torch.bfloat16, [FLASH], 3e-2),
    (torch.float16, [FLASH], 5e-3),
    (torch.bfloat16, [EFFICIENT], 3e-2),
])
@pytest.mark.parametrize("channels, size", [(64, 32), (512, 16)])
@pytest.mark.cuda
@cuda_only
def test_forced_fused_kernels_equal_explicit_path(dtype, backends, tolerance, channels, size):
    layer, x = _layer_and_input(channels, size)
    with torch.no_grad():
        reference = layer.double()(x.double(), explicit=True) - x.double()  # the attention branch, float64
        layer.float()
        autocast = torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32)
        with autocast, sdpa_kernel(backends):  # raises if the inputs do not suit the kernels
            fast = layer(x) - x
        with autocast:
            explicit = layer(x, explicit=True) - x
    scale = reference.abs().max()
    assert (fast.double() - reference).abs().max() / scale < tolerance
    assert (explicit.double() - reference).abs().max() / scale < tolerance


@pytest.mark.cuda
@cuda_only
def test_forced_flash_kernel_trains():
    layer, x = _layer_and_input(64, 32)
    x.requires_grad_(True)
    with torch.autocast("cuda", dtype=torch.bfloat16), sdpa_kernel([FLASH]):
        layer(x).square().mean().backward()
    fast = [x.grad.clone()] + [p.grad.clone() for p in layer.parameters()]
    x.grad = None
    layer.zero_grad()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        layer(x, explicit=True).square().mean().backward()
    explicit = [x.grad] + [p.grad for p in layer.parameters()]
    for a, b in zip(fast, explicit):
        assert torch.isfinite(a).all()
        assert (a - b).norm() <= 5e-2 * b.norm() + 1e-6
