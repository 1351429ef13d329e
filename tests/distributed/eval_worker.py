"""Run under torchrun by tests/distributed/test_torchrun.py: reference statistics and FID, split over the ranks.

argv: OUT_DIR EXTRACTOR_PATH [DEVICE: cpu (gloo, the default) or auto (NCCL on GPUs)].
Writes rank<R>.npz with what this rank computed and how many images it saw.
"""

import sys
from pathlib import Path

import numpy as np
import torch

from sahit.data import make_dataset
from sahit.metrics import compute_reference_stats, evaluate_generator, load_extractor
from sahit.models import build
from sahit.training.distributed import DistContext, local_rank
from sahit.training.loop import select_device

out, extractor_path = Path(sys.argv[1]), sys.argv[2]
device = select_device(sys.argv[3] if len(sys.argv) > 3 else "cpu", local_rank())
ctx = DistContext.from_env(device)
extractor = load_extractor(extractor_path, device=device)
seen: list[int] = []
extractor.register_forward_hook(lambda module, args, output: seen.append(len(args[0])))
torch.manual_seed(0)
G, _ = build("quickstart", g_width=8, d_width=8, z_dim=8)
G.to(device)
reference = compute_reference_stats(make_dataset("builtin", 16, length=40), extractor, batch_size=8, progress=False,
                                    shard=ctx)
results = evaluate_generator(G, reference, extractor, metrics=("fid", "is"), n=36, batch_size=8, progress=False,
                             is_splits=2, shard=ctx)
np.savez(out / f"rank{ctx.rank}.npz", seen=sum(seen), fid=results["fid"].value, inception_score=results["is"].value,
         mu=reference.mu, sigma=reference.sigma, features=reference.features, labels=reference.labels)
ctx.close()
