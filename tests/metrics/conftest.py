"""Small fixtures for the metrics tests: a two-class toy data set, a fake generator, a quick extractor."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from sahit.metrics import fit_domain_extractor, load_inception


def draw(label: int, rng: np.random.Generator, resolution: int) -> torch.Tensor:
    """A reddish square (label 0) or bluish disk (label 1) on a dark background, (3, R, R) in [-1, 1]."""
    yy, xx = np.mgrid[:resolution, :resolution] / resolution
    cx, cy, r = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65), rng.uniform(0.15, 0.3)
    if label == 0:
        mask = (np.abs(xx - cx) < r) & (np.abs(yy - cy) < r)
    else:
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
    colour = rng.uniform(0.2, 1.0, size=(3, 1, 1))
    colour[2 * label] = 1.0  # squares are reddish, disks bluish: easy to learn in a few steps
    image = np.where(mask[None], colour, -0.8) + rng.normal(0, 0.05, size=(3, resolution, resolution))
    return torch.from_numpy(np.clip(image, -1, 1).astype(np.float32))


class ToyShapes(Dataset):
    """Squares vs disks; item i has label i % 2 and is a pure function of (seed, i)."""

    num_classes = 2

    def __init__(self, length: int = 64, resolution: int = 16, seed: int = 0) -> None:
        self.length, self.resolution, self.seed = length, resolution, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        label = i % 2
        return draw(label, np.random.default_rng((self.seed, i)), self.resolution), label


class ToyGenerator(nn.Module):
    """Looks like a sahit generator: sample(n, classes, seed) -> (n, 3, R, R) in [-1, 1]."""

    def __init__(self, resolution: int = 16, num_classes: int = 2, noise: bool = False) -> None:
        super().__init__()
        self.resolution, self.num_classes, self.z_dim, self.noise = resolution, num_classes, 4, noise
        self.dummy = nn.Parameter(torch.zeros(1))
        self.calls: list[tuple] = []

    @torch.no_grad()
    def sample(self, n, classes=None, seed=None, batch_size=256):
        classes = torch.arange(n) % max(self.num_classes, 1) if classes is None else torch.as_tensor(classes)
        self.calls.append((n, classes.tolist(), seed))
        rng = np.random.default_rng(seed)
        if self.noise:
            return torch.from_numpy(rng.uniform(-1, 1, (n, 3, self.resolution, self.resolution)).astype(np.float32))
        return torch.stack([draw(int(c), rng, self.resolution) for c in classes])


@pytest.fixture(scope="session")
def toy_extractor():
    torch.manual_seed(0)
    return fit_domain_extractor(ToyShapes(128), num_classes=2, resolution=16, steps=25, width=8, progress=False)


@pytest.fixture(scope="session")
def random_inception():
    """The FID Inception network on random weights (no file): the whole pipeline, meaningless numbers."""
    return load_inception(random_weights=True, seed=0)
