"""Per-joint derivations: medial side, hip (femoral-head circle), knee (plateau) and ankle (plafond).

Steps 1-4 of the derivation described in :mod:`inference.core.joints_from_masks`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from inference.core.joints_from_masks.circles import fit_circle_ransac
from inference.core.joints_from_masks.masks import _frame, _row_axis
from inference.core.joints_from_masks.records import HipCircle

#: Elevation (degrees above the medial/lateral direction) of the support directions that find the
#: plateau rims; steeper than 45° so that a metaphysis flaring just below the rim is not taken.
_PLATEAU_SUPPORT_DEG = 60.0
#: Depression (degrees below the lateral direction) of the support direction that finds the
#: lateral end of the plafond; steep, so that a lateral cortex rising gently from the plafond (or a
#: metaphysis flaring above it) is not taken.
_PLAFOND_SUPPORT_DEG = 60.0


def _infer_medial_sign(femur: NDArray[np.bool_], k: float, b: float) -> tuple[int, float]:
    """Side (+1/-1) where the proximal femur reaches farther from the shaft axis, and the ratio."""
    rr, cc = np.nonzero(femur)
    top, bot = rr.min(), rr.max()
    sel = rr <= top + 0.2 * (bot - top + 1)
    off = (cc[sel] + 0.5) - (k * (rr[sel] + 0.5) + b)
    plus, minus = max(float(off.max()), 0.0), max(float(-off.min()), 0.0)
    sign = 1 if plus >= minus else -1
    ratio = max(plus, minus) / max(min(plus, minus), 1e-9)
    return sign, ratio


def _hip(
    femur: NDArray[np.bool_],
    outline: NDArray[np.float64],
    k: float,
    b: float,
    row_width: float,
    medial_sign: int,
    seed: int,
) -> tuple[HipCircle | None, float, list[str]]:
    flags: list[str] = []
    rr = np.flatnonzero(femur.any(axis=1))
    height = float(rr[-1] - rr[0] + 1)
    width_perp = row_width / np.hypot(k, 1.0)
    r0 = float(np.clip(0.83 * width_perp, 0.03 * height, 0.08 * height))
    off = medial_sign * (outline[:, 0] - (k * outline[:, 1] + b))
    medial = off > 0
    strong = off > 0.5 * r0
    if strong.sum() < 3:
        return None, r0, ["hip_no_medial_head"]
    y_head_top = float(outline[strong, 1].min())
    cand = outline[medial & (outline[:, 1] <= y_head_top + 2.6 * r0)]
    tol = max(1.0, 0.06 * r0)
    circle = fit_circle_ransac(cand, radius_range=(0.5 * r0, 1.8 * r0), inlier_tol=tol, seed=seed)
    if circle is None:
        return None, r0, ["hip_fit_failed"]
    if circle.n_inliers < 12:
        flags.append("hip_too_few_inliers")
    if circle.arc_deg < 150.0:
        flags.append("hip_arc_short")
    if not 0.5 * r0 <= circle.radius_px <= 1.8 * r0:
        flags.append("hip_radius_implausible")
    if not circle.rms_residual_px <= max(1.0, 0.1 * circle.radius_px):
        flags.append("hip_residual_high")
    if medial_sign * (circle.centre_xy[0] - (k * circle.centre_xy[1] + b)) <= 0:
        flags.append("hip_not_medial")
    return circle, r0, flags


def _knee(
    tibia: NDArray[np.bool_], outline: NDArray[np.float64], medial_sign: int
) -> tuple[NDArray[np.float64] | None, NDArray[np.float64] | None, float, list[str]]:
    axis = _row_axis(tibia, 0.15, 0.5)
    if axis is None:
        return None, None, np.nan, ["knee_no_axis"]
    k, b, _ = axis
    u, v = _frame(k, medial_sign)
    t = outline @ u
    t_top = t.min()
    rows = np.flatnonzero(tibia.any(axis=1))
    band = t <= t_top + 0.33 * (rows[-1] - rows[0] + 1)
    pts = outline[band]
    corners = []
    a = np.radians(_PLATEAU_SUPPORT_DEG)
    for sgn in (1.0, -1.0):  # medial, lateral
        d = sgn * np.cos(a) * v - np.sin(a) * u
        proj = pts @ d
        corners.append(pts[proj >= proj.max() - 0.5].mean(axis=0))
    c = np.vstack(corners)
    knee = c.mean(axis=0)
    chord = c[0] - c[1]
    width = float(np.hypot(*chord))
    if width <= 0:
        return None, None, np.nan, ["knee_corners_degenerate"]
    # Flatness of the plateau away from the spines: top boundary vs the chord.
    e = chord / width
    s = (pts - c[1]) @ e
    n = np.array([e[1], -e[0]])
    n = n if n @ u < 0 else -n  # proximal normal
    h = (pts - c[1]) @ n
    frac = s / width
    side = ((frac > 0.10) & (frac < 0.35)) | ((frac > 0.65) & (frac < 0.90))
    resid = float("nan")
    if side.any():
        bins = np.floor(s[side]).astype(np.intp)
        ub, inv = np.unique(bins, return_inverse=True)
        top_h = np.full(ub.size, -np.inf)
        np.maximum.at(top_h, inv, h[side])
        resid = float(np.mean(np.abs(top_h)))
    flags: list[str] = []
    if abs(float(np.degrees(np.arcsin(np.clip(abs(e @ u), 0, 1))))) > 30.0:
        flags.append("knee_plateau_tilted")
    return knee, c, resid, flags


def _ankle(
    tibia: NDArray[np.bool_], outline: NDArray[np.float64], medial_sign: int
) -> tuple[NDArray[np.float64] | None, NDArray[np.float64] | None, float, list[str]]:
    axis = _row_axis(tibia, 0.5, 0.85)
    if axis is None:
        return None, None, np.nan, ["ankle_no_axis"]
    k, b, _ = axis
    u, v = _frame(k, medial_sign)
    rows = np.flatnonzero(tibia.any(axis=1))
    length = float(rows[-1] - rows[0] + 1)
    t_all = outline @ u
    pts = outline[t_all >= t_all.max() - 0.12 * length]
    t, s = pts @ u, pts @ v
    width = float(s.max() - s.min())
    if width < 3 or len(pts) < 8:
        return None, None, np.nan, ["ankle_too_narrow"]
    # Lateral-distal corner and medial-distal extreme (malleolus tip or medial corner).
    b = np.radians(_PLAFOND_SUPPORT_DEG)
    d_lat, d_med = -np.cos(b) * v + np.sin(b) * u, (v + u) / np.sqrt(2.0)
    half = s.min() + 0.5 * width  # search each corner in its own half of the distal width
    p_lat = np.where(s <= half, pts @ d_lat, -np.inf)
    lat = pts[p_lat >= p_lat.max() - 0.5].mean(axis=0)
    p_med = np.where(s >= half, pts @ d_med, -np.inf)
    tip = pts[p_med >= p_med.max() - 0.5].mean(axis=0)
    s_l, t_l, s_m, t_m = float(lat @ v), float(lat @ u), float(tip @ v), float(tip @ u)
    if s_m - s_l < 0.3 * width:
        return None, None, np.nan, ["ankle_corners_degenerate"]
    # Bottom envelope between the two (outline points with no point more distal within half a
    # pixel along v: mirror-symmetric, no binning), and its height above the chord lat -> tip.
    between = (s > s_l) & (s < s_m)
    s_b, t_b = s[between], t[between]
    if s_b.size < 3:
        return None, None, np.nan, ["ankle_corners_degenerate"]
    near = np.abs(s_b[:, None] - s_b[None, :]) <= 0.5
    env = t_b >= np.where(near, t_b[None, :], -np.inf).max(axis=1) - 1e-9
    s_e, t_e = s_b[env], t_b[env]
    chord_t = t_l + (s_e - s_l) * (t_m - t_l) / (s_m - s_l)
    height = chord_t - t_e  # > 0: the envelope is proximal of the chord
    medial_half = s_e >= s_l + 0.5 * (s_m - s_l)
    flags: list[str] = []
    cand = np.where(medial_half, height, -np.inf)
    best = float(cand.max()) if cand.size else -np.inf
    if np.isfinite(best) and best > max(1.5, 0.05 * width):
        pick = cand >= best - 1e-6
        med_end = np.mean(s_e[pick]) * v + np.mean(t_e[pick]) * u  # inner corner of the malleolus
    else:
        med_end = tip  # no distinct malleolus: the medial-distal corner ends the plafond
    ends = np.vstack([lat, med_end])
    span = float((med_end - lat) @ v)
    if span < 0.4 * width:
        flags.append("ankle_plafond_short")
    chord = med_end - lat
    if abs(float(chord @ u)) > np.sin(np.radians(30.0)) * float(np.hypot(*chord)):
        flags.append("ankle_plafond_tilted")
    # Residual: envelope about the plafond chord between its ends.
    resid = float("nan")
    if span > 0:
        sel = s_e <= s_l + span
        if sel.any():
            line_t = t_l + (s_e[sel] - s_l) * float(chord @ u) / span
            resid = float(np.sqrt(np.mean((t_e[sel] - line_t) ** 2)))
    return ends.mean(axis=0), ends, resid, flags
