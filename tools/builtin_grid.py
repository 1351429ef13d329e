"""Real images of the built-in data, one row per class: the README's docs/builtin-data.png.

Run:  python tools/builtin_grid.py [--resolution 16] [--per-class 8] [--out docs/builtin-data.png]
"""

from __future__ import annotations

import argparse

import torch

from sahit.data import BuiltinShapes
from sahit.viz import save_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=16)
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--out", default="docs/builtin-data.png")
    args = parser.parse_args()
    data = BuiltinShapes(args.resolution)
    k = data.num_classes
    # Labels cycle through the classes, so item c + k * j is the j-th image of class c.
    images = torch.stack([data[c + k * j][0] for c in range(k) for j in range(args.per_class)])
    print(save_grid(images, args.out, nrow=args.per_class))


if __name__ == "__main__":
    main()
