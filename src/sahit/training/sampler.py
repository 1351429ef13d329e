"""A batch sampler whose position is one integer, so the data order survives a restart."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableBatchSampler(Sampler[list[int]]):
    """Yields batches of indices from a permutation seeded by ``(seed, epoch)``.

    The global batch is drawn identically on every process; process ``rank`` of ``world``
    keeps its contiguous slice, so ranks see distinct samples and the union is the global
    batch. ``start_batch`` skips the batches already consumed (resume). Incomplete batches
    at the end of an epoch are dropped.
    """

    def __init__(self, length: int, batch_size: int, seed: int, start_batch: int = 0,
                 rank: int = 0, world: int = 1) -> None:
        if length < batch_size:
            raise ValueError(f"the data set has {length} images, fewer than one batch of {batch_size}")
        if batch_size % world:
            raise ValueError(f"batch_size {batch_size} does not divide evenly over {world} processes")
        self.length, self.batch_size, self.seed = length, batch_size, seed
        self.start_batch, self.rank, self.world = start_batch, rank, world
        self.batches_per_epoch = length // batch_size

    def epoch_order(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.length, generator=g)

    def __iter__(self) -> Iterator[list[int]]:
        batch = self.start_batch
        per_rank = self.batch_size // self.world
        while True:
            epoch, offset = divmod(batch, self.batches_per_epoch)
            order = self.epoch_order(epoch)
            for b in range(offset, self.batches_per_epoch):
                start = b * self.batch_size + self.rank * per_rank
                yield order[start : start + per_rank].tolist()
            batch = (epoch + 1) * self.batches_per_epoch

    def __len__(self) -> int:  # infinite in practice; DataLoader only needs a number
        return 2**62
