"""PyTorch-StudioGAN's SAGAN (``src/models/resnet.py``) as a sahit SAGAN, weight for weight.

What StudioGAN's code does and the SAGAN options that reproduce it (defaults stay the official code's):

- G and D layouts: its ``g_conv_dim``/``d_conv_dim`` tables are sahit's ``G_ARCH``/``D_ARCH`` at 32 (G width
  4x, D width 2x its conv dim), 128 and 256 px; its 64-px G (16, 8, 4, 2, 1 times g_conv_dim) is
  ``g_arch=[16, 8, 4, 2, 1]``. Attention after block ``attn_*_loc - 1`` is ``g_attn_res``/``d_attn_res``.
- Spectral norm: torch's old hook (``weight_orig``, ``weight_u``, ``weight_v``), the same power iteration
  and sigma as sahit's parametrization (``original``, ``_u``, ``_v``); eps 1e-6 in both.
- Conditional batch norm: ``gain = 1 + E_gain(y)``, ``bias = E_bias(y)``, spectrally normalised, in three
  key formats by date: ``embed0/embed1`` embeddings (K, C) until 2022-01-25, then ``shared`` (a plain
  class embedding into z_dim) feeding ``gain/bias`` linear layers until 2022-03-06, then ``gain/bias``
  linear layers (C, K) on one-hot labels. The first and last are ``cbn_spectral_norm="embedding"`` and
  ``"linear"`` (exact, power iteration included); the middle one is folded into plain class tables
  (exact in eval mode; training then no longer normalises them).
- Batch norm eps 1e-4 (``bn_eps``), momentum 0.1 (``bn_momentum``).
- D's blocks use ``nn.ReLU(inplace=True)`` after keeping ``x0 = x`` for the shortcut, so the shortcut sees
  relu(x): ``d_shortcut_relu=True``.
- Its sampling (``GeneratorController.prepare_generator``) puts G in eval mode and its conv, linear and
  embedding layers back in train mode: every sampling call runs one power iteration.
  ``g_eval_power_iteration=True`` reproduces that (``studiogan_sampling=True`` here); the default converts
  for eval mode, where G's outputs are a function of the file.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import torch

from ..models import build
from ..models.sagan import BOTTOM, D_ARCH, G_ARCH, discriminator_sizes
from ..runs import (
    CHECKPOINT_FORMAT,
    CHECKPOINTS,
    EXPORT,
    SUMMARY,
    checkpoint_path,
    save_torch_atomic,
    write_text_atomic,
)
from .studiogan_files import find_checkpoints, read_checkpoint, step_of

SUPPORTED = ("StudioGAN's SAGAN (src/models/resnet.py) with spectral norm in G and D, cBN or no conditioning in G, "
             f"projection (PD) or none in D, at {', '.join(str(r) for r in sorted(G_ARCH) if r >= 32)} px")
ATTENTION = {"conv1x1_theta": "f", "conv1x1_phi": "g", "conv1x1_g": "h", "conv1x1_attn": "v"}
G_BLOCK = {"conv2d0": "shortcut", "conv2d1": "conv1", "conv2d2": "conv2"}
D_BLOCK = {"conv2d0": "shortcut", "conv2d1": "conv1", "conv2d2": "conv2"}
SN_SUFFIX = {"weight_orig": "parametrizations.weight.original", "weight_u": "parametrizations.weight.0._u",
             "weight_v": "parametrizations.weight.0._v"}


class LayoutError(ValueError):
    """A StudioGAN file whose layout sahit's SAGAN cannot hold."""


def _strip(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop DataParallel's ``module.`` prefix."""
    return {k.removeprefix("module."): v for k, v in state.items()}


def _units(state: dict[str, torch.Tensor]) -> list[tuple[str, int]]:
    """StudioGAN's ``blocks.J.0`` entries in order: ("attention" | "block", J)."""
    indices = sorted({int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.0\.", k))})
    return [("attention" if f"blocks.{j}.0.sigma" in state else "block", j) for j in indices]


def _sn_key(prefix: str, key: str) -> str:
    """``X.weight_orig`` -> sahit's ``X.parametrizations.weight.original`` (and u, v); other keys unchanged."""
    name, _, leaf = key.rpartition(".")
    if leaf not in SN_SUFFIX:
        return f"{prefix}{key}"
    return f"{prefix}{name}.{SN_SUFFIX[leaf]}" if name else f"{prefix}{SN_SUFFIX[leaf]}"


def _sn_weight(state: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    """The weight a spectrally normalised layer uses in eval mode: W / (u . W v)."""
    w = state[f"{name}.weight_orig"]
    u, v = state[f"{name}.weight_u"], state[f"{name}.weight_v"]
    return w / torch.dot(u, w.flatten(1) @ v)


def _require_spectral_norm(state: dict[str, torch.Tensor], net: str) -> None:
    if not any(k.endswith("weight_orig") for k in state):
        raise LayoutError(f"StudioGAN {net} without spectral norm is not supported; supported: {SUPPORTED}")
    unnormalised = [k for k in state if k.endswith(("conv2d1.weight", "linear0.weight"))]
    if unnormalised or any(re.search(r"\.bn\d\.(weight|running_mean)$", k) for k in state if net == "D"):
        raise LayoutError(f"StudioGAN {net} with layers without spectral norm or with batch norm in D "
                          f"({(unnormalised or ['bn'])[0]}) is not supported; supported: {SUPPORTED}")


def _cbn_format(state: dict[str, torch.Tensor]) -> str:
    if any(".embed0." in k for k in state):
        return "embedding"
    if "shared.weight" in state:
        return "shared"
    if any(k.endswith(".gain.weight_orig") for k in state):
        return "linear"
    return "none"


def generator_layout(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """SAGAN options of a StudioGAN G state dict (widths, resolution, classes, attention, CBN form)."""
    _require_spectral_norm(state, "G")
    if "linear0.weight_orig" not in state:
        raise LayoutError(f"the G file has no linear0 layer: not {SUPPORTED}")
    z_dim = state["linear0.weight_orig"].shape[1]
    widths = [state["linear0.weight_orig"].shape[0] // (BOTTOM * BOTTOM)]
    attn_res = []
    for kind, j in _units(state):
        if kind == "attention":
            attn_res.append(BOTTOM * 2 ** (len(widths) - 1))
        else:
            widths.append(state[f"blocks.{j}.0.conv2d1.weight_orig"].shape[0])
    resolution = BOTTOM * 2 ** (len(widths) - 1)
    if resolution not in G_ARCH or resolution < 32:
        raise LayoutError(f"a StudioGAN G of {len(widths) - 1} blocks ({resolution} px) is not supported; "
                          f"supported: {SUPPORTED}")
    layout: dict[str, Any] = {"resolution": resolution, "z_dim": z_dim, "g_attn_res": attn_res}
    g_width = widths[-1] // G_ARCH[resolution][-1]
    if g_width * G_ARCH[resolution][-1] == widths[-1] and widths == [g_width * m for m in G_ARCH[resolution]]:
        layout["g_width"] = g_width
    else:  # StudioGAN's 64-px G, or any other ratios
        g_width = math.gcd(*widths)
        layout.update(g_width=g_width, g_arch=[w // g_width for w in widths])
    cbn = _cbn_format(state)
    table = {"embedding": ("embed0", 0), "linear": ("gain", 1), "shared": None, "none": None}[cbn]
    if table is not None:
        layout["num_classes"] = state[f"blocks.0.0.bn1.{table[0]}.weight_orig"].shape[table[1]]
    elif cbn == "shared":
        layout["num_classes"] = state["shared.weight"].shape[0]
    else:
        layout["num_classes"] = 0
    layout["cbn_spectral_norm"] = "none" if cbn == "shared" else cbn
    return layout


def discriminator_layout(state: dict[str, torch.Tensor], resolution: int) -> dict[str, Any]:
    """SAGAN options of a StudioGAN D state dict (width, attention), checked against sahit's D at ``resolution``."""
    _require_spectral_norm(state, "D")
    multipliers = D_ARCH[resolution][0]
    widths, attn_res, sizes = [], [], discriminator_sizes(resolution)
    for kind, j in _units(state):
        if kind == "attention":
            i = len(widths) - 1
            if sizes.index(sizes[i]) != i:
                raise LayoutError(f"D attention after block {i + 1} (attn_d_loc {i + 1}) at {sizes[i]}x{sizes[i]} "
                                  f"px: sahit's D puts attention after the first block of a size; supported: {SUPPORTED}")
            attn_res.append(sizes[i])
        else:
            widths.append(state[f"blocks.{j}.0.conv2d1.weight_orig"].shape[0])
    d_width = widths[-1] // multipliers[-1] if widths else 0
    if len(widths) != len(multipliers) or widths != [d_width * m for m in multipliers]:
        raise LayoutError(f"a StudioGAN D with block widths {widths} does not match sahit's {resolution}-px D "
                          f"(width x {multipliers}); supported: {SUPPORTED}")
    return {"d_width": d_width, "d_attn_res": attn_res}


def _unit_names(state: dict[str, torch.Tensor]) -> dict[int, str]:
    """StudioGAN's unit index -> sahit's module prefix: ``blocks.B.`` or, after block B, ``attention.B.``."""
    block = -1
    names: dict[int, str] = {}
    for kind, j in _units(state):
        if kind == "block":
            block += 1
        names[j] = f"attention.{block}." if kind == "attention" else f"blocks.{block}."
    return names


def generator_state(state: dict[str, torch.Tensor], cbn: str) -> dict[str, torch.Tensor]:
    """StudioGAN's G state dict under sahit's names (``cbn``: the form found by :func:`_cbn_format`)."""
    out: dict[str, torch.Tensor] = {}
    names = _unit_names(state)
    for key, value in state.items():
        if key == "shared.weight":
            continue
        if key.startswith("linear0."):
            out[_sn_key("linear.", key[len("linear0."):])] = value
        elif key.startswith("bn4."):
            out[f"out_bn.{key[len('bn4.'):]}"] = value
        elif key.startswith("conv2d5."):
            out[_sn_key("out_conv.", key[len("conv2d5."):])] = value
        elif m := re.match(r"blocks\.(\d+)\.0\.(\w+)\.(.+)$", key):
            prefix, layer, rest = names[int(m.group(1))], m.group(2), m.group(3)
            if layer in ATTENTION:
                out[_sn_key(f"{prefix}{ATTENTION[layer]}.", rest)] = value
            elif layer in ("bn1", "bn2"):
                out.update(_cbn_entry(f"{prefix}{layer}.", rest, value, cbn))
            elif layer in G_BLOCK:
                out[_sn_key(f"{prefix}{G_BLOCK[layer]}.", rest)] = value
            else:
                raise LayoutError(f"unexpected G layer {key!r}: not {SUPPORTED}")
        elif m := re.match(r"blocks\.(\d+)\.0\.sigma$", key):
            out[f"{names[int(m.group(1))]}gamma"] = value.reshape(())
        else:
            raise LayoutError(f"unexpected G entry {key!r}: not {SUPPORTED}")
    if cbn == "shared":
        out.update(_folded_shared_tables(state, names))
    return out


def _cbn_entry(prefix: str, rest: str, value: torch.Tensor, cbn: str) -> dict[str, torch.Tensor]:
    """One entry of a G block's batch norm: statistics as they are; class tables renamed (the linear form
    transposed, the shared form left to :func:`_folded_shared_tables`)."""
    layer, _, leaf = rest.partition(".")
    if layer in ("embed0", "embed1"):
        return {_sn_key(prefix, f"{'gain' if layer == 'embed0' else 'bias'}.{leaf}"): value}
    if layer in ("gain", "bias"):
        if cbn == "shared":
            return {}  # folded with the shared embedding below
        return {_sn_key(prefix, rest): value.t().contiguous() if leaf == "weight_orig" else value}
    return {_sn_key(prefix, rest): value}


def _folded_shared_tables(state: dict[str, torch.Tensor], names: dict[int, str]) -> dict[str, torch.Tensor]:
    """StudioGAN Jan-Mar 2022: gain(y) = 1 + W_sn shared[y] -> plain tables 1 + shared W_sn^T and shared W_sn^T."""
    shared = state["shared.weight"]  # (K, z_dim)
    inputs = state["blocks.0.0.bn1.gain.weight_orig"].shape[1]
    if inputs != shared.shape[1]:
        raise LayoutError(f"the class-table layers take {inputs} inputs, not the shared embedding's {shared.shape[1]} "
                          f"(BigGAN's hierarchical z?): not {SUPPORTED}")
    out = {}
    for j, prefix in names.items():
        for bn in ("bn1", "bn2"):
            name = f"blocks.{j}.0.{bn}"
            if f"{name}.gain.weight_orig" in state:
                out[f"{prefix}{bn}.gain.weight"] = 1 + shared @ _sn_weight(state, f"{name}.gain").t()
                out[f"{prefix}{bn}.bias.weight"] = shared @ _sn_weight(state, f"{name}.bias").t()
    return out


def discriminator_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """StudioGAN's D state dict under sahit's names."""
    out: dict[str, torch.Tensor] = {}
    names = _unit_names(state)
    for key, value in state.items():
        if key.startswith("linear1."):
            out[_sn_key("linear.", key[len("linear1."):])] = value
        elif key.startswith("embedding."):
            out[_sn_key("embed.", key[len("embedding."):])] = value
        elif m := re.match(r"blocks\.(\d+)\.0\.sigma$", key):
            out[f"{names[int(m.group(1))]}gamma"] = value.reshape(())
        elif (m := re.match(r"blocks\.(\d+)\.0\.(\w+)\.(.+)$", key)) and m.group(2) in {**ATTENTION, **D_BLOCK}:
            prefix, layer, rest = names[int(m.group(1))], m.group(2), m.group(3)
            out[_sn_key(f"{prefix}{ATTENTION.get(layer) or D_BLOCK[layer]}.", rest)] = value
        else:
            raise LayoutError(f"unexpected D entry {key!r} (another d_cond_mtd than PD?): not {SUPPORTED}")
    return out


def studiogan_config(g_state: dict[str, torch.Tensor], d_state: dict[str, torch.Tensor] | None,
                     studiogan_sampling: bool = False) -> dict[str, Any]:
    """The SAGAN options that rebuild StudioGAN's networks exactly (see the module's docstring)."""
    g_state, layout = _strip(g_state), generator_layout(_strip(g_state))
    if d_state is not None:
        layout.update(discriminator_layout(_strip(d_state), layout["resolution"]))
    else:
        layout.update(d_width=layout["g_width"], d_attn_res=[])
    return {**layout, "init": "orthogonal", "bn_momentum": 0.1, "bn_eps": 1e-4, "d_shortcut_relu": True,
            "n_power_iterations": 1, "g_eval_power_iteration": studiogan_sampling}


def _load_strict(net: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = next((ln for ln in lines[1:] if ln), lines[0] if lines else "")
        raise LayoutError(f"{what} does not fit sahit's SAGAN: {detail[:300]}; supported: {SUPPORTED}") from None


def _build_and_load(states: dict[str, dict], files: dict[str, Path], studiogan_sampling: bool) -> dict[str, Any]:
    """sahit's G (D, G_ema where given) with StudioGAN's weights, loaded strictly."""
    config = studiogan_config(states["G"], states.get("D"), studiogan_sampling)
    cbn = _cbn_format(states["G"])
    G, D = build("sagan", **config)
    _load_strict(G, generator_state(states["G"], cbn), str(files["G"]))
    nets: dict[str, Any] = {"G": G}
    if "G_ema" in states:
        G_ema, _ = build("sagan", **config)
        _load_strict(G_ema, generator_state(states["G_ema"], cbn), str(files["G_ema"]))
        nets["G_ema"] = G_ema
    if "D" in states:
        _load_strict(D, discriminator_state(states["D"]), str(files["D"]))
        nets["D"] = D
    return nets


def convert_studiogan(paths: list[str | Path] | str | Path, out: str | Path, when: str | None = None,
                      studiogan_sampling: bool = False) -> dict[str, Any]:
    """Convert a StudioGAN SAGAN run (its folder, or its G / D / G_ema files) into a sahit run folder ``out``.

    ``out`` gets ``export/`` (G, and G_ema when there is one: ``sahit.load(out)``, ``sahit sample``,
    ``attention``, ``eval``) and, when D is given, ``checkpoints/ckpt-N.pt`` holding G, D and G_ema weights (``--d``
    of the viz commands, and ``init_from=out`` to train on from them). ``when``: "best" or "current" files
    (default best when there are both). ``studiogan_sampling``: G runs one power iteration per call in eval mode,
    as StudioGAN's sampling does (its first call's images exactly); default: eval mode's fixed weights.
    Returns a summary (files read, config, paths written). ValueError (one line) for files of another layout.
    """
    from ..export import save_generator

    files = find_checkpoints([paths] if isinstance(paths, (str, Path)) else list(paths), when)
    states = {role: _strip(read_checkpoint(path)["state_dict"]) for role, path in files.items()}
    try:
        nets = _build_and_load(states, files, studiogan_sampling)
    except KeyError as exc:  # a layer the layout needs is not in the file
        raise LayoutError(f"{files['G'].parent}: no entry {exc} where StudioGAN's SAGAN has one; "
                          f"supported: {SUPPORTED}") from None
    G, D = nets["G"], nets.get("D")
    cbn = _cbn_format(states["G"])
    out = Path(out)
    step = step_of(files["G"])
    export = save_generator(out / EXPORT, G.eval(), nets["G_ema"].eval() if "G_ema" in nets else None)
    summary: dict[str, Any] = {"step": step, "source": "studiogan", "files": {k: str(v) for k, v in files.items()},
                               "cbn_format": cbn, "model": G.config, "export": str(export)}
    if "D" in nets:
        ckpt = checkpoint_path(out / CHECKPOINTS, step)
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        save_torch_atomic({"format": CHECKPOINT_FORMAT, "step": step, "converted_from": "studiogan",
                           "G": G.state_dict(), "D": D.state_dict(),
                           "G_ema": nets.get("G_ema", G).state_dict()}, ckpt)
        summary["checkpoint"] = str(ckpt)
    write_text_atomic(out / SUMMARY, json.dumps(summary, indent=2))
    return summary
