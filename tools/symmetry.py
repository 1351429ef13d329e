"""symmetry_error of a run's generator beside real built-in images and an untrained generator.

Run:  python tools/symmetry.py runs/quickstart [--n 1000]
"""

from __future__ import annotations

import argparse
import json

import torch

import sahit
from sahit.data import BuiltinShapes, symmetry_error
from sahit.models import build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    G = sahit.load(args.run)
    real = torch.stack([BuiltinShapes(G.resolution, seed=1)[i][0] for i in range(args.n)])
    torch.manual_seed(0)
    untrained, _ = build(G.config["family"], **{k: v for k, v in G.config.items() if k != "family"})
    result = {
        "trained (EMA)": symmetry_error(G.sample(args.n, seed=1)),
        "real": symmetry_error(real),
        "untrained": symmetry_error(untrained.sample(args.n, seed=1)),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
