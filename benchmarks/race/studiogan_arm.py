"""The race's StudioGAN arm: PyTorch-StudioGAN's own CIFAR-10 SAGAN, trained by its own worker.

Run with StudioGAN's Python environment (it needs StudioGAN's requirements, not sahit)::

    PY benchmarks/race/studiogan_arm.py train --studiogan PATH --data DIR --exclude held_out.json --out DIR ...
    PY benchmarks/race/studiogan_arm.py sample --studiogan PATH --out DIR --n 5000

``train`` configures StudioGAN exactly as its command line does (``src/main.py``'s parser, its
``configs/CIFAR10/SAGAN.yaml``), builds G and D with its ``models.model.load_generator_discriminator``,
its optimizers (``Configurations.define_optimizer``), its data set class and loader, and calls its
``WORKER.train_discriminator`` / ``train_generator`` in its own order. Only three things are changed,
all outside its step: the device is the CPU (StudioGAN assumes CUDA device 0), wandb logging is
disabled, and the images listed in ``--exclude`` (the race's held-out reference) are removed from its
training set. The clock counts training only: at every ``--snapshot-minutes`` of it, G's weights are
saved (outside the clock) to ``snapshots/``; ``sample`` later draws class-balanced images from each.
``--studiogan-checkpoints`` also has StudioGAN's own ``WORKER.save`` write its checkpoint files (G and D with
their optimizers) at every snapshot, to ``checkpoints/step=N/``: what ``sahit convert studiogan`` reads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _import_studiogan(root: Path) -> None:
    src = root / "src"
    if not (src / "worker.py").is_file():
        raise SystemExit(f"--studiogan {root}: not a PyTorch-StudioGAN checkout (no src/worker.py)")
    os.environ.setdefault("WANDB_MODE", "disabled")
    sys.path.insert(0, str(src))


def _configure(args: argparse.Namespace, data_root: Path):
    """StudioGAN's configuration, built by its own command-line parser (main.py) with the race's overrides."""
    import main as sg_main
    import torch

    save = Path(args.out) / "studiogan-files"
    save.mkdir(parents=True, exist_ok=True)
    argv = ["main.py", "-t", "-cfg", str(Path(args.studiogan) / "src/configs/CIFAR10/SAGAN.yaml"),
            "-data", str(data_root), "-save", str(save), "--seed", str(args.seed),
            "--num_workers", str(args.num_workers), "-metrics", "none"]
    # main.py asks CUDA for the device count and the current device; on a CPU machine there is one device
    torch.cuda.device_count, torch.cuda.current_device = (lambda: 1), (lambda: 0)
    saved_argv, sys.argv = sys.argv, argv
    try:
        cfgs, _gpus, run_name, hdf5_path, _rank = sg_main.load_configs_initialize_training()
    finally:
        sys.argv = saved_argv
    opt = cfgs.OPTIMIZATION
    cfgs.MODEL.g_conv_dim, cfgs.MODEL.d_conv_dim = args.g_conv_dim, args.d_conv_dim
    opt.g_lr, opt.d_lr, opt.beta1, opt.beta2 = args.lr_g, args.lr_d, args.beta1, args.beta2
    opt.d_updates_per_step, opt.batch_size, opt.world_size = args.n_dis, args.batch_size, 1
    cfgs.PRE.apply_rflip = args.flip
    return cfgs, run_name, hdf5_path


def _data_root(data: Path, out: Path) -> Path:
    """StudioGAN reads ``DATA_DIR/train``: a folder whose class folders are ``data`` itself."""
    if data.name == "train":
        return data.parent
    root = out / "studiogan-data"
    root.mkdir(parents=True, exist_ok=True)
    link = root / "train"
    if not link.exists():
        link.symlink_to(data.resolve(), target_is_directory=True)
    return root


def train(args: argparse.Namespace) -> None:
    import torch
    from torch.utils.data import DataLoader

    _import_studiogan(Path(args.studiogan))
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    cfgs, run_name, _hdf5_path = _configure(args, _data_root(Path(args.data), out))
    import models.model as sg_model
    import utils.ckpt as sg_ckpt
    import utils.log as sg_log
    import utils.misc as sg_misc
    from data_util import Dataset_
    from worker import WORKER

    sg_misc.fix_seed(cfgs.RUN.seed)
    logger = sg_log.make_logger(cfgs.RUN.save_dir, run_name, None)
    dataset = Dataset_(data_name=cfgs.DATA.name + "-folder", data_dir=cfgs.RUN.data_dir, train=True,
                       crop_long_edge=False, resize_size=None, resizer=cfgs.RUN.pre_resizer,
                       random_flip=cfgs.PRE.apply_rflip, normalize=True, hdf5_path=None, load_data_in_memory=False)
    _exclude(dataset.data, Path(args.data), args.exclude)
    cfgs.OPTIMIZATION.basket_size = cfgs.OPTIMIZATION.batch_size * cfgs.OPTIMIZATION.acml_steps * \
        cfgs.OPTIMIZATION.d_updates_per_step
    loader = DataLoader(dataset, batch_size=cfgs.OPTIMIZATION.basket_size, shuffle=True, pin_memory=False,
                        num_workers=cfgs.RUN.num_workers, drop_last=True, persistent_workers=True)
    device = "cpu"
    (Gen, Gen_mapping, Gen_synthesis, Dis, Gen_ema, Gen_ema_mapping, Gen_ema_synthesis, ema) = \
        sg_model.load_generator_discriminator(DATA=cfgs.DATA, OPTIMIZATION=cfgs.OPTIMIZATION, MODEL=cfgs.MODEL,
                                              STYLEGAN=cfgs.STYLEGAN, MODULES=cfgs.MODULES, RUN=cfgs.RUN,
                                              device=device, logger=logger)
    cfgs.define_optimizer(Gen, Dis)
    worker = WORKER(cfgs=cfgs, run_name=run_name, Gen=Gen, Gen_mapping=Gen_mapping, Gen_synthesis=Gen_synthesis,
                    Dis=Dis, Gen_ema=Gen_ema, Gen_ema_mapping=Gen_ema_mapping, Gen_ema_synthesis=Gen_ema_synthesis,
                    ema=ema, eval_model=None, train_dataloader=loader, eval_dataloader=None, global_rank=0,
                    local_rank=device, mu=None, sigma=None, real_feats=None, logger=logger, aa_p=None, best_step=0,
                    best_fid=None, best_ckpt_path=None, lecam_emas=None, num_eval={}, loss_list_dict={},
                    metric_dict_during_train={})
    worker.training, worker.topk = True, cfgs.OPTIMIZATION.batch_size
    worker.prepare_train_iter(epoch_counter=0)
    g_params = sum(p.numel() for p in Gen.parameters())
    d_params = sum(p.numel() for p in Dis.parameters())
    snapshots = out / "snapshots"
    snapshots.mkdir(parents=True, exist_ok=True)
    budget, every = args.minutes * 60.0, args.snapshot_minutes * 60.0
    trained, step, next_snapshot, records = 0.0, 0, every, []
    print(f"studiogan: G {g_params:,} D {d_params:,} parameters, {len(dataset):,} training images", flush=True)
    while trained < budget:
        start = time.perf_counter()
        worker.train_discriminator(current_step=step)  # d_first: True in StudioGAN's config
        loss_g = worker.train_generator(current_step=step)
        trained += time.perf_counter() - start
        step += 1
        if trained >= next_snapshot or trained >= budget:
            path = snapshots / f"G-{len(records):03d}.pt"
            torch.save(Gen.state_dict(), path)
            records.append({"minutes": trained / 60, "g_steps": step, "snapshot": path.name})
            if args.studiogan_checkpoints:
                cfgs.RUN.ckpt_dir = sg_ckpt.make_ckpt_dir(str(out / "checkpoints" / f"step={step}"))
                worker.save(step=step, is_best=False)
            print(f"studiogan: {trained / 60:6.2f} min  step {step}  loss_g {float(loss_g):.3f}", flush=True)
            next_snapshot += every
    (out / "train.json").write_text(json.dumps({"arm": "studiogan", "g_params": g_params, "d_params": d_params,
                                                 "training_images": len(dataset), "snapshots": records,
                                                 "config": vars(args)}, indent=2))


def _exclude(image_folder, data: Path, exclude: str | None) -> None:
    """Drop the race's held-out images (paths relative to ``data``) from a torchvision ImageFolder."""
    if not exclude:
        return
    held_out = set(json.loads(Path(exclude).read_text()))
    root = os.path.realpath(data)
    keep = [(p, c) for p, c in image_folder.samples if os.path.relpath(os.path.realpath(p), root) not in held_out]
    removed = len(image_folder.samples) - len(keep)
    if removed != len(held_out):
        raise SystemExit(f"--exclude lists {len(held_out)} images but {removed} matched the training folder")
    image_folder.samples = image_folder.imgs = keep
    image_folder.targets = [c for _, c in keep]


def sample(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    _import_studiogan(Path(args.studiogan))
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    record = json.loads((out / "train.json").read_text())
    train_args = argparse.Namespace(**record["config"])
    cfgs, run_name, _ = _configure(train_args, _data_root(Path(train_args.data), out))
    import models.model as sg_model
    import utils.log as sg_log

    logger = sg_log.make_logger(cfgs.RUN.save_dir, run_name + "-sample", None)
    Gen = sg_model.load_generator_discriminator(DATA=cfgs.DATA, OPTIMIZATION=cfgs.OPTIMIZATION, MODEL=cfgs.MODEL,
                                                STYLEGAN=cfgs.STYLEGAN, MODULES=cfgs.MODULES, RUN=cfgs.RUN,
                                                device="cpu", logger=logger)[0]
    classes = cfgs.DATA.num_classes
    labels = torch.arange(args.n) % classes
    z = torch.randn(args.n, cfgs.MODEL.z_dim, generator=torch.Generator().manual_seed(args.seed))
    for entry in record["snapshots"]:
        target = out / "samples" / entry["snapshot"].replace(".pt", ".npz")
        if target.exists():
            continue
        Gen.load_state_dict(torch.load(out / "snapshots" / entry["snapshot"], weights_only=True))
        Gen.eval()  # StudioGAN evaluates with the running batch-norm statistics (-batch_stat off)
        images = []
        with torch.no_grad():
            for i in range(0, args.n, 500):
                x = Gen(z[i:i + 500], labels[i:i + 500], eval=True)
                images.append(((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1))
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez(target, arr_0=torch.cat(images).numpy(), labels=labels.numpy())
        print(f"studiogan: sampled {entry['snapshot']}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("train")
    t.add_argument("--studiogan", required=True)
    t.add_argument("--data", required=True, help="folder of class folders (CIFAR-10 training images)")
    t.add_argument("--exclude", default=None, help="JSON list of image paths (relative to --data) kept out")
    t.add_argument("--out", required=True)
    t.add_argument("--minutes", type=float, default=40.0)
    t.add_argument("--snapshot-minutes", type=float, default=2.0)
    t.add_argument("--g-conv-dim", type=int, default=16)
    t.add_argument("--d-conv-dim", type=int, default=32)
    t.add_argument("--lr-g", type=float, default=1e-4)
    t.add_argument("--lr-d", type=float, default=4e-4)
    t.add_argument("--beta1", type=float, default=0.0)
    t.add_argument("--beta2", type=float, default=0.999)
    t.add_argument("--n-dis", type=int, default=1)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--flip", type=int, default=1, help="StudioGAN's random horizontal flip (1: on, its default)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--num-workers", type=int, default=1)
    t.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    t.add_argument("--studiogan-checkpoints", action="store_true",
                   help="at every snapshot, StudioGAN's own checkpoint files in checkpoints/step=N/")
    s = sub.add_parser("sample")
    s.add_argument("--studiogan", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--n", type=int, default=5000)
    s.add_argument("--seed", type=int, default=123)
    s.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = p.parse_args()
    train(args) if args.mode == "train" else sample(args)


if __name__ == "__main__":
    main()
