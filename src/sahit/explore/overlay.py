"""Attention maps drawn as RGB arrays and PNG bytes, without matplotlib figures (fast enough per click).

A map is drawn as ``sahit attention`` draws it: stretched over the image by nearest neighbour, coloured with
``inferno`` from 0 to its maximum, at alpha 0.75 over a grey copy of the image, with the query point marked.
Cross-attention (HiT: a query's attention over the latent tokens) is a bar chart, one bar per token.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib import colormaps
from PIL import Image

ALPHA = 0.75  # as sahit attention's heat maps
GAP = 4  # pixels between the panels of one overlay
DISPLAY = 256  # overlays are enlarged (whole pixels) to about this size


def display_scale(resolution: int) -> int:
    """Whole-pixel enlargement of an overlay panel: about :data:`DISPLAY` pixels across, at least 1."""
    return max(1, DISPLAY // resolution)


def to_png(pixels: np.ndarray) -> bytes:
    """(H, W, 3) uint8 as PNG bytes (fast compression: these are tiny and made per request)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def heat_panel(image: np.ndarray, attention_map: np.ndarray, point: tuple[float, float], scale: int) -> np.ndarray:
    """One map over ``image`` ((R, R, 3) uint8): (R * scale, R * scale, 3) uint8, the query marked at ``point``.

    ``attention_map`` is (h, w) with h and w dividing R; each entry covers an (R/h) x (R/w) patch.
    """
    resolution = image.shape[0]
    h, w = attention_map.shape
    if resolution % h or resolution % w:
        raise ValueError(f"a {h}x{w} map does not tile a {resolution}x{resolution} image")
    stretched = np.kron(attention_map, np.ones((resolution // h, resolution // w)))  # (R, R), nearest neighbour
    top = float(stretched.max())
    colours = colormaps["inferno"](stretched / top if top > 0 else stretched)[..., :3]  # (R, R, 3) in [0, 1]
    grey = image.astype(np.float64).mean(-1, keepdims=True) / 255.0  # (R, R, 1)
    blended = ALPHA * colours + (1 - ALPHA) * grey
    panel = np.kron((blended * 255).round().astype(np.uint8), np.ones((scale, scale, 1), dtype=np.uint8))
    _mark(panel, point[0] * scale, point[1] * scale, scale)
    return panel


def bar_panel(weights: np.ndarray, size: int) -> np.ndarray:
    """A bar chart of ``weights`` (M,) on a white ``size`` x ``size`` panel: bar heights proportional to the
    weights, the tallest reaching the top."""
    panel = np.full((size, size, 3), 255, dtype=np.uint8)
    count = len(weights)
    top = float(weights.max()) if count else 0.0
    edges = np.linspace(0, size, count + 1).round().astype(int)  # bar i spans edges[i]..edges[i + 1], 1 px apart
    for i, value in enumerate(weights):
        height = round(size * 0.95 * float(value) / top) if top > 0 else 0
        left, right = edges[i] + 1, max(edges[i + 1] - 1, edges[i] + 2)
        panel[size - height:, left:right] = (230, 159, 0)  # Okabe-Ito orange, as sahit attention's first query
    panel[-1, :] = 0
    return panel


def side_by_side(panels: list[np.ndarray]) -> np.ndarray:
    """Panels of equal height in one row, :data:`GAP` white pixels between them."""
    height = panels[0].shape[0]
    parts = []
    for i, panel in enumerate(panels):
        if i:
            parts.append(np.full((height, GAP, 3), 255, dtype=np.uint8))
        parts.append(panel)
    return np.concatenate(parts, axis=1)


def _mark(panel: np.ndarray, x: float, y: float, scale: int) -> None:
    """A ring (white inside, black outside) around pixel position (x, y) of ``panel``, in place."""
    radius = max(3.0, 0.6 * scale)
    reach = int(radius + 3)
    top, left = max(int(y) - reach, 0), max(int(x) - reach, 0)
    window = panel[top:int(y) + reach + 1, left:int(x) + reach + 1]  # a view: only the ring's square is touched
    yy, xx = np.mgrid[top:top + window.shape[0], left:left + window.shape[1]]
    distance = np.hypot(xx + 0.5 - x, yy + 0.5 - y)
    window[(distance >= radius) & (distance < radius + 1.5)] = 255
    window[(distance >= radius + 1.5) & (distance < radius + 2.5)] = 0
