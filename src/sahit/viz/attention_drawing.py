"""What every attention figure shares: query colours, cell sizes, the farthest-point choice of query points,
and the canvas, heat map and file writing of :mod:`sahit.viz.attention_figure` and
:mod:`sahit.viz.hit_attention`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

# Distinct, colour-blind friendly query colours (Okabe-Ito), cycled when there are more points.
POINT_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#FFFFFF")
CELL_INCHES = 1.9  # one panel
TITLE_INCHES = 0.5  # figure title band
DPI = 100



def select_points(attn: torch.Tensor, k: int) -> list[int]:
    """``k`` query indices whose attention rows differ most: greedy farthest-point selection.

    ``attn`` is (N, M) for one image. Distance is total variation, 0.5 * |p - q|_1 in [0, 1].
    The first point is the row farthest from the mean row; each next one maximises its
    distance to the nearest point already chosen.
    """
    rows = attn.double()
    k = min(k, rows.shape[0])
    dist_to_chosen = 0.5 * (rows - rows.mean(0, keepdim=True)).abs().sum(1)  # (N,)
    chosen: list[int] = []
    for _ in range(k):
        i = int(torch.argmax(dist_to_chosen))
        chosen.append(i)
        d = 0.5 * (rows - rows[i]).abs().sum(1)
        dist_to_chosen = d if len(chosen) == 1 else torch.minimum(dist_to_chosen, d)
        dist_to_chosen[chosen] = -1.0
    return chosen


def figure_pixels(cols: int, rows: int) -> tuple[int, int]:
    """(width, height) in pixels of a figure of ``rows`` x ``cols`` panels below the title band."""
    return round(cols * CELL_INCHES * DPI), round((rows * CELL_INCHES + TITLE_INCHES) * DPI)


def canvas(images: torch.Tensor, rows: int, cols: int, width: int, height: int, hspace: float
            ) -> tuple[Figure, object, np.ndarray, tuple[int, int, int, int]]:
    """An empty figure of ``width`` x ``height`` pixels with a ``rows`` x ``cols`` grid below the title band,
    the images as (B, R, R, 3) arrays in [0, 1], and the ``imshow`` extent that stretches a map over an image."""
    pictures = (images.detach().float().cpu().clamp(-1, 1) * 0.5 + 0.5).permute(0, 2, 3, 1).numpy()
    resolution = pictures.shape[1]
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    top = 1 - TITLE_INCHES * DPI / height
    grid = fig.add_gridspec(rows, cols, left=0.02, right=0.98, bottom=0.01, top=top - 0.01,
                            wspace=0.08, hspace=hspace)
    return fig, grid, pictures, (0, resolution, resolution, 0)


def heatmap(ax, grey: np.ndarray, extent: tuple, attention_map: np.ndarray, point: tuple[float, float],
             colour: str) -> None:
    """One map drawn as is (``imshow`` stretches it over the image, nearest neighbour) over a faded grey image,
    with its query point and a frame in the query's colour."""
    ax.imshow(grey, extent=extent, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.imshow(attention_map, extent=extent, cmap="inferno", alpha=0.75, interpolation="nearest",
              vmin=0, vmax=float(attention_map.max()))
    ax.plot(*point, "o", ms=7, mfc=colour, mec="white", mew=1.0)
    clean_axes(ax)
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(3)


def save_figure(fig: Figure, path: str | Path | None) -> None:
    """Write ``fig`` to ``path`` (PNG) when one is given."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)


def clean_axes(ax) -> None:
    """No ticks on ``ax``."""
    ax.set_xticks([])
    ax.set_yticks([])
