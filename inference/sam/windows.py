"""Which parts of an image a SAM-family encoder sees, and how prompts map into them (numpy only).

A SAM encoder sees a square input of side ``S`` (1024 for segment-anything, 256 for LiteMedSAM): the
image is resized so that its longest side is ``S`` and padded. A long-leg radiograph is 2-8 times
taller than wide, so at ``S = 256`` a whole-image femur is only 8-25 px wide and LiteMedSAM segments
the thigh around it. Segmenters may therefore encode overlapping *windows* as well as the whole image:
tiles along the image's long axis whose length is ``tile_fraction`` of it (0.55 holds a whole femur
or tibia, which span about 40% of a long-leg image), spanning the short axis, at half-tile steps.
Every window is encoded once per image and cached with it; a prompt is decoded in the smallest window
that holds it.

Coordinates: image ``(x, y)`` of :mod:`inference.core.legs`; a window ``x0, y0, x1, y1`` (int) covers
columns ``x0 <= c < x1`` and rows ``y0 <= r < y1``. segment-anything's prompt encoder adds half a pixel
to every coordinate (its pixel ``i`` is centred at ``i``), so :func:`to_model_coords` subtracts it.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "choose_window",
    "embedding_windows",
    "prompt_extent_xyxy",
    "resized_size_hw",
    "stretched_size_hw",
    "to_model_coords",
]


def resized_size_hw(height: int, width: int, input_side: int) -> tuple[int, int]:
    """``(h, w)`` of a ``height x width`` region whose longest side is resized to ``input_side``.

    Rounds as segment-anything's ``ResizeLongestSide.get_preprocess_shape`` does (half up).

    Examples
    --------
    >>> resized_size_hw(1024, 512, 256)
    (256, 128)
    """
    scale = input_side / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def stretched_size_hw(height: int, width: int, input_side: int, max_stretch: float) -> tuple[int, int]:
    """``(h, w)`` of a region resized so its longest side is ``input_side`` and its short side is
    stretched by up to ``max_stretch`` (capped at ``input_side``).

    A long-leg tile is 4-8 times taller than wide; resized with its aspect kept, a bone in it is only
    a few encoder cells wide. Stretching the short axis gives the decoder more cells across the bone
    (the bone-tuned model is trained on such inputs). ``max_stretch = 1`` is :func:`resized_size_hw`.

    Examples
    --------
    >>> stretched_size_hw(564, 128, 256, 4.0)
    (256, 232)
    >>> stretched_size_hw(1024, 512, 256, 4.0)
    (256, 256)
    >>> stretched_size_hw(1024, 512, 256, 1.0) == resized_size_hw(1024, 512, 256)
    True
    """
    if max_stretch < 1:
        raise ValueError(f"max_stretch must be >= 1, got {max_stretch}")
    h, w = resized_size_hw(height, width, input_side)
    if height >= width:
        return h, min(input_side, int(w * max_stretch + 0.5))
    return min(input_side, int(h * max_stretch + 0.5)), w


def embedding_windows(height: int, width: int, *, tile_fraction: float | None) -> NDArray[np.int64]:
    """The windows a segmenter encodes: the whole image, then overlapping tiles along its long axis.

    Parameters
    ----------
    height, width : int
        Image size.
    tile_fraction : float or None
        Tile length as a fraction of the image's long side (0 < f < 1); ``None`` encodes the whole
        image only. Tiles span the whole short side, so they are made only when the short side is
        shorter than a tile (a tile would otherwise be resized exactly like the whole image).

    Returns
    -------
    (K, 4) int64 ndarray
        ``x0, y0, x1, y1`` per window; row 0 is ``(0, 0, width, height)``. Tiles step by at most half
        a tile, the first and last flush with the image's ends.

    Examples
    --------
    >>> embedding_windows(1024, 512, tile_fraction=0.55).tolist()
    [[0, 0, 512, 1024], [0, 0, 512, 564], [0, 230, 512, 794], [0, 460, 512, 1024]]
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height} x {width}")
    windows = [(0, 0, width, height)]
    if tile_fraction is not None:
        if not 0 < tile_fraction < 1:
            raise ValueError(f"tile_fraction must lie in (0, 1), got {tile_fraction}")
        long_side, short_side = max(height, width), min(height, width)
        tile = math.ceil(tile_fraction * long_side)
        if short_side < tile:
            count = math.ceil((long_side - tile) / (tile / 2)) + 1
            for start in sorted({int(round(v)) for v in np.linspace(0, long_side - tile, count)}):
                tall = height >= width
                windows.append((0, start, width, start + tile) if tall else (start, 0, start + tile, height))
    return np.asarray(windows, dtype=np.int64)


def prompt_extent_xyxy(points_xy: NDArray[np.float64] | None,
                       box_xyxy: NDArray[np.float64] | None) -> NDArray[np.float64]:
    """Bounding box ``x0, y0, x1, y1`` of every point and the box corners.

    Raises
    ------
    ValueError
        If both are ``None``.
    """
    parts = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in (points_xy, box_xyxy) if p is not None]
    if not parts:
        raise ValueError("no prompt to take the extent of")
    corners = np.concatenate(parts)
    return np.concatenate([corners.min(axis=0), corners.max(axis=0)])


def choose_window(windows_xyxy: NDArray[np.int64], extent_xyxy: NDArray[np.float64], *,
                  margin_frac: float = 0.1) -> int:
    """Index of the window to decode a prompt in: the smallest that holds the prompt's extent.

    Parameters
    ----------
    windows_xyxy : (K, 4) int ndarray
        As :func:`embedding_windows` returns; row 0 (the whole image) is the fallback.
    extent_xyxy : (4,) float ndarray
        The prompt's extent (:func:`prompt_extent_xyxy`).
    margin_frac : float
        Context the window must hold around the extent, as a fraction of the extent's longest side
        (at least 4 px), clipped to the whole image.

    Returns
    -------
    int
        The smallest window containing the extent plus its margin; among equal sizes, the one whose
        centre is closest to the extent's centre.
    """
    windows = np.asarray(windows_xyxy, dtype=np.float64)
    extent = np.asarray(extent_xyxy, dtype=np.float64)
    margin = max(4.0, margin_frac * float(max(extent[2] - extent[0], extent[3] - extent[1])))
    whole = windows[0]
    need = np.clip(extent + [-margin, -margin, margin, margin], whole[[0, 1, 0, 1]], whole[[2, 3, 2, 3]])
    holds = (windows[:, 0] <= need[0]) & (windows[:, 1] <= need[1]) & (windows[:, 2] >= need[2]) & (
        windows[:, 3] >= need[3])
    holds[0] = True
    area = (windows[:, 2] - windows[:, 0]) * (windows[:, 3] - windows[:, 1])
    centre_gap = np.hypot((windows[:, 0] + windows[:, 2]) / 2 - (extent[0] + extent[2]) / 2,
                          (windows[:, 1] + windows[:, 3]) / 2 - (extent[1] + extent[3]) / 2)
    candidates = np.flatnonzero(holds)
    return int(min(candidates, key=lambda k: (area[k], centre_gap[k], k)))


def to_model_coords(points_xy: NDArray[np.float64], window_xyxy: NDArray[np.int64],
                    input_size_hw: tuple[int, int] | NDArray[np.int64]) -> NDArray[np.float64]:
    """Map image ``(x, y)`` points into a window's model input, in segment-anything's pixel indices.

    Parameters
    ----------
    points_xy : (N, 2) float ndarray
        Image ``(x, y)`` (a box is passed as its two corners).
    window_xyxy : (4,) int ndarray
        The window encoded.
    input_size_hw : (2,) int
        ``(h, w)`` of the resized window inside the model input.

    Returns
    -------
    (N, 2) float64 ndarray
        ``((x - x0) * w / (x1 - x0) - 0.5, (y - y0) * h / (y1 - y0) - 0.5)``: continuous input
        coordinates minus the half pixel the prompt encoder adds back.

    Examples
    --------
    >>> to_model_coords(np.array([[256.0, 512.0]]), np.array([0, 0, 512, 1024]), (256, 128)).tolist()
    [[63.5, 127.5]]
    """
    x0, y0, x1, y1 = (float(v) for v in window_xyxy)
    h, w = (float(v) for v in input_size_hw)
    points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    return np.column_stack([(points[:, 0] - x0) * w / (x1 - x0) - 0.5, (points[:, 1] - y0) * h / (y1 - y0) - 0.5])
