"""The run folder: where training writes, what every reader may rely on, and how files get there safely.

A run folder, as ``sahit train --out RUN`` leaves it::

    config.yaml        the resolved TrainConfig (written at every start)
    log.jsonl          one JSON record per logged step ({"step", "loss_d", ...}) and per evaluation ({"step", "fid"})
    samples/           step-XXXXXXXX.png grids during training, final.png at the end
    checkpoints/       ckpt-XXXXXXXX.pt (the newest ``keep_ckpts``), best.pt (lowest FID, with eval_every)
    export/            the generator as safetensors + config.json + model card (see :mod:`sahit.export`)
    tb/                TensorBoard events
    summary.json       written last, after the export: a run with one is finished at its ``step``
    metrics*.json      what ``sahit eval`` measured later

Every file is written atomically (:func:`atomic_path`): a crash leaves the old file or the new one,
never half of one. Checkpoints are read with ``weights_only=True``, so a checkpoint cannot run code.
This module sits low in the house: it imports only the two leaf modules that turn a model name into a
folder (:mod:`sahit.zoo`, :mod:`sahit.hub`), and training, viz, metrics, export, experiments and tools all
read and write runs through it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from . import hub, zoo
from .config_spelling import flat_view

log = logging.getLogger(__name__)

CONFIG = "config.yaml"
LOG = "log.jsonl"
SUMMARY = "summary.json"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"
EXPORT = "export"
TENSORBOARD = "tb"
DISCRIMINATOR_WEIGHTS = "discriminator.safetensors"  # D in an export (zoo entries, converted models)
EXPORT_CONFIG = "config.json"  # an export folder is complete once this is written (it is written last)
BEST_CHECKPOINT = "best.pt"
CHECKPOINT_FORMAT = "sahit-checkpoint-1"
CHECKPOINT_PATTERN = re.compile(r"^ckpt-(\d{8})\.pt$")
METRICS_FILES = "metrics*.json"  # what ``sahit eval`` writes into a run folder
FINAL_GRID = "final.png"  # the last sample grid in samples/, beside step-XXXXXXXX.png
_STEP_IN_NAME = re.compile(r"(\d+)")


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or read; the message says which file and why."""


# ----------------------------------------------------------------------------- where things are
def locate(spec: str | Path) -> Path:
    """``spec`` as a local folder: ``zoo:NAME`` is the packaged entry, ``hf:ORG/NAME[@REV]`` its downloaded
    snapshot, anything else the path itself."""
    if zoo.is_zoo(spec):
        return zoo.entry_folder(str(spec))
    if hub.is_hf(spec):
        return hub.hf_snapshot(str(spec))
    return Path(spec)


def is_packaged(spec: str | Path) -> bool:
    """True when ``spec`` names a model that is not the user's folder (zoo or hub): nothing is written into it."""
    return zoo.is_zoo(spec) or hub.is_hf(spec)


def run_folder(path: str | Path) -> Path:
    """The run folder for ``path`` (a run folder or its ``export/``, or ``zoo:NAME``); FileNotFoundError if absent."""
    path = locate(path)
    if not path.exists():
        raise FileNotFoundError(f"run {path} does not exist")
    if not path.is_dir():
        raise FileNotFoundError(f"run {path} is not a folder")
    return path.parent if path.name == EXPORT and (path / EXPORT_CONFIG).is_file() else path


def export_folder(path: str | Path) -> Path:
    """The export folder for ``path`` (an export folder, a run folder holding one, ``zoo:NAME`` or ``hf:ORG/NAME``);
    FileNotFoundError if none."""
    path = locate(path)
    if (path / EXPORT_CONFIG).is_file():
        return path
    if (path / EXPORT / EXPORT_CONFIG).is_file():
        return path / EXPORT
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    raise FileNotFoundError(f"{path} holds no exported generator (no {EXPORT_CONFIG} in it or in {path / EXPORT})")


def checkpoint_path(folder: Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives in the checkpoint folder ``folder``."""
    return folder / f"ckpt-{step:08d}.pt"


# ----------------------------------------------------------------------------------- readers
def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file, in order; lines that are not objects (cut by a kill) are skipped."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def read_log(run: Path) -> list[dict[str, Any]]:
    """The records of ``log.jsonl`` (one per logged step or evaluation); unreadable lines are skipped."""
    return [r for r in read_jsonl(run / LOG) if "step" in r]


def read_config(run: Path) -> dict[str, Any]:
    """The training config a run stored in ``config.yaml`` ({} when absent), under the flat names of sahit 0.2.0
    (``data``, ``data_holdout``) whatever the schema it was written with; data only, never executed."""
    path = run / CONFIG
    values = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    return flat_view(values) if isinstance(values, dict) else values


def read_config_text(run: Path) -> str | None:
    """``config.yaml`` as training wrote it (None when absent), to show it as it is."""
    path = run / CONFIG
    return path.read_text() if path.is_file() else None


def read_export_config(run: Path) -> dict[str, Any] | None:
    """The ``config.json`` of a run folder's export (``{"format", "model", ...}``; see :mod:`sahit.export`), or None
    when the run has no export or the file is not a JSON object."""
    path = run / EXPORT / EXPORT_CONFIG
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        return None
    return config if isinstance(config, dict) else None


def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` holds anything training writes (``config.yaml``, ``log.jsonl`` or ``export/``)."""
    return any((folder / name).exists() for name in (CONFIG, LOG, EXPORT))


def metrics_files(run: Path) -> list[Path]:
    """The ``metrics*.json`` files ``sahit eval`` wrote into the run folder, by name."""
    return sorted(run.glob(METRICS_FILES))


def read_metrics_files(run: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(path, payload) of every ``metrics*.json`` of the run that holds a ``results`` object; others are skipped."""
    found = []
    for path in metrics_files(run):
        try:
            payload = json.loads(path.read_text())
        except (json.JSONDecodeError, OSError):
            continue
        if isinstance(payload, dict) and isinstance(payload.get("results"), dict):
            found.append((path, payload))
    return found


def sample_grids(run: Path) -> list[tuple[str, Path]]:
    """(label, path) of the sample grids written during training, oldest first, then final."""
    folder = run / SAMPLES
    if not folder.is_dir():
        return []
    steps = []
    for path in folder.glob("step-*.png"):
        numbers = _STEP_IN_NAME.findall(path.stem)
        if numbers:
            steps.append((int(numbers[-1]), path))
    grids = [(f"step {step}", path) for step, path in sorted(steps)]
    if (folder / FINAL_GRID).is_file():
        grids.append(("final", folder / FINAL_GRID))
    return grids


def finished_step(run: Path) -> int | None:
    """The step at which the last session finished (summary.json, written after the export), if any."""
    try:
        step = int(json.loads((run / SUMMARY).read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return step if (run / EXPORT / EXPORT_CONFIG).is_file() else None


def final_step(run: Path, records: list[dict[str, Any]] | None = None) -> int | None:
    """The run's last step: where it finished, else the last logged step (``records``: its log, if read)."""
    step = finished_step(run)
    if step is not None:
        return step
    records = records if records is not None else read_log(run)
    return int(records[-1]["step"]) if records else None


def read_jsonl_from(path: Path, offset: int = 0) -> tuple[list[Any], int]:
    """The JSON values of a JSON-lines file from byte ``offset`` on, and how many of its lines are not JSON
    (for tools that check what a kill left; :func:`read_jsonl` skips such lines silently)."""
    if not path.is_file():
        return [], 0
    records, corrupt = [], 0
    for line in path.read_bytes()[offset:].split(b"\n"):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            corrupt += 1
    return records, corrupt


def jsonl_end(path: Path) -> int:
    """Byte offset just after the last complete line of a JSON-lines file (0 when absent)."""
    if not path.is_file():
        return 0
    return path.read_bytes().rfind(b"\n") + 1


def trim_partial_line(path: Path) -> Path:
    """Cut a last line that a killed process left half-written, so appended records stay valid JSON lines."""
    if path.is_file():
        with open(path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
    return path


# ----------------------------------------------------------------------------------- writers
@contextlib.contextmanager
def atomic_path(path: Path, keep_suffix: bool = False, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block ends without error it replaces ``path``.

    A crash at any moment leaves the old file or the new one, never half of one; on an error the
    temporary file is removed. The temporary name is hidden and holds the process id, so processes
    writing the same file (parallel experiment lanes) never share one. ``keep_suffix``: it ends with
    ``path``'s suffix (``.PID-x.tmp.png``), for writers that choose the format by it; otherwise with
    ``.tmp`` (``.PID-x.png.tmp``). ``durable``: fsync the file and its folder, so the new file survives
    a power cut (checkpoints).
    """
    name = path.stem + ".tmp" + path.suffix if keep_suffix else path.name + ".tmp"
    tmp = path.with_name(f".{os.getpid()}-{name}")
    try:
        yield tmp
        if durable:
            _fsync(tmp, os.O_RDONLY)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync(path.parent, os.O_RDONLY)


def write_text_atomic(path: Path, text: str) -> Path:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json_atomic(path: Path, payload: Any, indent: int | None = None) -> Path:
    """Replace ``path`` with ``payload`` as JSON (one line, or indented) atomically."""
    return write_text_atomic(path, json.dumps(payload, indent=indent) + ("\n" if indent is None else ""))


def save_torch_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` ``obj`` to ``path`` durably and atomically; a write error raises CheckpointError."""
    try:
        with atomic_path(path, durable=True) as tmp, open(tmp, "wb") as f:
            torch.save(obj, f)
    except OSError as exc:
        raise CheckpointError(
            f"could not write checkpoint {path}: {exc.strerror or exc}; the earlier checkpoints are untouched "
            "(free some space or fix the folder's permissions, then run the same command to resume)"
        ) from None


def _fsync(path: Path, flags: int) -> None:
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------- checkpoints
def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of every complete-looking checkpoint in the checkpoint folder ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_PATTERN.match(p.name))]
    return sorted(found)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; a corrupt or foreign file raises CheckpointError."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except pickle.UnpicklingError:  # weights_only refused an object (or the pickle is damaged): never retry unsafely
        raise CheckpointError(f"checkpoint {path} cannot be loaded safely: it holds objects other than tensors and "
                              "plain data (loading them could run code) or it is damaged; it was not loaded") from None
    except Exception as exc:  # noqa: BLE001 - truncated or corrupt zip container, ...
        first = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} cannot be loaded safely: truncated or corrupt ({first})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a sahit checkpoint")
    return state


def clean_temporaries(folder: Path) -> None:
    """Remove the ``*.tmp`` files a killed writer left in ``folder``."""
    if folder.is_dir():
        for tmp in folder.glob("*.tmp"):
            tmp.unlink(missing_ok=True)


def latest_checkpoint(folder: Path, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
    """The newest checkpoint in ``folder`` that loads; unreadable ones are reported and skipped."""
    clean_temporaries(folder)
    for _, path in reversed(list_checkpoints(folder)):
        try:
            return load_checkpoint(path, map_location)
        except CheckpointError as exc:
            log.warning("%s; trying an older one", exc)
    return None


# ------------------------------------------------------------------------------------ samples
def sample_noise(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """The latents ``(n, z_dim)`` that ``seed`` always gives (drawn on the CPU, so the same on every device)."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


@contextlib.contextmanager
def eval_mode(*nets: nn.Module) -> Iterator[None]:
    """Put ``nets`` in eval mode for the block, then back in the mode each was in."""
    modes = [net.training for net in nets]
    for net in nets:
        net.eval()
    try:
        yield
    finally:
        for net, mode in zip(nets, modes):
            net.train(mode)
