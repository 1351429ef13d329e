"""One tiny trained run shared by the visualization tests, and a run folder without attention."""

from pathlib import Path

import pytest

from sahit.export import save_generator
from sahit.models import build
from sahit.training import Trainer, prepare_run

# The quickstart model at 32 px, so that its 16x16 attention layers exist in both G and D.
TINY = ["model.resolution=32", "model.g_attn_res=[16]", "model.d_attn_res=[16]", "model.g_width=16",
        "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false", "steps=2",
        "log_every=1", "sample_every=2", "ckpt_every=2", "data_length=64"]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A 2-step quickstart run (attention at 16x16 in G and D): config, log, samples, checkpoint, export."""
    cfg, run_dir = prepare_run("quickstart", out=tmp_path_factory.mktemp("viz") / "run", overrides=TINY)
    Trainer(cfg, run_dir).fit()
    return run_dir


@pytest.fixture(scope="session")
def no_attention_run(tmp_path_factory) -> Path:
    """An export folder whose generator has no attention layers."""
    G, _ = build("quickstart", g_width=16, d_width=16, z_dim=16, g_attn_res=[], d_attn_res=[])
    run_dir = tmp_path_factory.mktemp("viz") / "noattn"
    save_generator(run_dir / "export", G.eval())
    return run_dir
