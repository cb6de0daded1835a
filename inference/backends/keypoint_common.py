"""Numpy helpers shared by the key-point backends: leg boxes, crop transforms, heatmap coding.

No framework is imported here, so these pieces are testable and cheap.

Coordinates (see :mod:`inference.core.legs`)
---------------------------------------------
Image points are ``(x, y)`` with pixel ``[r, c]`` centred at ``(c + 0.5, r + 0.5)``. A network
input of size ``(in_h, in_w)`` uses the same rule: input pixel ``[i, j]`` is centred at
``(j + 0.5, i + 0.5)`` in *input coordinates*. A :class:`CropTransform` is the affine map
``q = A p + t`` from image to input coordinates; resampling (:func:`warp_image`) evaluates the image
at ``A^-1 (q - t)`` for every input pixel centre ``q`` (bilinear, zero outside), so a point mapped
with :meth:`CropTransform.to_input` lands exactly where its pixel content lands, and
:meth:`CropTransform.to_image` inverts it exactly.

A heatmap of stride ``s`` has cell ``[i, j]`` centred at input point ``((j + 0.5) s, (i + 0.5) s)``;
its *grid coordinates* are ``(u, v) = (x / s - 0.5, y / s - 0.5)``. Targets are unnormalised
Gaussians ``exp(-((j - u)^2 + (i - v)^2) / (2 sigma^2))`` with ``sigma`` in cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi

from inference.core.legs import FEMUR, TIBIA

if TYPE_CHECKING:  # pragma: no cover
    from inference.core.samples import TrainingSample

__all__ = [
    "CropTransform",
    "box_transform",
    "decode_heatmaps",
    "encode_heatmaps",
    "expand_boxes",
    "leg_boxes_from_label_map",
    "sample_leg_boxes",
    "warp_image",
]

FitMode = Literal["stretch", "letterbox"]
DecodeMode = Literal["dark", "quarter", "argmax"]


# --------------------------------------------------------------------------------------------------
# Leg boxes


def leg_boxes_from_label_map(
    label_map: NDArray[np.integer], *, n_legs: int | None = None, x_mid: float | None = None
) -> NDArray[np.float64]:
    """Tight ``(n_legs, 4)`` boxes ``(x0, y0, x1, y1)`` (pixel edges) of each leg's bone pixels.

    Legs are split as in :func:`inference.core.joints_from_masks.split_legs` and ordered left to
    right; a leg without bone pixels gets a NaN row.
    """
    from inference.core.joints_from_masks import split_legs

    lm = np.asarray(label_map)
    count, mid, _ = split_legs(lm, n_legs=n_legs, x_mid=x_mid)
    bone = (lm == FEMUR) | (lm == TIBIA)
    cols = np.arange(lm.shape[1]) + 0.5
    if count == 0:
        return np.zeros((0, 4))
    masks = [np.ones(lm.shape[1], bool)] if count == 1 else [cols < mid, cols >= mid]  # type: ignore[operator]
    out = np.full((count, 4), np.nan)
    for i, m in enumerate(masks):
        leg = bone & m[None, :]
        if leg.any():
            rr = np.flatnonzero(leg.any(axis=1))
            cc = np.flatnonzero(leg.any(axis=0))
            out[i] = [cc[0], rr[0], cc[-1] + 1, rr[-1] + 1]
    return out


def expand_boxes(
    boxes_xyxy: NDArray[np.float64],
    *,
    margin_frac: float,
    width: int | None = None,
    height: int | None = None,
    min_margin_px: float = 2.0,
) -> NDArray[np.float64]:
    """Widen ``(n, 4)`` boxes by ``margin_frac`` of their own width/height on each side.

    The margin is at least ``min_margin_px``; boxes are clipped to ``[0, width] x [0, height]`` when
    those are given.
    """
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4).copy()
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    mx = np.maximum(margin_frac * w, min_margin_px)
    my = np.maximum(margin_frac * h, min_margin_px)
    b += np.column_stack([-mx, -my, mx, my])
    if width is not None:
        b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, width)
    if height is not None:
        b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, height)
    return b


def sample_leg_boxes(sample: TrainingSample) -> NDArray[np.float64]:
    """Tight ``(n_legs, 4)`` bone boxes of a sample's legs, in the order of ``sample.joints_xy``.

    From the label map split into ``n_legs`` legs; where a leg has no bone pixels, a box around
    its finite joints (8 % of the hip-ankle height above, left and right, 3 % below) is used; NaN
    when it has neither.
    """
    joints = np.asarray(sample.joints_xy, dtype=np.float64).reshape(-1, 3, 2)
    n = joints.shape[0]
    boxes = np.full((n, 4), np.nan)
    if n in (1, 2) and np.any(np.asarray(sample.label_map) > 0):
        got = leg_boxes_from_label_map(sample.label_map, n_legs=n)
        boxes[: len(got)] = got[:n]
    for i in range(n):
        if np.all(np.isfinite(boxes[i])):
            continue
        pts = joints[i][np.all(np.isfinite(joints[i]), axis=1)]
        if len(pts):
            span = max(float(np.ptp(pts[:, 1])), 1.0)
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            boxes[i] = [lo[0] - 0.08 * span, lo[1] - 0.08 * span, hi[0] + 0.08 * span, hi[1] + 0.03 * span]
    return boxes


# --------------------------------------------------------------------------------------------------
# Crop transforms


@dataclass(frozen=True)
class CropTransform:
    """Affine map image ``(x, y)`` -> input ``(x, y)``: ``q = matrix @ p + offset``.

    Attributes
    ----------
    matrix : (2, 2) float64 ndarray
    offset : (2,) float64 ndarray
    input_size : (int, int)
        ``(in_h, in_w)`` of the network input.
    """

    matrix: NDArray[np.float64]
    offset: NDArray[np.float64]
    input_size: tuple[int, int]

    def to_input(self, points_xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Map ``(..., 2)`` image points to input coordinates."""
        p = np.asarray(points_xy, dtype=np.float64)
        return p @ self.matrix.T + self.offset

    def to_image(self, points_xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Map ``(..., 2)`` input points back to image coordinates (exact inverse)."""
        q = np.asarray(points_xy, dtype=np.float64)
        return (q - self.offset) @ np.linalg.inv(self.matrix).T


def box_transform(
    box_xyxy: Sequence[float] | NDArray[np.float64],
    *,
    input_size: tuple[int, int],
    mode: FitMode = "stretch",
    rotation_deg: float = 0.0,
    flip: bool = False,
) -> CropTransform:
    """Transform that maps a box onto the network input.

    Parameters
    ----------
    box_xyxy : (4,) array_like
        ``(x0, y0, x1, y1)`` in image coordinates, ``x1 > x0``, ``y1 > y0``.
    input_size : (int, int)
        ``(in_h, in_w)``.
    mode : {"stretch", "letterbox"}
        ``"stretch"``: scale x and y separately so that the box fills the input exactly;
        ``"letterbox"``: one scale ``min(in_w / w, in_h / h)``, box centred (zero padding).
    rotation_deg : float
        Rotate the content about the box centre (positive = clockwise on screen, y down) before
        scaling, i.e. the box's axes turn with it (augmentation).
    flip : bool
        Mirror horizontally about the box centre.

    Returns
    -------
    CropTransform

    Notes
    -----
    ``q = S F R (p - c) + c_in`` with ``c`` the box centre, ``c_in = (in_w / 2, in_h / 2)``,
    ``R`` the rotation, ``F = diag(-1, 1)`` when flipping and ``S`` the scale(s). Box corners map to
    input corners in stretch mode (without rotation and flip).
    """
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box_xyxy, dtype=np.float64).reshape(4))
    in_h, in_w = int(input_size[0]), int(input_size[1])
    bw, bh = x1 - x0, y1 - y0
    if not (bw > 0 and bh > 0) or not np.isfinite([x0, y0, x1, y1]).all():
        raise ValueError(f"box must have positive finite size, got {box_xyxy}")
    if mode == "stretch":
        sx, sy = in_w / bw, in_h / bh
    elif mode == "letterbox":
        sx = sy = min(in_w / bw, in_h / bh)
    else:
        raise ValueError(f"mode must be 'stretch' or 'letterbox', got {mode!r}")
    a = np.radians(rotation_deg)
    # Rotating the content by -a about c aligns a box turned by +a with the input axes.
    rot = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    fl = np.diag([-1.0 if flip else 1.0, 1.0])
    m = np.diag([sx, sy]) @ fl @ rot
    c = np.array([0.5 * (x0 + x1), 0.5 * (y0 + y1)])
    c_in = np.array([0.5 * in_w, 0.5 * in_h])
    return CropTransform(m, c_in - m @ c, (in_h, in_w))


def warp_image(image: NDArray[np.uint8], transform: CropTransform, *, order: int = 1) -> NDArray[np.float32]:
    """Resample ``image`` onto the input grid of ``transform`` (zeros outside the image).

    Returns
    -------
    (in_h, in_w) float32 ndarray
        In the image's value range.
    """
    img = np.asarray(image)
    if img.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {img.shape}")
    in_h, in_w = transform.input_size
    jj, ii = np.meshgrid(np.arange(in_w) + 0.5, np.arange(in_h) + 0.5)
    q = np.stack([jj.ravel(), ii.ravel()], axis=1)
    p = transform.to_image(q)
    coords = np.stack([p[:, 1] - 0.5, p[:, 0] - 0.5])  # (row, col) indices of the sample points
    out = ndi.map_coordinates(img.astype(np.float32, copy=False), coords, order=order, mode="constant", cval=0.0)
    return out.reshape(in_h, in_w).astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------------
# Heatmaps


def encode_heatmaps(
    points_input_xy: NDArray[np.float64], *, heatmap_size: tuple[int, int], stride: float, sigma: float
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Gaussian target heatmaps for ``(K, 2)`` points given in input coordinates.

    Returns
    -------
    heatmaps : (K, h, w) float32 ndarray
        Peak 1 at the point (the Gaussian is not renormalised).
    weights : (K,) float32 ndarray
        1 for finite points whose grid position lies inside the heatmap, else 0 (all-zero map).
    """
    pts = np.asarray(points_input_xy, dtype=np.float64).reshape(-1, 2)
    h, w = int(heatmap_size[0]), int(heatmap_size[1])
    u = pts[:, 0] / stride - 0.5
    v = pts[:, 1] / stride - 0.5
    ok = np.isfinite(u) & np.isfinite(v) & (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
    uu = np.where(ok, u, 0.0)[:, None, None]
    vv = np.where(ok, v, 0.0)[:, None, None]
    jj = np.arange(w)[None, None, :]
    ii = np.arange(h)[None, :, None]
    maps = np.exp(-((jj - uu) ** 2 + (ii - vv) ** 2) / (2.0 * sigma * sigma))
    maps *= ok[:, None, None]
    return maps.astype(np.float32), ok.astype(np.float32)


def decode_heatmaps(
    heatmaps: NDArray[np.floating], *, stride: float, mode: DecodeMode = "dark", sigma: float = 2.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Peak of each heatmap, in input coordinates, with sub-cell refinement.

    Parameters
    ----------
    heatmaps : (N, K, h, w) or (K, h, w) float ndarray
    stride : float
        Input pixels per heatmap cell.
    mode : {"dark", "quarter", "argmax"}
        ``"argmax"``: the best cell; ``"quarter"``: plus a quarter cell toward the higher
        neighbour on each axis (the classic SimpleBaseline rule); ``"dark"``: second-order Taylor
        expansion of the log of the Gaussian-smoothed heatmap at the best cell (Zhang et al.,
        CVPR 2020), offset clipped to one cell.
    sigma : float
        Smoothing sigma (cells) for ``"dark"`` (the training sigma).

    Returns
    -------
    points_xy : (N, K, 2) or (K, 2) float64 ndarray
        Input coordinates ``((u + 0.5) s, (v + 0.5) s)``.
    scores : (N, K) or (K,) float64 ndarray
        Heatmap maxima.
    """
    hm = np.asarray(heatmaps, dtype=np.float64)
    single = hm.ndim == 3
    if single:
        hm = hm[None]
    if hm.ndim != 4:
        raise ValueError(f"heatmaps must be (N, K, h, w) or (K, h, w), got {hm.shape}")
    n, k, h, w = hm.shape
    flat = hm.reshape(n, k, -1)
    idx = flat.argmax(axis=2)
    scores = np.take_along_axis(flat, idx[:, :, None], axis=2)[:, :, 0]
    vi, ui = np.divmod(idx, w)
    u, v = ui.astype(np.float64), vi.astype(np.float64)
    if mode == "quarter":
        nn, kk = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")
        right = hm[nn, kk, vi, np.minimum(ui + 1, w - 1)]
        left = hm[nn, kk, vi, np.maximum(ui - 1, 0)]
        down = hm[nn, kk, np.minimum(vi + 1, h - 1), ui]
        up = hm[nn, kk, np.maximum(vi - 1, 0), ui]
        u += 0.25 * np.sign(right - left)
        v += 0.25 * np.sign(down - up)
    elif mode == "dark":
        sm = ndi.gaussian_filter(hm, sigma=(0, 0, sigma, sigma), mode="constant")
        lg = np.log(np.maximum(sm, 1e-10))
        pad = np.pad(lg, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
        nn, kk = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")
        pv, pu = vi + 1, ui + 1

        def at(dv: int, du: int) -> NDArray[np.float64]:
            return pad[nn, kk, pv + dv, pu + du]

        c = at(0, 0)
        dx = 0.5 * (at(0, 1) - at(0, -1))
        dy = 0.5 * (at(1, 0) - at(-1, 0))
        dxx = at(0, 1) - 2 * c + at(0, -1)
        dyy = at(1, 0) - 2 * c + at(-1, 0)
        dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
        det = dxx * dyy - dxy * dxy
        ok = (det > 1e-12) & (dxx < 0) & (dyy < 0)
        safe = np.where(ok, det, 1.0)
        off_u = -(dyy * dx - dxy * dy) / safe
        off_v = -(dxx * dy - dxy * dx) / safe
        u += np.where(ok, np.clip(off_u, -1.0, 1.0), 0.0)
        v += np.where(ok, np.clip(off_v, -1.0, 1.0), 0.0)
    elif mode != "argmax":
        raise ValueError(f"unknown decode mode {mode!r}")
    pts = np.stack([(u + 0.5) * stride, (v + 0.5) * stride], axis=-1)
    if single:
        return pts[0], scores[0]
    return pts, scores
