"""HiT as a decoder: a tiny conv encoder + ``HiTGenerator.decode`` trained as an autoencoder.

The generator normally maps z to an 8x8 token grid and 16 latent tokens; ``G.decode``
accepts those tokens from any encoder instead. Here a small conv net encodes 32x32 images
of random coloured rectangles (made on the fly, nothing to download) into both token sets
and the HiT stages reconstruct them with an L2 loss.

    python examples/hit_autoencoder.py --steps 200
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from sahit.models import build


def make_images(n: int, size: int = 32, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` images in [-1, 1] (n, 3, size, size): a coloured background and one coloured rectangle."""
    colors = torch.rand(n, 2, 3, generator=generator) * 2 - 1  # background, rectangle
    corners = torch.randint(0, size, (n, 2, 2), generator=generator).sort(dim=1).values  # (n, [top, bottom], [y, x])
    ys = torch.arange(size)[None, :, None]
    xs = torch.arange(size)[None, None, :]
    inside = ((ys >= corners[:, 0, 0, None, None]) & (ys <= corners[:, 1, 0, None, None])
              & (xs >= corners[:, 0, 1, None, None]) & (xs <= corners[:, 1, 1, None, None]))  # (n, H, W)
    images = torch.where(inside[:, None], colors[:, 1, :, None, None], colors[:, 0, :, None, None])
    return images


class ConvEncoder(nn.Module):
    """(B, 3, R, R) -> grid tokens (B, 8, 8, C0) and latent tokens (B, M, C0)."""

    def __init__(self, resolution: int, dim: int, num_latents: int, hidden: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, hidden, 3, padding=1), nn.GELU()]
        size = resolution
        while size > 8:
            layers += [nn.Conv2d(hidden, hidden, 4, stride=2, padding=1), nn.GELU()]
            size //= 2
        self.body = nn.Sequential(*layers)
        self.to_grid = nn.Conv2d(hidden, dim, 1)
        self.to_latents = nn.Linear(hidden * 64, num_latents * dim)
        self.num_latents, self.dim = num_latents, dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)  # (B, hidden, 8, 8)
        grid = self.to_grid(h).permute(0, 2, 3, 1)  # (B, 8, 8, C0), channels-last tokens
        latents = self.to_latents(h.flatten(1)).view(x.shape[0], self.num_latents, self.dim)
        return grid, latents


def build_autoencoder(resolution: int = 32, **generator_overrides) -> tuple[ConvEncoder, nn.Module]:
    """A conv encoder and a HiT decoder (the ``hit-{resolution}`` generator)."""
    G, _ = build(f"hit-{resolution}", **generator_overrides)
    encoder = ConvEncoder(resolution, G.grid_dim, G.num_latents)
    return encoder, G


def train(steps: int = 200, batch_size: int = 32, lr: float = 1e-3, seed: int = 0, log_every: int = 0,
          images: torch.Tensor | None = None, **generator_overrides) -> list[float]:
    """Train on fresh random batches (or on the fixed batch ``images``); returns every step's loss."""
    torch.manual_seed(seed)
    data_rng = torch.Generator().manual_seed(seed)
    encoder, decoder = build_autoencoder(32, **generator_overrides)
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    losses = []
    for step in range(steps):
        x = make_images(batch_size, 32, data_rng) if images is None else images
        recon = decoder.decode(*encoder(x))
        loss = F.mse_loss(recon, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"step {step:5d}  reconstruction mse {loss.item():.4f}")
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train(args.steps, args.batch_size, args.lr, args.seed, log_every=max(1, args.steps // 20))


if __name__ == "__main__":
    main()
