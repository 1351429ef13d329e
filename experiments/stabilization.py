"""What stabilises GAN training? (SAGAN, Zhang et al. 2019, section 4 and Figure 3, at small scale.)

Claim: spectral norm in G as well as D, and the two-timescale update rule (TTUR: D's learning rate
4x G's, one D step per G step), make training stable and fast: with spectral norm on D only, 1:1
updates at equal learning rates train badly, 5 D steps per G step (SNGAN's fix) cost 5x the D
work; SN on G and D trains stably at 1:1, and TTUR gets the best FID per G step.

Here: 16x16 built-in shapes, the quickstart model at width 32 (attention at 16x16 in G, 8x8 in D)
with hinge loss, Adam (0, 0.9), EMA 0.99. Arms (learning rates as the paper's Figure 3):

  sn_d_1to1    SN on D only, lr_g = lr_d = 1e-4, n_dis 1
  sn_d_5to1    SN on D only, lr_g = lr_d = 1e-4, n_dis 5
  sn_gd_1to1   SN on G and D, lr_g = lr_d = 1e-4, n_dis 1
  sn_gd_ttur   SN on G and D, lr_g 1e-4, lr_d 4e-4, n_dis 1 (the paper's choice)

Every arm runs the same number of G steps (the paper's x axis); each run's JSON record holds its
wall time too, so the cost of 5:1 shows. FID is logged every steps / eval_points steps. (The
overrides spell the rates 0.0001, not 1e-4, which YAML reads as a string.)

Run:    python -m experiments.stabilization
        python -m experiments.stabilization --steps 200 --seeds 0 --eval-points 4   (a quick look)
Writes: experiments/results/stabilization.json; runs under experiments/runs/.

Budget: 4 arms x 2 seeds x 2000 G steps, batch 32, 10 FID evaluations of 2000 samples per run.
About 4 minutes per 1:1 run and 11 per 5:1 run with one thread beside another experiment: 45
minutes in all.

On real images (--cifar10 PATH): CIFAR-10 at 32 px less 5,000 held-out images (the reference of every
FID), the cifar10-small model (attention at 16x16 in G and D) at width 32 with its recipe but for the
arms' learning rates, update ratio and spectral norm. Budget: 4 arms x 4 seeds x 1200 G steps, batch 32,
FID of 5,000 samples 4 times per run, and FID, class accuracy and intra-FID at the end.

        python -m experiments.stabilization --cifar10 ../shared/data/cifar10/train
"""

from __future__ import annotations

from experiments.common import Arm, Setting, cifar10_sagan_overrides, sagan_experiment_main, sagan_overrides

NAME = "stabilization"
CLAIM = ("SAGAN section 4 / Figure 3: spectral norm on G and D plus TTUR (lr_d = 4 lr_g, 1:1 updates) "
         "trains stably and reaches better FID per G step than SN on D only (1:1 or 5:1) and SN on G/D at 1:1")


def arms(width: int, setting: Setting) -> list[Arm]:
    base = cifar10_sagan_overrides(width) if setting.real else sagan_overrides(width)
    d_only = "model.g_spectral_norm=false"
    preset = setting.sagan_preset
    return [
        Arm("sn_d_1to1", preset, [*base, d_only, "lr_g=0.0001", "lr_d=0.0001", "n_dis=1"],
            "SN on D, 1:1, lr 1e-4 / 1e-4"),
        Arm("sn_d_5to1", preset, [*base, d_only, "lr_g=0.0001", "lr_d=0.0001", "n_dis=5"],
            "SN on D, 5:1, lr 1e-4 / 1e-4"),
        Arm("sn_gd_1to1", preset, [*base, "lr_g=0.0001", "lr_d=0.0001", "n_dis=1"],
            "SN on G and D, 1:1, lr 1e-4 / 1e-4"),
        Arm("sn_gd_ttur", preset, [*base, "lr_g=0.0001", "lr_d=0.0004", "n_dis=1"],
            "SN on G and D, TTUR: lr 1e-4 / 4e-4"),
    ]


def main(argv: list[str] | None = None) -> dict:
    return sagan_experiment_main(NAME, CLAIM, __doc__, arms, eval_points=10, argv=argv,
                                 cifar10={"steps": 1200, "seeds": [0, 1, 2, 3], "eval_points": 4, "eval_n": 5000})


if __name__ == "__main__":
    main()
