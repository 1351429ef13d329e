"""Tiny networks for the explorer's tests: a SAGAN G and D with attention at 16x16, a HiT G, a 2-step run."""

from pathlib import Path

import pytest
import torch

import sahit
from sahit.explore.model import Explorer
from sahit.layers.normalization import ConditionalBatchNorm2d
from sahit.layers.self_attention import SelfAttention2d

from ..conftest import sharp_hit_generator

CLASS_NAMES = [f"shape-{k}" for k in range(10)]


def sharpen_sagan(*nets: torch.nn.Module) -> None:
    """gamma = 1 (untrained layers start at 0 and would add nothing, so a knock-out would change nothing), and
    distinct class gains and biases (untrained, every class would draw the same image)."""
    with torch.no_grad():
        for net in nets:
            for module in net.modules():
                if isinstance(module, SelfAttention2d):
                    module.gamma.fill_(1.0)
                if isinstance(module, ConditionalBatchNorm2d):
                    module.gain.weight.normal_(1.0, 0.5)
                    module.bias.weight.normal_(0.0, 0.5)


@pytest.fixture(scope="session")
def sagan_nets():
    torch.manual_seed(0)
    G, D = sahit.build("quickstart", resolution=32, g_attn_res=[16], d_attn_res=[16], g_width=16, d_width=16,
                       z_dim=16)
    sharpen_sagan(G, D)
    return G.eval(), D.eval()


@pytest.fixture(scope="session")
def explorer(sagan_nets):
    G, D = sagan_nets
    return Explorer(G, D, CLASS_NAMES, source="tiny")


@pytest.fixture(scope="session")
def hit_explorer():
    torch.manual_seed(0)
    return Explorer(sharp_hit_generator(), None, source="hit")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A 2-step quickstart run on the built-in data (attention at 16x16 in G and D), with a checkpoint."""
    from sahit.training import Trainer, prepare_run

    overrides = ["model.resolution=32", "model.g_attn_res=[16]", "model.d_attn_res=[16]", "model.g_width=16",
                 "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false", "steps=2", "log_every=1",
                 "sample_every=2", "ckpt_every=2", "data_length=64"]
    cfg, run_dir = prepare_run("quickstart", out=tmp_path_factory.mktemp("explore") / "run", overrides=overrides)
    Trainer(cfg, run_dir).fit()
    return run_dir
