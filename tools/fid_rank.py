"""Where a trained run's generator ranks on the built-in data: FID (domain extractor), symmetry_error, class accuracy.

Fits the built-in data's domain extractor, then prints FID against 2,000 training images for
2,000 held-out real images, the run's EMA generator, the same model untrained, and uniform noise,
with the mirror asymmetry of each and the share of images the extractor's classifier puts in the
class they were drawn for (per class for the trained G: does each row of its grid show its class?).
A trained generator should land between real' and noise, well below its untrained self.

Run:  python tools/fid_rank.py runs/quickstart [--n 2000]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import sahit
from sahit.data import make_dataset, symmetry_error
from sahit.metrics import fit_domain_extractor
from sahit.metrics.fid import fid_from_features
from sahit.models.registry import build_generator_from_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder of a finished built-in-data run (with export/)")
    parser.add_argument("--n", type=int, default=2000, help="images per set")
    args = parser.parse_args()

    trained = sahit.load(args.run)
    resolution, n = trained.resolution, args.n
    train_set = make_dataset("builtin", resolution, train=True)
    start = time.perf_counter()
    extractor = fit_domain_extractor(train_set, train_set.num_classes, resolution, progress=False)
    fit_s = time.perf_counter() - start

    def features(images: torch.Tensor) -> torch.Tensor:
        return torch.cat([extractor(images[i : i + 500])[0] for i in range(0, len(images), 500)])

    def hits(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """1.0 where the extractor's classifier agrees with the label, else 0.0."""
        logits = torch.cat([extractor(images[i : i + 500])[1] for i in range(0, len(images), 500)])
        return (logits.argmax(1) == labels).float()

    test_set = make_dataset("builtin", resolution, train=False)
    real = torch.stack([train_set[i][0] for i in range(n, 2 * n)])
    held_out = torch.stack([test_set[i][0] for i in range(n)])
    held_out_labels = torch.tensor([test_set[i][1] for i in range(n)])
    torch.manual_seed(0)
    untrained = build_generator_from_config(trained.config).eval()
    classes = torch.arange(n) % 10
    with torch.no_grad():
        sets = {
            "real'": held_out,
            "trained G (EMA)": trained.sample(n, classes=classes, seed=1),
            "untrained G": untrained.sample(n, classes=classes, seed=1),
            "uniform noise": torch.rand(n, 3, resolution, resolution, generator=torch.Generator().manual_seed(0)) * 2 - 1,
        }
    reference = features(real)
    labels = {name: held_out_labels if name == "real'" else classes for name in sets}
    rows = {name: {"fid": fid_from_features(reference, features(x)), "symmetry_error": symmetry_error(x),
                   "class_accuracy": hits(x, labels[name]).mean().item()}
            for name, x in sets.items()}
    trained_hits = hits(sets["trained G (EMA)"], classes)
    per_class = {name: trained_hits[classes == c].mean().item() for c, name in enumerate(train_set.classes)}
    print(f"domain extractor fitted in {fit_s:.1f} s, train accuracy {extractor.info['train_accuracy']:.3f}")
    print(f"{'set':<18}{'FID':>10}{'symmetry_error':>16}{'class accuracy':>16}")
    for name, row in rows.items():
        print(f"{name:<18}{row['fid']:>10.3f}{row['symmetry_error']:>16.4f}{row['class_accuracy']:>16.3f}")
    print("trained G, per class: " + ", ".join(f"{k} {v:.2f}" for k, v in per_class.items()))
    print(json.dumps({"run": args.run, "n": n, "fit_seconds": fit_s, "rows": rows, "trained_per_class": per_class}))


if __name__ == "__main__":
    main()
