"""What ``sahit explore`` asks of a generator (and its discriminator): images, attention maps, interpolations.

:class:`Explorer` holds one G (and optionally its D) and answers with the library's own functions: images are
``G.sample(1, classes=C, seed=S, truncation=T)`` as uint8 (``to_uint8``, as ``sahit sample --format png``);
attention maps come from ``G.layer_attention`` / ``D.layer_attention`` cut by ``attention_panels`` /
``hit_attention_panels``, exactly as ``sahit attention`` draws them; knock-outs use the attention-effect
module's context manager. One lock serialises model access, so concurrent callers get correct answers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..metrics.extractor import to_uint8
from ..models.hit.token_maps import HiTLayerMaps
from ..models.knockout import knocked_out, knockout_names
from ..runs import eval_mode
from ..viz.attention_figure import attention_panels
from ..viz.hit_attention import hit_attention_panels
from ..viz.interpolation import seed_latent, slerp
from . import overlay
from .params import Query

CACHE_SIZE = 64  # images and captured maps kept per explorer (each a few kilobytes at small resolutions)


@dataclass(frozen=True)
class Layer:
    """One attention layer the page can show: its index in :attr:`Explorer.layers`, name (``D.`` prefix for the
    discriminator's), network, kind (``self``, ``multi_axis``, ``global`` or ``cross``), the maps one query gets
    (``map``, ``regional``/``dilated``, ``global`` or ``cross``) and whether it can be knocked out."""

    index: int
    name: str
    net: str
    kind: str
    parts: tuple[str, ...]
    knockable: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON form for ``/api/info``."""
        return {"index": self.index, "name": self.name, "net": self.net, "kind": self.kind,
                "parts": list(self.parts), "knockable": self.knockable}


@dataclass
class QueryMaps:
    """The maps of one query pixel in one layer: ``maps[part]`` is an (h, w) map over the image (``cross``: (M,)
    over the latent tokens), ``point`` the centre (x, y) of the query's cell in image pixels."""

    layer: Layer
    point: tuple[float, float]
    maps: dict[str, np.ndarray]


class Explorer:
    """One generator (and optionally its discriminator) behind ``sahit explore``; every method is thread-safe."""

    def __init__(self, G: nn.Module, D: nn.Module | None = None, class_names: Sequence[str] | None = None,
                 source: str = "") -> None:
        self.G, self.D, self.source = G.eval(), None if D is None else D.eval(), source
        self.resolution, self.num_classes = int(G.resolution), int(G.num_classes)
        names = list(class_names or [])
        if len(names) != self.num_classes:
            names = [f"class {k}" for k in range(self.num_classes)]
        self.class_names = names
        self._lock = threading.RLock()
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self.layers = self._describe_layers()

    # -------------------------------------------------------------- what the page shows
    def info(self) -> dict[str, Any]:
        """What ``/api/info`` returns: the model, its classes and its attention layers."""
        return {
            "family": self.G.config.get("family", type(self.G).__name__),
            "resolution": self.resolution,
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "attention_layers": [layer.name for layer in self.layers],
            "layers": [layer.as_dict() for layer in self.layers],
            "soft_classes": bool(getattr(self.G, "soft_classes", False)),
            "source": self.source,
        }

    @property
    def knockable(self) -> list[int]:
        """Indices of the layers that ``Query.off`` may name."""
        return [layer.index for layer in self.layers if layer.knockable]

    def image(self, query: Query) -> torch.Tensor:
        """``G.sample(1, classes=query.cls, seed=query.seed, truncation=query.truncation)`` ((1, 3, R, R) in [-1, 1],
        on the CPU), with the layers in ``query.off`` knocked out."""
        def make() -> torch.Tensor:
            with self._knockouts(query.off):
                return self.G.sample(1, classes=query.cls, seed=query.seed, truncation=query.truncation).cpu()
        return self._cached(("image", query), make)

    def sample_uint8(self, query: Query) -> np.ndarray:
        """The image of :meth:`image` as (R, R, 3) uint8, the project's conversion (``round((x + 1) * 127.5)``)."""
        return to_uint8(self.image(query))[0].permute(1, 2, 0).contiguous().numpy()

    def query_maps(self, query: Query, layer: int, x: int, y: int) -> QueryMaps:
        """Where pixel (x, y) of the query's image attends in layer ``layer``: the arrays ``sahit attention`` draws."""
        info = self.layers[layer]
        captured = self._captured(query, info)
        if isinstance(captured, HiTLayerMaps):
            panel = hit_attention_panels(self.resolution, {info.name: captured}, points=[(x, y)])[0]
            maps = {kind: arrays[0] for kind, arrays in panel.maps.items()}
            point = panel.centre(0, self.resolution)
        else:
            panel = attention_panels(self.resolution, {info.name: captured}, points=[(x, y)])[0]
            maps, point = {"map": panel.maps[0]}, panel.points[0]
        return QueryMaps(info, point, maps)

    def overlay(self, query: Query, layer: int, x: int, y: int) -> np.ndarray:
        """The overlay of :meth:`query_maps` as (H, W, 3) uint8: one enlarged panel per map, side by side."""
        result = self.query_maps(query, layer, x, y)
        image = self.sample_uint8(query)
        scale = overlay.display_scale(self.resolution)
        panels = [overlay.bar_panel(m, self.resolution * scale) if m.ndim == 1
                  else overlay.heat_panel(image, m, result.point, scale) for m in result.maps.values()]
        return overlay.side_by_side(panels)

    def interpolation(self, query: Query, t: float, to_seed: int | None = None, to_cls: int | None = None
                      ) -> np.ndarray:
        """(R, R, 3) uint8 at ``t`` in [0, 1] from the query's image towards seed ``to_seed`` (slerp of z, as
        ``sahit interpolate``) or class ``to_cls`` (class weights mixed at fixed z, as ``--between``)."""
        if (to_seed is None) == (to_cls is None):
            raise ValueError("give exactly one of to_seed and to_cls")
        if not 0 <= t <= 1:
            raise ValueError(f"t must be in [0, 1], got {t}")
        G = self.G
        z = seed_latent(query.seed, G.z_dim, query.truncation)
        if to_seed is not None:
            z = slerp(z, seed_latent(to_seed, G.z_dim, query.truncation), torch.tensor([t]))  # (1, z_dim)
            y = G.sample_labels(1, query.cls)
        else:
            if not self.num_classes or not getattr(G, "soft_classes", False):
                raise ValueError("this generator cannot mix classes: interpolate between seeds instead")
            if not 0 <= to_cls < self.num_classes:
                raise ValueError(f"to_cls must be within 0..{self.num_classes - 1}, got {to_cls}")
            ends = F.one_hot(torch.tensor([query.cls, to_cls]), self.num_classes).float()
            y = (1 - t) * ends[:1] + t * ends[1:]  # (1, K)
            z = z[None]

        def make() -> np.ndarray:
            device = next(G.parameters()).device
            with self._knockouts(query.off), eval_mode(G), torch.no_grad():
                image = G(z.to(device), None if y is None else y.to(device)).float().clamp(-1, 1).cpu()
            return to_uint8(image)[0].permute(1, 2, 0).contiguous().numpy()
        return self._cached(("interpolation", query, t, to_seed, to_cls), make)

    # -------------------------------------------------------------- internals
    def _describe_layers(self) -> list[Layer]:
        """G's attention layers, then D's, from one forward pass of each (kinds and map layouts as returned)."""
        layers: list[Layer] = []
        knockable = set(knockout_names(self.G))
        for net_name, net in (("G", self.G), ("D", self.D)):
            if net is None or not net.attention_layer_names():
                continue
            with self._lock, eval_mode(net), torch.no_grad():
                if net_name == "G":
                    z, y = self.G.sample_noise(1, 0), self.G.sample_labels(1, 0 if self.num_classes else None)
                    _, captured = net.layer_attention(z, y)
                else:
                    images = self.image(Query(0 if self.num_classes else None, 0, None))
                    _, captured = net.layer_attention(images, self.G.sample_labels(1, 0 if self.num_classes else None))
            for name, maps in captured.items():
                kind = maps.kind if isinstance(maps, HiTLayerMaps) else "self"
                parts = tuple(maps.attn) if isinstance(maps, HiTLayerMaps) else ("map",)
                full = name if net_name == "G" else f"D.{name}"
                layers.append(Layer(len(layers), full, net_name, kind, parts, net_name == "G" and name in knockable))
        return layers

    def _captured(self, query: Query, layer: Layer) -> Any:
        """The layer's maps for the query's image (G's layers: its own forward pass; D's: on G's image)."""
        def make() -> Any:
            with self._knockouts(query.off), torch.no_grad():
                if layer.net == "G":
                    z = self.G.sample_noise(1, query.seed, query.truncation)
                    y = self.G.sample_labels(1, query.cls)
                    device = next(self.G.parameters()).device
                    with eval_mode(self.G):
                        _, captured = self.G.layer_attention(z.to(device), None if y is None else y.to(device),
                                                             layers=[layer.name])
                    return captured[layer.name]
                name = layer.name[2:]
                images = self.image(query)
                y = self.G.sample_labels(1, query.cls)
                device = next(self.D.parameters()).device
                with eval_mode(self.D):
                    _, captured = self.D.layer_attention(images.to(device), None if y is None else y.to(device),
                                                         layers=[name])
                return captured[name]
        return self._cached(("maps", query, layer.index), make)

    def _knockouts(self, off: Sequence[int]):
        return knocked_out(self.G, [self.layers[i].name for i in off])

    def _cached(self, key: tuple, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            value = make()
            self._cache[key] = value
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
            return value


def class_names_of(run: str | Path, num_classes: int) -> list[str] | None:
    """The class names of the data a run was trained on, read from its ``config.yaml`` (data only), or None.

    ``builtin``: the built-in shapes; ``cifar10``: CIFAR-10's names; a folder of class subfolders: their sorted
    names (as the folder loader numbers them). Export folders and hub models carry no data set: None.
    """
    from ..data.builtin import CLASS_NAMES
    from ..runs import read_config, run_folder

    try:
        data = read_config(run_folder(run)).get("data")
    except (OSError, ValueError):
        return None
    if not isinstance(data, str) or not num_classes:
        return None
    spec = data.split(":")[0].strip().lower()
    if spec == "builtin":
        return list(CLASS_NAMES[:num_classes])
    if spec == "cifar10":
        return list(CIFAR10_CLASSES)
    folder = Path(data).expanduser()
    if folder.is_dir():
        subdirs = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        return subdirs if len(subdirs) == num_classes else None
    return None


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
