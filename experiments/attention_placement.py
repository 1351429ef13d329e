"""Where does self-attention help? (SAGAN, Zhang et al. 2019, Table 1, at small scale.)

Claim: attention on larger feature maps (feat32, feat64 in the paper's 128 px model) improves FID
more than on small ones (feat8, feat16), and attention beats a residual block with the same number
of parameters at the same place, because it models long-range dependencies a 3x3 block cannot.

Here: 32x32 built-in shapes (every image mirror-symmetric: symmetry error measures exactly the
long-range consistency attention should buy), the sagan-cifar10 recipe (hinge, TTUR 1e-4 / 4e-4)
at width 32. Arms: no attention; attention after the G and D blocks producing 8x8, 16x16, 32x32
maps (D has no 32x32 block: G only there); and at each place a residual block with attention's
exact parameter count (``model.attn_block=residual``).

Run:    python experiments/attention_placement.py                       (defaults below)
        python experiments/attention_placement.py --steps 200 --seeds 0 (a quick look)
Writes: experiments/results/attention_placement.json; runs under experiments/runs/.

Budget: 7 arms x 2 seeds x 1000 steps, batch 32, FID of 2000 samples 4 times per run and at the end.
Step times measured with 1 thread on a 2-core machine busy with two other trainings (load 2.8):
0.34-0.42 s (none 0.35, attn8 0.34, attn16 0.38, attn32 0.42, res* 0.36-0.37); a FID evaluation
4.5 s. That is 1.6 h of training as measured; on 2 idle cores (the quickstart's 2000 steps in
8 minutes: 1.6x faster) about 55 minutes + 10 minutes of evaluation and start-up: about 1 hour.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Arm, sagan_experiment_main, sagan_overrides  # noqa: E402

NAME = "attention_placement"
CLAIM = ("SAGAN Table 1: attention at larger feature maps helps more, and beats a residual block with "
         "the same parameter count at the same place")


def arms(width: int) -> list[Arm]:
    base = sagan_overrides(width)
    where = {  # G and D attention sizes; D's blocks produce 16 and 8 only
        8: ["model.g_attn_res=[8]", "model.d_attn_res=[8]"],
        16: ["model.g_attn_res=[16]", "model.d_attn_res=[16]"],
        32: ["model.g_attn_res=[32]", "model.d_attn_res=[]"],
    }
    out = [Arm("none", "sagan-cifar10", [*base, "model.g_attn_res=[]", "model.d_attn_res=[]"], "no attention")]
    for size, places in where.items():
        net = "G" if size == 32 else "G+D"
        out.append(Arm(f"attn{size}", "sagan-cifar10", [*base, *places], f"attention at {size}x{size} ({net})"))
    for size, places in where.items():
        net = "G" if size == 32 else "G+D"
        out.append(Arm(f"res{size}", "sagan-cifar10", [*base, *places, "model.attn_block=residual"],
                       f"residual block at {size}x{size} ({net}), attention's parameter count"))
    return out


def main(argv: list[str] | None = None) -> dict:
    return sagan_experiment_main(NAME, CLAIM, __doc__, arms, eval_points=4, argv=argv)


if __name__ == "__main__":
    main()
