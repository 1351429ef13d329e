"""Finding and safely reading PyTorch-StudioGAN's checkpoint files.

StudioGAN's worker saves ``model=G-{best|current}-weights-step=N.pth`` ({"state_dict", "optimizer"}),
``model=D-...`` (the same plus its bookkeeping: seed, run name, step, best FID as a numpy scalar, ...) and
``model=G_ema-...`` ({"state_dict"}) when it keeps an EMA. They are pickles: they are read with
``weights_only=True``, allowing tensors, plain data and exactly the numpy scalar types these files hold; any
other object is refused with one line and nothing of the file runs.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

NAME = re.compile(r"^model=(G|D|G_ema)-(best|current)-weights-step=(\d+)\.pth$")
ROLES = ("G", "D", "G_ema")


def _numpy_scalar_globals() -> list[Any]:
    """What a pickled numpy scalar refers to: numpy's scalar constructor and dtype classes, under the module
    names numpy 1.x (``numpy.core``) and numpy 2 (``numpy._core``) write."""
    scalar = np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar
    allowed: list[Any] = [np.dtype, (scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar")]
    for name in ("Float64DType", "Float32DType", "Float16DType", "Int64DType", "Int32DType", "BoolDType"):
        dtype_class = getattr(getattr(np, "dtypes", None), name, None)
        if dtype_class is not None:
            allowed.append(dtype_class)
    return allowed


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A StudioGAN checkpoint file as a dict; ValueError (one line) for foreign objects or a damaged file."""
    try:
        with torch.serialization.safe_globals(_numpy_scalar_globals()):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist") from None
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f" ({found.group(1)})" if found else ""
        raise ValueError(f"{path} holds Python objects other than tensors, plain data and numpy scalars{what}: "
                         "refused, loading them could run code") from None
    except Exception as exc:  # noqa: BLE001  (truncated zip, not a pickle at all, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path} is not a readable StudioGAN checkpoint ({first})") from None
    if not isinstance(state, dict) or not isinstance(state.get("state_dict"), dict):
        raise ValueError(f"{path} is not a StudioGAN checkpoint (no 'state_dict' in it)")  # noqa: TRY004
    return state


def find_checkpoints(paths: list[str | Path], when: str | None = None) -> dict[str, Path]:
    """StudioGAN's G, D and G_ema files among ``paths`` (files, or folders searched one level deep).

    ``when``: "best" or "current"; None takes "best" where a folder has both. ValueError when there is no G
    file, or more than one of a kind.
    """
    found: dict[tuple[str, str], list[Path]] = {}
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"{p} does not exist")
        if p.is_file() and not NAME.match(p.name):
            raise ValueError(f"{p.name} is not named like a StudioGAN checkpoint (model=G-best-weights-step=N.pth)")
        for path in sorted(p.iterdir()) if p.is_dir() else [p]:
            match = NAME.match(path.name)
            if match:
                found.setdefault((match.group(1), match.group(2)), []).append(path)
    if when is None:
        when = "best" if any(k[1] == "best" for k in found) else "current"
    files: dict[str, Path] = {}
    for role in ROLES:
        chosen = found.get((role, when), [])
        if len(chosen) > 1:
            raise ValueError(f"{len(chosen)} StudioGAN {role} files ({when}) given: pass one run's files")
        if chosen:
            files[role] = chosen[0]
    if "G" not in files:
        raise ValueError(f"no StudioGAN generator file (model=G-{when}-weights-step=N.pth) in {', '.join(map(str, paths))}")
    return files


def step_of(path: Path) -> int:
    """The training step in a StudioGAN checkpoint's name."""
    match = NAME.match(path.name)
    return int(match.group(3)) if match else 0
