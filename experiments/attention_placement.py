"""Where does self-attention help? (SAGAN, Zhang et al. 2019, Table 1, at small scale.)

Claim: attention on larger feature maps (feat32, feat64 in the paper's 128 px model) improves FID
more than on small ones (feat8, feat16), and attention beats a residual block with the same number
of parameters at the same place, because it models long-range dependencies a 3x3 block cannot.

Here: 16x16 built-in shapes (every image mirror-symmetric: symmetry error measures exactly the
long-range consistency attention should buy), the quickstart model and recipe (hinge loss, lr 4e-4
for G and D, Adam (0, 0.9), EMA 0.99) at width 32. G's blocks produce 8x8 and 16x16 maps, D's
8x8 only. Arms: no attention; attention after the G (and D) blocks producing 8x8 maps; after G's
16x16 block; and at each place a residual block with attention's exact parameter count
(``model.attn_block=residual``).

Run:    python -m experiments.attention_placement                       (defaults below)
        python -m experiments.attention_placement --steps 300 --seeds 0 (a quick look)
Writes: experiments/results/attention_placement.json; runs under experiments/runs/.

Budget: 5 arms x 2 seeds x 2000 steps, batch 32, FID of 2000 samples 4 times per run and at the
end. About 4 minutes per run with one thread beside another experiment: 40 minutes in all.

On real images (--cifar10 PATH): CIFAR-10 at 32 px less 5,000 held-out images (the reference of every
FID), the cifar10-small preset and recipe (TTUR, bf16 where native) at width 32. G's blocks produce
8x8, 16x16 and 32x32 maps, D's 16x16 and 8x8. Arms: none; attention at 8x8 (G and D), 16x16 (G and D,
the presets' place), 32x32 (G only); the residual block with attention's parameter count at 16x16 (G
and D). Budget: 5 arms x 3 seeds x 1500 steps, batch 32, FID, class accuracy and intra-FID of 5,000
samples at the end (FID twice during each run). About 5 minutes per run with one thread beside
another run.

        python -m experiments.attention_placement --cifar10 ../shared/data/cifar10/train
"""

from __future__ import annotations

from experiments.common import Arm, Setting, cifar10_sagan_overrides, sagan_experiment_main, sagan_overrides

NAME = "attention_placement"
CLAIM = ("SAGAN Table 1: attention at larger feature maps helps more, and beats a residual block with "
         "the same parameter count at the same place")


def arms(width: int, setting: Setting) -> list[Arm]:
    if setting.real:  # 32 px: G's maps 8, 16, 32; D's 16 and 8
        base = cifar10_sagan_overrides(width)
        where = {8: ("G+D", ["model.g_attn_res=[8]", "model.d_attn_res=[8]"]),
                 16: ("G+D", ["model.g_attn_res=[16]", "model.d_attn_res=[16]"]),
                 32: ("G", ["model.g_attn_res=[32]", "model.d_attn_res=[]"])}
        controls = (16,)
    else:  # 16 px: G's maps 8 and 16; D's 8 only
        base = sagan_overrides(width)
        where = {8: ("G+D", ["model.g_attn_res=[8]", "model.d_attn_res=[8]"]),
                 16: ("G", ["model.g_attn_res=[16]", "model.d_attn_res=[]"])}
        controls = (8, 16)
    preset = setting.sagan_preset
    out = [Arm("none", preset, [*base, "model.g_attn_res=[]", "model.d_attn_res=[]"], "no attention")]
    for size, (net, places) in where.items():
        out.append(Arm(f"attn{size}", preset, [*base, *places], f"attention at {size}x{size} ({net})"))
    for size in controls:
        net, places = where[size]
        out.append(Arm(f"res{size}", preset, [*base, *places, "model.attn_block=residual"],
                       f"residual block at {size}x{size} ({net}), attention's parameter count"))
    return out


def main(argv: list[str] | None = None) -> dict:
    return sagan_experiment_main(NAME, CLAIM, __doc__, arms, eval_points=4, argv=argv,
                                 cifar10={"steps": 1500, "seeds": [0, 1, 2], "eval_points": 2, "eval_n": 5000})


if __name__ == "__main__":
    main()
