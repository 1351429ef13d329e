"""What logging attention's weight costs: one measurement against one training step.

::

    python -m benchmarks.attention_log [--presets quickstart hit-32] [--repeats 5]

For each training preset: the median time of a training step (``Trainer.train_step``) and of one
measurement of every attention layer's gamma and contribution ratio (``AttentionLog.values``: G on 8
fixed latents, D on G's images), their ratio, and the share of training time it adds at the preset's
``log_every`` (measurement / (log_every x step)). Prints a table, writes
``benchmarks/results/attention_log.json``.
"""

from __future__ import annotations

import argparse
import tempfile

from benchmarks.common import median_time, print_table, write_json
from sahit.training import Trainer, prepare_run


def measure(preset: str, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg, run_dir = prepare_run(preset, out=tmp, overrides=["progress=false", "data_length=512"])
        trainer = Trainer(cfg, run_dir)
        batches = trainer.batches()
        step = median_time(lambda: trainer.train_step(batches), repeats=repeats)
        log = median_time(trainer.attention_log.values, repeats=repeats)
    return {"preset": preset, "batch_size": cfg.batch_size, "log_every": cfg.log_every,
            "values": len(trainer.attention_log.values()), "step_ms": step * 1e3, "measure_ms": log * 1e3,
            "measure_per_step": log / step, "overhead_at_log_every": log / (cfg.log_every * step)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=["quickstart", "hit-32"])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    rows = [measure(preset, args.repeats) for preset in args.presets]
    print_table(rows, ["preset", "batch_size", "log_every", "values", "step_ms", "measure_ms", "measure_per_step",
                       "overhead_at_log_every"])
    write_json("attention_log", {"rows": rows})


if __name__ == "__main__":
    main()
