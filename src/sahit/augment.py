"""Differentiable augmentation (DiffAugment; Zhao et al., NeurIPS 2020) as plain torch functions.

``diff_augment(x, policy="color,translation,cutout")`` applies, to a batch (B, C, H, W),
one random draw per image of:

* ``color``: brightness + U(-0.5, 0.5); saturation x U(0, 2) around the per-pixel channel
  mean; contrast x U(0.5, 1.5) around the per-image mean;
* ``translation``: an integer shift of up to 1/8 of the size in each direction, zero fill;
* ``cutout``: a zeroed square of half the size centred anywhere in the image.

Every operation is differentiable with respect to ``x`` and draws from torch's RNG (pass
``generator`` for a private stream). HiT uses it only inside balanced consistency
regularisation (bCR): D's logits on augmented reals and fakes are pulled towards its
logits on the originals.

The trainer's ``augment`` setting (``parse_augment``) applies it to every image D sees, reals
and fakes, in D's step and G's step (Zhao et al.'s recipe for training on little data).
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def _uniform(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """One U(0, 1) number per image, shaped (B, 1, 1, 1)."""
    return torch.rand(x.shape[0], 1, 1, 1, generator=generator, device="cpu").to(device=x.device, dtype=x.dtype)


def rand_brightness(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    return x + (_uniform(x, generator) - 0.5)


def rand_saturation(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_uniform(x, generator) * 2) + mean


def rand_contrast(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean


def _randint(low: int, high: int, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    return torch.randint(low, high, (n,), generator=generator, device="cpu").to(device)


def rand_translation(x: Tensor, ratio: float = 0.125, generator: torch.Generator | None = None) -> Tensor:
    """Shift each image by integers in [-s, s] (s = round(size * ratio)) per axis; vacated pixels are 0."""
    b, _, height, width = x.shape
    sh, sw = int(height * ratio + 0.5), int(width * ratio + 0.5)
    ty = _randint(-sh, sh + 1, b, generator, x.device)
    tx = _randint(-sw, sw + 1, b, generator, x.device)
    # Output pixel (i, j) reads input (i + ty, j + tx) of the image padded by one zero row/column.
    rows = (torch.arange(height, device=x.device)[None, :] + ty[:, None] + 1).clamp(0, height + 1)  # (B, H)
    cols = (torch.arange(width, device=x.device)[None, :] + tx[:, None] + 1).clamp(0, width + 1)  # (B, W)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))  # (B, C, H+2, W+2)
    out = padded.gather(2, rows[:, None, :, None].expand(-1, x.shape[1], -1, width + 2))  # (B, C, H, W+2)
    return out.gather(3, cols[:, None, None, :].expand(-1, x.shape[1], height, -1))  # (B, C, H, W)


def rand_cutout(x: Tensor, ratio: float = 0.5, generator: torch.Generator | None = None) -> Tensor:
    """Zero a (size * ratio)-square per image, its centre uniform over the image (clipped at the borders)."""
    b, _, height, width = x.shape
    ch, cw = int(height * ratio + 0.5), int(width * ratio + 0.5)
    cy = _randint(0, height + (1 - ch % 2), b, generator, x.device)
    cx = _randint(0, width + (1 - cw % 2), b, generator, x.device)
    ys = torch.arange(height, device=x.device)[None, :] - (cy[:, None] - ch // 2)  # (B, H): offset into the square
    xs = torch.arange(width, device=x.device)[None, :] - (cx[:, None] - cw // 2)
    inside = ((ys >= 0) & (ys < ch))[:, :, None] & ((xs >= 0) & (xs < cw))[:, None, :]  # (B, H, W)
    return x * (~inside)[:, None].to(x.dtype)


AUGMENTS = {
    "color": (rand_brightness, rand_saturation, rand_contrast),
    "translation": (rand_translation,),
    "cutout": (rand_cutout,),
}


DEFAULT_POLICY = "color,translation,cutout"


def policy_names(policy: str) -> list[str]:
    """The operations of a comma-separated policy, in order; ValueError for an unknown one."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    for name in names:
        if name not in AUGMENTS:
            raise ValueError(f"unknown augmentation {name!r} (available: {', '.join(AUGMENTS)})")
    return names


def parse_augment(spec: str) -> str:
    """The DiffAugment policy named by the trainer's ``augment`` setting ("" = no augmentation).

    ``"diffaug:color,translation,cutout"`` (any non-empty subset, in any order); a bare
    ``"diffaug"`` means all three.
    """
    spec = spec.strip()
    if not spec:
        return ""
    kind, sep, policy = spec.partition(":")
    if kind.strip() != "diffaug":
        raise ValueError(f"augment must look like diffaug:{DEFAULT_POLICY} (or be empty for none), got {spec!r}")
    if not sep:
        return DEFAULT_POLICY
    try:
        names = policy_names(policy)
    except ValueError as exc:
        raise ValueError(f"augment {spec!r}: {exc}") from None
    if not names:
        raise ValueError(f"augment {spec!r} names no operation; use e.g. diffaug:{DEFAULT_POLICY}")
    return ",".join(names)


def diff_augment(x: Tensor, policy: str = DEFAULT_POLICY, generator: torch.Generator | None = None) -> Tensor:
    """Apply the comma-separated ``policy`` (subset of color, translation, cutout) to (B, C, H, W)."""
    if x.dim() != 4:
        raise ValueError(f"diff_augment expects images (B, C, H, W), got {tuple(x.shape)}")
    for name in policy_names(policy):
        for fn in AUGMENTS[name]:
            x = fn(x, generator=generator)
    return x
