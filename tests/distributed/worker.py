"""Run under torchrun by tests/distributed/test_torchrun.py: train, then save this rank's final state.

argv: OUT_DIR STEPS SYNC_BN [KILL_RANK1_AT_STEP (0: never) [HOW: kill | sigterm [EVAL_FEATURES]]]
(EVAL_FEATURES: a domain extractor's path, to evaluate the FID every 2 steps.)
"""

import os
import signal
import sys
from pathlib import Path

import torch

from sahit.training import Trainer, prepare_run

out, steps, sync_bn = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
kill_at = int(sys.argv[4]) if len(sys.argv) > 4 else 0
how = sys.argv[5] if len(sys.argv) > 5 else "kill"
overrides = ["model.g_width=16", "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false",
             f"steps={steps}", "ckpt_every=2", "sample_every=1000", f"sync_bn={sync_bn}", "ema_start=0",
             "lr_g=0.0001"]
if len(sys.argv) > 6:
    os.environ["SAHIT_CACHE"] = str(out / "cache")
    overrides += ["eval_every=2", "eval_n=24", f"eval_features={sys.argv[6]}"]
cfg, run_dir = prepare_run("quickstart", out=out / "run", overrides=overrides)
trainer = Trainer(cfg, run_dir)
marker = out / "rank1-was-killed"
if kill_at and not marker.exists() and trainer.dist.rank == 1:
    original = trainer.train_step

    def dying_step(batches):
        if trainer.step == kill_at:
            marker.touch()
            if how == "sigterm":  # only this rank is told to stop, in the middle of its step
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                os._exit(9)  # as abrupt as SIGKILL: no checkpoint, no cleanup
        return original(batches)

    trainer.train_step = dying_step
summary = trainer.fit()
state = {"G": trainer.G.state_dict(), "D": trainer.D.state_dict(), "resumed": summary.get("resumed", False)}
torch.save(state, out / f"rank{trainer.dist.rank}.pt")
trainer.dist.close()
