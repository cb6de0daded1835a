"""Joint lines and the greater trochanter from full-resolution mask boundaries (§5.8 [D]).

End points are sub-pixel: a parabola through the boundary columns near the extreme. Bottom edges
are ``max row + 1``, top edges ``min row``. Lines are directed as their metric uses them: femoral
joint line medial -> lateral, plateau lateral -> medial, plafond medial -> lateral. A landmark that
cannot be found comes back as ``None`` with the reason.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from inference.core.alignment.records import AlignmentOptions
from inference.core.alignment.sampling import _BoneMask, _LegContext
from inference.core.geometry import GeometryError, Line, acute_angle_between_deg, fit_line_ransac


def _extremum(xs: NDArray[np.float64], ys: NDArray[np.float64], *, lowest: bool, depth: float) -> NDArray[np.float64]:
    """Sub-pixel extreme point of a boundary sampled once per column (``xs`` ascending, unit steps).

    ``lowest=True`` maximises y (a bottom boundary), otherwise minimises it. A parabola is fitted to
    the contiguous run of columns within ``depth`` px of the extreme; when that is not possible the
    mean x of the tied extreme columns is used.
    """
    s = ys if lowest else -ys
    i_best = int(np.argmax(s))
    s_best = s[i_best]
    good = s >= s_best - depth
    breaks = np.concatenate([[True], (np.diff(xs) > 1.5) | ~good[1:] | ~good[:-1]])
    run = np.cumsum(breaks)
    sel = (run == run[i_best]) & good
    wx, ws = xs[sel], s[sel]
    tied = wx[ws == s_best]
    fallback = np.array([tied.mean(), ys[i_best]])
    if wx.size >= 5 and np.unique(ws).size >= 2:
        xc = wx.mean()
        a, b, c = np.polyfit(wx - xc, ws, 2)
        if a < 0:
            xv = -b / (2 * a)
            sv = c - b * b / (4 * a)
            if wx.min() - xc <= xv <= wx.max() - xc and abs(sv - s_best) <= 1.0:
                return np.array([xv + xc, sv if lowest else -sv])
    return fallback


def _bottom_boundary(mask: NDArray[np.bool_], r0: int, r1: int, col_lo: int) -> tuple[NDArray, NDArray]:
    """Per column of rows ``[r0, r1]``: x centre and bottom-edge y (``max row + 1``) where present."""
    sub = mask[r0 : r1 + 1]
    cols = np.flatnonzero(sub.any(axis=0))
    if cols.size == 0:  # an empty band (tiny or degenerate bone): callers turn this into a null + flag
        return np.empty(0), np.empty(0)
    last = sub.shape[0] - 1 - np.argmax(sub[::-1, cols], axis=0)
    return cols + col_lo + 0.5, (r0 + last + 1).astype(np.float64)


def _top_boundary(mask: NDArray[np.bool_], r0: int, r1: int, col_lo: int) -> tuple[NDArray, NDArray]:
    """Per column of rows ``[r0, r1]``: x centre and top-edge y (``min row``) where present."""
    sub = mask[r0 : r1 + 1]
    cols = np.flatnonzero(sub.any(axis=0))
    if cols.size == 0:
        return np.empty(0), np.empty(0)
    first = np.argmax(sub[:, cols], axis=0)
    return cols + col_lo + 0.5, (r0 + first).astype(np.float64)


def _tilt_from_perpendicular(line_dir: NDArray[np.float64], axis: NDArray[np.float64]) -> float:
    return 90.0 - float(acute_angle_between_deg(line_dir, axis))


def _femoral_joint_line(
    femur: _BoneMask, ctx: _LegContext, medial_sign: int
) -> tuple[Line | None, NDArray | None, str | None]:
    span = femur.rows_span
    if span is None:
        return None, None, "no femur pixels"
    top, low = span
    height = low - top + 1
    r0 = max(top, int(math.ceil(low + 1 - ctx.opts.distal_femur_band * height)))
    xs, bs = _bottom_boundary(femur.mask, r0, low, femur.col_lo)
    side = (xs - ctx.joints.knee_xy[0]) * medial_sign
    med, lat = side > 0, side < 0
    if med.sum() < 1 or lat.sum() < 1:
        return None, None, "distal femoral boundary does not reach both sides of the knee"
    pm = _extremum(xs[med], bs[med], lowest=True, depth=ctx.opts.extremum_depth_px)
    pl = _extremum(xs[lat], bs[lat], lowest=True, depth=ctx.opts.extremum_depth_px)
    if np.allclose(pm, pl):
        return None, None, "distal femoral joint line degenerate"
    line = Line(pm, pl - pm)  # medial -> lateral
    tilt = _tilt_from_perpendicular(line.direction_xy, ctx.joints.hip_xy - ctx.joints.knee_xy)
    if tilt > ctx.opts.max_joint_line_tilt_deg:
        return None, None, f"distal femoral joint line invalid (angle {tilt:.0f}° from perpendicular)"
    return line, np.vstack([pm, pl]), None


def _ransac_threshold(width_px: float, opts: AlignmentOptions) -> float:
    return max(opts.ransac_threshold_frac * width_px, 1.0)


def _plateau_line(tibia: _BoneMask, ctx: _LegContext, medial_sign: int) -> tuple[Line | None, str | None]:
    span = tibia.rows_span
    if span is None:
        return None, "no tibia pixels"
    top, low = span
    height = low - top + 1
    r1 = min(low, top + max(int(math.ceil(ctx.opts.plateau_band * height)) - 1, 0))
    xs, ts = _top_boundary(tibia.mask, top, r1, tibia.col_lo)
    if xs.size < 4:
        return None, "tibial plateau boundary too short"
    width = xs.max() - xs.min() + 1.0
    centre = 0.5 * (xs.max() + xs.min())
    keep = np.abs(xs - centre) >= 0.5 * ctx.opts.spine_exclusion * width
    if keep.sum() < 4:
        return None, "tibial plateau boundary too short"
    pts = np.column_stack([xs[keep], ts[keep]])
    try:
        fit = fit_line_ransac(
            pts,
            residual_threshold=_ransac_threshold(width, ctx.opts),
            max_trials=ctx.opts.ransac_trials,
            seed=ctx.opts.seed,
        )
    except GeometryError as exc:
        return None, f"tibial plateau line fit failed ({exc})"
    line = fit.line.oriented(np.array([medial_sign, 0.0]))  # lateral -> medial
    tilt = _tilt_from_perpendicular(line.direction_xy, ctx.joints.ankle_xy - ctx.joints.knee_xy)
    if tilt > ctx.opts.max_joint_line_tilt_deg:
        return None, f"tibial plateau line invalid (angle {tilt:.0f}° from perpendicular)"
    return line, None


def _plafond_line(tibia: _BoneMask, ctx: _LegContext, medial_sign: int) -> tuple[Line | None, str | None]:
    span = tibia.rows_span
    if span is None:
        return None, "no tibia pixels"
    top, low = span
    height = low - top + 1
    r0 = max(top, int(math.ceil(low + 1 - ctx.opts.plafond_band * height)))
    xs, bs = _bottom_boundary(tibia.mask, r0, low, tibia.col_lo)
    if xs.size < 4:
        return None, "plafond boundary too short"
    width = xs.max() - xs.min() + 1.0
    centre = 0.5 * (xs.max() + xs.min())
    keep = np.abs(xs - centre) <= 0.5 * ctx.opts.plafond_keep * width
    if keep.sum() < 4:
        return None, "plafond boundary too short"
    pts = np.column_stack([xs[keep], bs[keep]])
    try:
        fit = fit_line_ransac(
            pts,
            residual_threshold=_ransac_threshold(width, ctx.opts),
            max_trials=ctx.opts.ransac_trials,
            seed=ctx.opts.seed,
        )
    except GeometryError as exc:
        return None, f"plafond line fit failed ({exc})"
    line = fit.line.oriented(np.array([-medial_sign, 0.0]))  # medial -> lateral
    tilt = _tilt_from_perpendicular(line.direction_xy, ctx.joints.knee_xy - ctx.joints.ankle_xy)
    if tilt > ctx.opts.max_joint_line_tilt_deg:
        return None, f"plafond line invalid (angle {tilt:.0f}° from perpendicular)"
    return line, None


def _head_radius(femur: _BoneMask, hip: NDArray[np.float64], max_len: float) -> float | None:
    """Half the narrowest femur chord through the hip centre (36 directions, 0.5 px steps)."""
    mask = femur.mask
    h, w = mask.shape
    r0, c0 = int(math.floor(hip[1])), int(math.floor(hip[0])) - femur.col_lo
    if not (0 <= r0 < h and 0 <= c0 < w and mask[r0, c0]):
        return None
    theta = np.deg2rad(np.arange(0.0, 180.0, 5.0))
    dirs = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    steps = np.arange(0.5, max(max_len, 2.0), 0.5)
    half = []
    for sgn in (1.0, -1.0):
        px = hip[0] + sgn * dirs[:, 0, None] * steps[None, :]
        py = hip[1] + sgn * dirs[:, 1, None] * steps[None, :]
        cc = np.floor(px).astype(np.intp) - femur.col_lo
        rr = np.floor(py).astype(np.intp)
        inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        val = np.zeros(inside.shape, dtype=bool)
        val[inside] = mask[rr[inside], cc[inside]]
        out = ~val
        first_out = np.where(out.any(axis=1), np.argmax(out, axis=1), steps.size - 1)
        half.append(steps[first_out] - 0.25)
    chord = half[0] + half[1]
    return float(chord.min() / 2.0)


def _greater_trochanter(
    femur: _BoneMask, ctx: _LegContext, medial_sign: int
) -> tuple[NDArray | None, float | None, str | None]:
    hip, knee = ctx.joints.hip_xy, ctx.joints.knee_xy
    l_f = float(np.linalg.norm(hip - knee))
    radius = _head_radius(femur, hip, 0.25 * l_f)
    if radius is None:
        return None, None, "hip centre lies outside the femur mask"
    row_lim = hip[1] + ctx.opts.gt_row_limit_frac * l_f  # pixel centres y < row_lim
    r1 = int(math.ceil(row_lim - 0.5)) - 1
    mask = femur.mask
    xs_all = np.arange(mask.shape[1]) + femur.col_lo + 0.5
    # 10% margin: the head's own rim (pixelated, radius slightly under-estimated) must not qualify.
    lateral = (xs_all - hip[0]) * (-medial_sign) > ctx.opts.gt_radius_margin * radius
    r1 = min(r1, mask.shape[0] - 1)
    if r1 < 0 or not lateral.any():
        return None, radius, "greater trochanter not found"
    sub = mask[: r1 + 1][:, lateral]
    cols = np.flatnonzero(sub.any(axis=0))
    if cols.size == 0:
        return None, radius, "greater trochanter not found"
    first = np.argmax(sub[:, cols], axis=0)
    xs = xs_all[lateral][cols]
    tip = _extremum(xs, first.astype(np.float64), lowest=False, depth=ctx.opts.extremum_depth_px)
    return tip, radius, None
