"""Evaluation during training: FID of a generator against the training data (or the images held out of
training, ``data_holdout``), reference statistics computed once."""

from __future__ import annotations

from typing import Any

import torch

from .config import TrainConfig


class TrainingEvaluator:
    """``cfg.log.eval_n`` samples of a generator against ``cfg.data.source``'s statistics in ``cfg.log.eval_features``' space:
    those of the held-out images when ``cfg.data.holdout`` > 0 (all of them, even if fewer than ``eval_n``).

    Every process samples and extracts its share of the images (no process waits on another's
    work in a collective) and all get the same number.
    """

    def __init__(self, cfg: TrainConfig, resolution: int, device: torch.device, shard: Any) -> None:
        self.cfg, self.resolution, self.device, self.shard = cfg, resolution, device, shard
        self._reference = None

    def fid(self, G: torch.nn.Module, step: int) -> dict[str, Any]:
        """The log record of ``G``'s FID at ``step``: ``{"step", "fid", "eval_n", "extractor", "reference"}``."""
        from ..metrics import cached_reference_stats, evaluate_generator

        cfg = self.cfg
        if self._reference is None:
            self._reference = cached_reference_stats(cfg.data.source, self.resolution, cfg.log.eval_features, n=cfg.log.eval_n,
                                                     holdout=cfg.data.holdout, device=self.device, progress=False,
                                                     shard=self.shard)
        result = evaluate_generator(G, self._reference, cfg.log.eval_features, metrics=("fid",), n=cfg.log.eval_n,
                                    seed=cfg.runtime.seed, device=self.device, progress=False, shard=self.shard)["fid"]
        return {"step": step, "fid": result.value, "eval_n": result.n_samples,
                "extractor": result.extractor, "reference": result.reference}
