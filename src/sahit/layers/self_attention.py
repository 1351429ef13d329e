"""SAGAN self-attention (Zhang et al., ICML 2019), in the official code's form.

Notation follows the paper: ``f`` (queries), ``g`` (keys), ``h`` (values) and ``v`` (the
output projection) are 1x1 convolutions without bias. The official code (and BigGAN,
which calls it the source of truth) max-pools keys and values 2x2, uses C/2 value
channels and a C/2 -> C output conv. ``y = gamma * o + x`` with ``gamma`` starting at 0.
SAGAN does not scale its logits by 1/sqrt(d).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .spectral import init_weight, maybe_spectral_norm


class SelfAttention2d(nn.Module):
    """Self-attention over all positions of a (B, C, H, W) feature map.

    Args:
        channels: input and output channels C.
        pool_kv: max-pool keys and values 2x2 (official code), cutting keys to N/4.
        value_ratio: value channels as a fraction of C. 1/2 is the official code. 1 gives the form
            of the first arXiv version (1805.08318v1), where values keep C channels and there is no
            output conv; the ICML 2019 text (v2) has values at C/8 and an output conv W_v
            (value_ratio=0.125).
        key_ratio: query/key channels as a fraction of C (1/8 in the paper).
        spectral_norm: spectral-normalize all four convs.
        n_power_iterations: power iterations per forward for spectral norm.
        init: ``"xavier"`` (official code) or ``"orthogonal"`` for the four convs; None keeps
            PyTorch's default initialisation.
    """

    def __init__(
        self,
        channels: int,
        pool_kv: bool = True,
        value_ratio: float = 0.5,
        key_ratio: float = 0.125,
        spectral_norm: bool = True,
        n_power_iterations: int = 1,
        init: str | None = None,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.key_channels = _ratio_channels(channels, key_ratio, "key_ratio")
        self.value_channels = _ratio_channels(channels, value_ratio, "value_ratio")
        self.pool_kv = pool_kv

        def conv(c_in: int, c_out: int) -> nn.Module:
            layer = nn.Conv2d(c_in, c_out, 1, bias=False)
            if init is not None:
                init_weight(layer.weight, init)
            return maybe_spectral_norm(layer, spectral_norm, n_power_iterations)

        self.f = conv(channels, self.key_channels)  # queries
        self.g = conv(channels, self.key_channels)  # keys
        self.h = conv(channels, self.value_channels)  # values
        # With value_ratio == 1 the values already have C channels: the paper's text form.
        self.v = conv(self.value_channels, channels) if self.value_channels != channels else nn.Identity()
        self.gamma = nn.Parameter(torch.zeros(()))

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, key_channels={self.key_channels}, "
            f"value_channels={self.value_channels}, pool_kv={self.pool_kv}"
        )

    def _project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries (B, N, Ck), keys (B, M, Ck), values (B, M, Cv)."""
        if self.pool_kv and (x.shape[-1] % 2 or x.shape[-2] % 2):
            raise ValueError(f"pool_kv needs even height and width, got {tuple(x.shape[-2:])}")
        q = self.f(x).flatten(2).transpose(1, 2)  # (B, N, Ck)
        k = self.g(x)
        v = self.h(x)
        if self.pool_kv:
            k = F.max_pool2d(k, 2)
            v = F.max_pool2d(v, 2)
        return q, k.flatten(2).transpose(1, 2), v.flatten(2).transpose(1, 2)  # (B, M, C*)

    def forward(
        self, x: torch.Tensor, return_attention: bool = False, explicit: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``y = gamma * v(softmax(q k^T) h) + x``.

        Args:
            x: (B, C, H, W).
            return_attention: also return the attention probabilities (B, N queries, M keys),
                computed by the explicit path (rows sum to 1 over keys).
            explicit: use the matmul-softmax path even without returning the map.
        """
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"expected (B, {self.channels}, H, W), got {tuple(x.shape)}")
        b, _c, height, width = x.shape
        q, k, v = self._project(x)
        if return_attention or explicit or explicit_attention_is_faster(q.device, q.shape[1] * k.shape[1]):
            attn = softmax_keys(q @ k.transpose(1, 2))  # (B, N, M)
            o = attn @ v  # (B, N, Cv)
        else:
            attn = None
            o = _sdpa_unscaled(q, k, v)
        o = o.transpose(1, 2).reshape(b, self.value_channels, height, width)
        y = self.gamma * self.v(o) + x
        return (y, attn) if return_attention else y


# On the CPU, bf16 SDPA (its flash kernel, padded heads) is slower than matmul + softmax for small
# maps and faster for large ones; this limit sits at the crossover that python -m benchmarks.attention_cpu
# measures (it times both paths at SAGAN's shapes).
# HiT's small multi-query maps show the same, in their backward above all (python -m benchmarks.hit_speed).
CPU_BF16_EXPLICIT_MAX_LOGITS = 256 * 256


def softmax_keys(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis (keys); bf16/fp16 logits are normalised in fp32, as fused kernels do."""
    if logits.dtype in (torch.bfloat16, torch.float16):
        return torch.softmax(logits.float(), dim=-1).to(logits.dtype)
    return torch.softmax(logits, dim=-1)


def explicit_attention_is_faster(device: torch.device, logits_per_map: int) -> bool:
    """Whether matmul + softmax beats the fused kernel: CPU autocast to bf16 and at most
    ``CPU_BF16_EXPLICIT_MAX_LOGITS`` logits in each map (queries x keys of one batch entry)."""
    return (device.type == "cpu" and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16
            and logits_per_map <= CPU_BF16_EXPLICIT_MAX_LOGITS)


def _sdpa_unscaled(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T) v through the fused kernel: (B, N, Ck), (B, M, Ck), (B, M, Cv) -> (B, N, Cv).

    Fused (flash, memory-efficient) kernels need one head size for queries, keys and values, a
    multiple of 8 on CUDA; SAGAN's are C/8 and C/2. Zero-padding queries and keys leaves every
    logit q.k unchanged; zero value channels are sliced off the output.
    """
    value_channels = v.shape[-1]
    size = -(-max(q.shape[-1], value_channels) // 8) * 8
    q, k, v = (F.pad(t, (0, size - t.shape[-1])) if t.shape[-1] < size else t for t in (q, k, v))
    # Fused kernels also need unit stride in the channel dimension.
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    o = F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1), scale=1.0)  # (B, 1, N, C)
    return o.squeeze(1)[..., :value_channels]


def _ratio_channels(channels: int, ratio: float, name: str) -> int:
    if not 0 < ratio <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {ratio}")
    n = channels * ratio
    if n != int(n) or n < 1:
        raise ValueError(f"{name}={ratio} of {channels} channels is not a whole number of channels")
    return int(n)
