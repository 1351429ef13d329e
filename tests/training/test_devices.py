"""Device-path choices of the trainer that a CPU can check: which D a compiled run uses for R1."""

from __future__ import annotations

import torch

from sahit.training import Trainer, prepare_run

TINY = ["model.g_width=8", "model.d_width=8", "model.z_dim=8", "batch_size=4", "progress=false"]


class CompiledStandIn(torch.nn.Module):
    """Stands for ``torch.compile(module)``: runs it eagerly and counts its calls."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module, self.calls = module, 0

    def forward(self, *args):
        self.calls += 1
        return self.module(*args)


def test_compiled_d_serves_every_pass_but_r1s(tmp_path, monkeypatch, single_thread):
    # torch.compile cannot differentiate twice: R1's D pass must be eager, the others may be compiled.
    monkeypatch.setattr(torch, "compile", CompiledStandIn)
    cfg, run_dir = prepare_run("quickstart", out=tmp_path / "r",
                               overrides=[*TINY, "compile=true", "r1_gamma=1", "r1_every=2", "steps=2"])
    trainer = Trainer(cfg, run_dir)
    eager_calls = []
    trainer.D.register_forward_hook(lambda module, args, output: eager_calls.append(trainer.step))
    batches = trainer.batches()
    for _ in range(2):
        assert trainer.train_step(batches)["ok"]
        trainer.step += 1
    # step 0: D step with R1 (eager) + G step (compiled); step 1: D step and G step, both compiled
    assert trainer.D_run.calls == 3
    assert eager_calls == [0, 0, 1, 1]  # the stand-in runs the eager D inside, once per compiled call too
