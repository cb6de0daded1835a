"""Hip, knee and ankle centres derived from femur/tibia label maps.

This module defines the **key-point training truth** for data that have bone outlines but no joint
annotations (the OAI long-leg crops): every joint below is a deterministic function of the label
map. Conventions follow :mod:`inference.core.legs` (image ``(x, y)`` pixels, pixel ``[r, c]``
centred at ``(c + 0.5, r + 0.5)``; labels 0 background, 1 femur, 2 tibia; joint order hip, knee,
ankle).

Derivation (per leg)
--------------------
0. **Leg split.** Bone pixels (femur or tibia) left of ``x_mid`` belong to the image-left leg.
   Without ``x_mid``, the widest run of empty columns strictly between the outermost bone columns
   splits the legs when both sides hold at least ``min_leg_fraction`` of the bone pixels; with
   ``n_legs=2`` and no such gap, the 1-D 2-means boundary of the bone pixel columns is used. Legs
   are ordered left to right. In each leg the largest 8-connected femur and tibia components are
   kept. All boundaries are the sub-pixel iso-line 0.5 of the binary mask
   (:func:`skimage.measure.find_contours`), which lies half-way between inside and outside pixel
   centres, i.e. on the outline that was rasterised.
1. **Axes and medial side.** The femoral shaft axis is the least-squares line ``x = k y + b``
   through the row centroids of the femur between 30 % and 70 % of its height; the proximal and
   distal tibial axes likewise through 15-50 % and 50-85 % of the tibia's height. "Medial" is toward
   the other leg (image-left leg: +x). For a single leg it is ``medial_sign`` when given, otherwise
   the side where the proximal 20 % of the femur reaches farther from the extrapolated shaft axis
   (the head and neck reach about three head radii medially, the greater trochanter less than one
   laterally); the leg is flagged ``medial_side_inferred``.
2. **Hip = femoral-head centre.** Head-radius prior ``r0 = 0.83 x`` the perpendicular shaft width
   (adult and phantom femora: head radius ≈ 0.8-0.85 shaft width), clipped to 3-8 % of the femur
   height. Candidate boundary: femur outline points medial of the shaft axis and less than
   ``2.6 r0`` below the top of the medial part (the head is the most proximal medial structure).
   A circle is fitted by RANSAC over 3-point circumcircles (radius in ``[0.5, 1.8] r0``; inlier
   band ``max(1 px, 0.06 r0)``; deterministic seed), then refined by a geometric (orthogonal
   distance) least-squares fit on the inliers with two re-selections of the inliers. The hip is the
   circle centre. It is valid when the inliers span at least 150° of arc, number at least 12, the
   radius is within ``[0.5, 1.8] r0`` and the RMS residual is at most ``max(1 px, 0.1 r)``.
3. **Knee = tibial-plateau centre.** In the frame of the proximal tibial axis ``u`` (distal) and
   ``v`` (medial), the medial and lateral plateau corners are the support points of the proximal
   tibial outline in the diagonal directions ``(v - u)/√2`` and ``(-v - u)/√2`` (mean of the points
   within 0.5 px of the maximum): for a plateau tilted less than 45° against the axis these are the
   rim points where the articular surface meets the medial and lateral cortices, and the tibial
   spines (which rise between them) do not move them. The knee is the midpoint of the two corners
   (on the chord between the rims, at plateau level). Residual: mean absolute distance of the
   plateau top boundary (10-35 % and 65-90 % of the corner-to-corner width, i.e. away from the
   spines) from the chord.
4. **Ankle = tibial-plafond centre.** In the frame of the distal tibial axis, the bottom profile of
   the distal 12 % of the tibia's outline is taken in 1-px bins across its full width ``W`` (which
   includes the medial malleolus). A line (two rounds of 2.5-MAD trimming) is fitted to the profile
   over the central 60 % of ``W``; the articular surface extends from the centre of that band, in
   both directions, over the consecutive bins whose profile stays within ``max(1 px, 0.02 W)`` of the
   line: laterally it ends at the lateral cortex, medially where the malleolus drops below the
   plafond. The ankle is the point of the line at the middle of that extent. If the extent covers
   less than 40 % of ``W`` the middle of the central band is used and the joint is flagged.
   Residual: RMS of the profile about the line inside the extent.

The joints of a leg must satisfy ``hip_y < knee_y < ankle_y``; otherwise all three are flagged.
Invalid joints are NaN in :func:`derive_joints` and in :attr:`JointDerivation.joints_xy`; the
computed value (when there is one) stays in :attr:`LegJointDerivation.raw_joints_xy` for
inspection.

Accuracy (``benchmarks/joints_from_masks.py``: 30 single-leg and 20 bilateral phantoms of
:mod:`inference.core.phantom`, 70 legs, exact construction truth): median error hip / knee / ankle
0.16 / 0.37 / 0.52 px, 95th percentile 0.24 / 0.70 / 0.97 px, no leg flagged. One knee was off by
13 px: when the phantom's proximal tibial block is shifted sideways, its convex hull can swallow
one end of the constructed plateau, so the rim seen in the mask is not the constructed plateau end
(the spines still mark the centre). On the 242 OAI crops the hip circle has a median radius of
19.6 px (5.3 % of the femur height), RMS residual 0.36-0.75 px and a median arc of 277°; one image
(an unusually drawn head outline, 129° of arc) is flagged ``hip_arc_short``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi
from scipy.optimize import least_squares
from skimage.measure import find_contours

from inference.core.legs import FEMUR, TIBIA, ImageSide

logger = logging.getLogger(__name__)

__all__ = [
    "HipCircle",
    "JointDerivation",
    "LegJointDerivation",
    "derive_joints",
    "derive_joints_detailed",
    "fit_circle_algebraic",
    "fit_circle_ransac",
    "split_legs",
]

_EIGHT = ndi.generate_binary_structure(2, 2)
_NAN2 = np.array([np.nan, np.nan])
#: Elevation (degrees above the medial/lateral direction) of the support directions that find the
#: plateau rims; steeper than 45° so that a metaphysis flaring just below the rim is not taken.
_PLATEAU_SUPPORT_DEG = 60.0
#: Depression (degrees below the lateral direction) of the support direction that finds the
#: lateral end of the plafond; steep, so that a lateral cortex rising gently from the plafond (or a
#: metaphysis flaring above it) is not taken.
_PLAFOND_SUPPORT_DEG = 60.0


# --------------------------------------------------------------------------------------------------
# Result records


@dataclass(frozen=True)
class HipCircle:
    """A circle fitted to the femoral-head outline.

    Attributes
    ----------
    centre_xy : (2,) float64 ndarray
    radius_px : float
    rms_residual_px : float
        RMS of ``|p - c| - r`` over the inliers.
    n_inliers : int
    arc_deg : float
        Angular span covered by the inliers (360 minus the largest angular gap).
    """

    centre_xy: NDArray[np.float64]
    radius_px: float
    rms_residual_px: float
    n_inliers: int
    arc_deg: float


@dataclass(frozen=True)
class LegJointDerivation:
    """Joints of one leg with their quality figures.

    Attributes
    ----------
    joints_xy : (3, 2) float64 ndarray
        Hip, knee, ankle; NaN where not valid.
    raw_joints_xy : (3, 2) float64 ndarray
        The computed values before validation (NaN only where nothing could be computed).
    valid : (3,) bool ndarray
    residuals_px : (3,) float64 ndarray
        Hip: RMS circle residual; knee: plateau flatness about the rim chord; ankle: RMS plafond
        profile residual (NaN where not computed).
    image_side : {"left", "right"}
    medial_sign : int
        +1 when medial is +x, -1 when -x.
    box_xyxy : (4,) float64 ndarray
        Tight box of the leg's bone pixels (pixel edges), NaN when the leg has no bone.
    hip_circle : HipCircle or None
    plateau_corners_xy : (2, 2) float64 ndarray or None
        Medial and lateral plateau corners.
    plafond_ends_xy : (2, 2) float64 ndarray or None
        Lateral and medial ends of the plafond.
    flags : tuple of str
    """

    joints_xy: NDArray[np.float64]
    raw_joints_xy: NDArray[np.float64]
    valid: NDArray[np.bool_]
    residuals_px: NDArray[np.float64]
    image_side: ImageSide
    medial_sign: int
    box_xyxy: NDArray[np.float64]
    hip_circle: HipCircle | None
    plateau_corners_xy: NDArray[np.float64] | None
    plafond_ends_xy: NDArray[np.float64] | None
    flags: tuple[str, ...]


@dataclass(frozen=True)
class JointDerivation:
    """Joints of every leg of a label map, ordered left to right in the image.

    Attributes
    ----------
    legs : tuple of LegJointDerivation
    x_mid : float or None
        The leg boundary used (None for one leg).
    split_source : {"given", "gap", "two_means", "single"}
    """

    legs: tuple[LegJointDerivation, ...]
    x_mid: float | None
    split_source: str

    @property
    def n_legs(self) -> int:
        return len(self.legs)

    @property
    def joints_xy(self) -> NDArray[np.float64]:
        """``(n_legs, 3, 2)`` hip, knee, ankle; NaN where not valid."""
        if not self.legs:
            return np.zeros((0, 3, 2))
        return np.stack([leg.joints_xy for leg in self.legs])

    @property
    def valid(self) -> NDArray[np.bool_]:
        """``(n_legs, 3)`` validity of each joint."""
        if not self.legs:
            return np.zeros((0, 3), dtype=bool)
        return np.stack([leg.valid for leg in self.legs])

    @property
    def residuals_px(self) -> NDArray[np.float64]:
        """``(n_legs, 3)`` per-joint residuals (see :class:`LegJointDerivation`)."""
        if not self.legs:
            return np.zeros((0, 3))
        return np.stack([leg.residuals_px for leg in self.legs])

    @property
    def leg_boxes_xyxy(self) -> NDArray[np.float64]:
        """``(n_legs, 4)`` tight bone boxes ``(x0, y0, x1, y1)`` on pixel edges."""
        if not self.legs:
            return np.zeros((0, 4))
        return np.stack([leg.box_xyxy for leg in self.legs])

    @property
    def all_valid(self) -> bool:
        return bool(self.legs) and bool(self.valid.all())


# --------------------------------------------------------------------------------------------------
# Circle fits


def _check_points(
    points_xy: NDArray[np.float64], *, name: str = "points_xy", min_points: int = 1
) -> NDArray[np.float64]:
    pts = np.asarray(points_xy, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"{name} must be an (N, 2) array of (x, y), got shape {pts.shape}")
    if len(pts) < min_points:
        raise ValueError(f"{name} needs at least {min_points} points, got {len(pts)}")
    if not np.all(np.isfinite(pts)):
        raise ValueError(f"{name} contains non-finite values")
    return pts


def fit_circle_algebraic(points_xy: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """Kåsa algebraic circle fit.

    Parameters
    ----------
    points_xy : (N, 2) float64 ndarray
        N >= 3 points in image ``(x, y)``.

    Returns
    -------
    centre_xy : (2,) float64 ndarray
    radius : float

    Raises
    ------
    ValueError
        Fewer than 3 points or collinear points.

    Notes
    -----
    Solves ``x² + y² + D x + E y + F = 0`` in the least-squares sense (on centred coordinates);
    centre ``(-D/2, -E/2)``, radius ``sqrt(D²/4 + E²/4 - F)``. Exact for points on a circle.
    """
    pts = _check_points(points_xy, min_points=3)
    mean = pts.mean(axis=0)
    q = pts - mean
    a = np.column_stack([q, np.ones(len(q))])
    rhs = -(q**2).sum(axis=1)
    sol, _, rank, _ = np.linalg.lstsq(a, rhs, rcond=None)
    if rank < 3:
        raise ValueError("points are collinear; no circle")
    d, e, f = sol
    r2 = 0.25 * (d * d + e * e) - f
    if not r2 > 0:
        raise ValueError("degenerate circle fit")
    return mean + np.array([-0.5 * d, -0.5 * e]), float(np.sqrt(r2))


def _fit_circle_geometric(
    pts: NDArray[np.float64], c0: NDArray[np.float64], r0: float
) -> tuple[NDArray[np.float64], float]:
    def resid(p: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.hypot(pts[:, 0] - p[0], pts[:, 1] - p[1]) - p[2]

    def jac(p: NDArray[np.float64]) -> NDArray[np.float64]:
        d = np.maximum(np.hypot(pts[:, 0] - p[0], pts[:, 1] - p[1]), 1e-12)
        return np.column_stack([-(pts[:, 0] - p[0]) / d, -(pts[:, 1] - p[1]) / d, -np.ones(len(pts))])

    sol = least_squares(resid, np.array([c0[0], c0[1], r0]), jac=jac, method="lm")
    return sol.x[:2].copy(), float(abs(sol.x[2]))


def _arc_span_deg(pts: NDArray[np.float64], centre: NDArray[np.float64]) -> float:
    if len(pts) < 2:
        return 0.0
    ang = np.sort(np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0]))
    gaps = np.diff(np.concatenate([ang, ang[:1] + 2 * np.pi]))
    return float(np.degrees(2 * np.pi - gaps.max()))


def fit_circle_ransac(
    points_xy: NDArray[np.float64],
    *,
    radius_range: tuple[float, float],
    inlier_tol: float,
    n_trials: int = 600,
    seed: int = 0,
) -> HipCircle | None:
    """Robust circle: RANSAC over circumcircles, then geometric least squares on the inliers.

    Parameters
    ----------
    points_xy : (N, 2) float64 ndarray
        Candidate boundary points.
    radius_range : (float, float)
        Accepted radii ``[r_min, r_max]`` (px) for hypotheses.
    inlier_tol : float
        A point is an inlier when ``||p - c| - r| <= inlier_tol``.
    n_trials : int
        Number of random 3-point hypotheses (all drawn at once, vectorised).
    seed : int
        Seed of the sampler (the result is deterministic).

    Returns
    -------
    HipCircle or None
        None when fewer than 3 points or no hypothesis has a radius in range.

    Notes
    -----
    Score = number of inliers. The best hypothesis' inliers are refined by an orthogonal-distance
    fit (Levenberg-Marquardt from the Kåsa estimate), re-selecting inliers twice.
    """
    pts = _check_points(points_xy, min_points=1)
    n = len(pts)
    if n < 3:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_trials, 3))  # repeated indices give d = 0 and are dropped
    a, b, c = pts[idx[:, 0]], pts[idx[:, 1]], pts[idx[:, 2]]
    # Circumcircle of each triple.
    d = 2.0 * (a[:, 0] * (b[:, 1] - c[:, 1]) + b[:, 0] * (c[:, 1] - a[:, 1]) + c[:, 0] * (a[:, 1] - b[:, 1]))
    ok = np.abs(d) > 1e-9
    d = np.where(ok, d, 1.0)
    a2, b2, c2 = (a**2).sum(1), (b**2).sum(1), (c**2).sum(1)
    ux = (a2 * (b[:, 1] - c[:, 1]) + b2 * (c[:, 1] - a[:, 1]) + c2 * (a[:, 1] - b[:, 1])) / d
    uy = (a2 * (c[:, 0] - b[:, 0]) + b2 * (a[:, 0] - c[:, 0]) + c2 * (b[:, 0] - a[:, 0])) / d
    rr = np.hypot(a[:, 0] - ux, a[:, 1] - uy)
    ok &= (rr >= radius_range[0]) & (rr <= radius_range[1])
    if not ok.any():
        return None
    ux, uy, rr = ux[ok], uy[ok], rr[ok]
    res = np.abs(np.hypot(pts[None, :, 0] - ux[:, None], pts[None, :, 1] - uy[:, None]) - rr[:, None])
    score = (res <= inlier_tol).sum(axis=1)
    best = int(np.argmax(score))
    inl = res[best] <= inlier_tol
    centre, radius = np.array([ux[best], uy[best]]), float(rr[best])
    for _ in range(3):
        if inl.sum() < 3:
            break
        try:
            c0, r_init = fit_circle_algebraic(pts[inl])
        except ValueError:
            c0, r_init = centre, radius
        centre, radius = _fit_circle_geometric(pts[inl], c0, r_init)
        inl = np.abs(np.hypot(pts[:, 0] - centre[0], pts[:, 1] - centre[1]) - radius) <= inlier_tol
    r_in = np.hypot(pts[inl, 0] - centre[0], pts[inl, 1] - centre[1]) - radius
    rms = float(np.sqrt(np.mean(r_in**2))) if inl.any() else float("nan")
    return HipCircle(centre, radius, rms, int(inl.sum()), _arc_span_deg(pts[inl], centre))


# --------------------------------------------------------------------------------------------------
# Mask helpers


def _largest_component(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    labels, n = ndi.label(mask, structure=_EIGHT)
    if n <= 1:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def _outline_xy(mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Sub-pixel outer outline (iso-line 0.5) of a binary mask as ``(N, 2)`` image ``(x, y)``."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return np.zeros((0, 2))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    sub = np.pad(mask[r0:r1, c0:c1], 1).astype(np.float32)
    contours = find_contours(sub, 0.5)
    ring = max(contours, key=len)
    return np.column_stack([ring[:, 1] - 1 + c0 + 0.5, ring[:, 0] - 1 + r0 + 0.5])


def _row_axis(mask: NDArray[np.bool_], lo_frac: float, hi_frac: float) -> tuple[float, float, float] | None:
    """Least-squares ``x = k y + b`` through the row centroids between two height fractions.

    Returns ``(k, b, mean_row_width)`` or None.
    """
    rr, cc = np.nonzero(mask)
    if rr.size == 0:
        return None
    top, bot = rr.min(), rr.max()
    h = bot - top + 1
    lo, hi = top + lo_frac * h, top + hi_frac * h
    sel = (rr >= lo) & (rr <= hi)
    if sel.sum() == 0:
        return None
    r_sel, c_sel = rr[sel], cc[sel]
    uniq, inv, counts = np.unique(r_sel, return_inverse=True, return_counts=True)
    if uniq.size < 3:
        return None
    xc = np.bincount(inv, weights=c_sel + 0.5) / counts
    yc = uniq + 0.5
    k, b = np.polyfit(yc, xc, 1)
    return float(k), float(b), float(counts.mean())


def _frame(k: float, medial_sign: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Unit axis ``u`` (pointing distally) and unit ``v`` (pointing medially) of ``x = k y + b``."""
    u = np.array([k, 1.0]) / np.hypot(k, 1.0)
    v = np.array([u[1], -u[0]]) * medial_sign
    return u, v


# --------------------------------------------------------------------------------------------------
# Leg split


def split_legs(
    label_map: NDArray[np.integer],
    *,
    n_legs: int | None = None,
    x_mid: float | None = None,
    min_leg_fraction: float = 0.1,
) -> tuple[int, float | None, str]:
    """Decide how many legs a label map holds and where they split.

    Parameters
    ----------
    label_map : (H, W) integer ndarray
        0 background, 1 femur, 2 tibia.
    n_legs : {1, 2}, optional
        Force the number of legs.
    x_mid : float, optional
        Force the boundary (image x); with ``n_legs`` None, two legs when both sides hold at least
        ``min_leg_fraction`` of the bone pixels.
    min_leg_fraction : float
        Smallest share of the bone pixels a leg must hold.

    Returns
    -------
    (n_legs, x_mid, source)
        ``x_mid`` None for one leg; ``source`` in ``{"given", "gap", "two_means", "single"}``;
        ``n_legs`` is 0 for a label map without bone (unless forced).
    """
    lm = np.asarray(label_map)
    if lm.ndim != 2:
        raise ValueError(f"label_map must be 2-D, got shape {lm.shape}")
    if n_legs not in (None, 1, 2):
        raise ValueError(f"n_legs must be 1, 2 or None, got {n_legs}")
    bone = (lm == FEMUR) | (lm == TIBIA)
    col_counts = bone.sum(axis=0).astype(np.float64)
    total = col_counts.sum()
    centres = np.arange(lm.shape[1]) + 0.5
    if total == 0:
        if n_legs == 2:
            return (
                2,
                float(x_mid) if x_mid is not None else lm.shape[1] / 2.0,
                "given" if x_mid is not None else "two_means",
            )
        return (n_legs or 0), None, "single"
    if n_legs == 1:
        return 1, None, "single"
    if x_mid is not None:
        left_share = col_counts[centres < x_mid].sum() / total
        if n_legs == 2 or min(left_share, 1 - left_share) >= min_leg_fraction:
            return 2, float(x_mid), "given"
        return 1, None, "single"
    occupied = np.flatnonzero(col_counts > 0)
    first, last = occupied[0], occupied[-1]
    empty = col_counts[first : last + 1] == 0
    best: tuple[int, float] | None = None
    if empty.any():
        padded = np.concatenate([[0], empty.astype(np.int8), [0]])
        starts = np.flatnonzero(np.diff(padded) == 1)
        ends = np.flatnonzero(np.diff(padded) == -1)
        cum = np.cumsum(col_counts[first : last + 1])
        for s, e in sorted(zip(starts, ends, strict=True), key=lambda t: -(t[1] - t[0])):
            left_share = cum[s - 1] / total if s > 0 else 0.0
            if min(left_share, 1 - left_share) >= min_leg_fraction:
                best = (int(e - s), float(first + 0.5 * (s + e)))
                break
    if best is not None:
        return 2, best[1], "gap"
    if n_legs == 2:
        # Weighted exact 2-means on the column histogram.
        w, x = col_counts[occupied], centres[occupied]
        cw, cwx, cwx2 = np.cumsum(w), np.cumsum(w * x), np.cumsum(w * x * x)
        i = np.arange(1, x.size)
        if i.size == 0:
            return 2, float(x[0]), "two_means"
        sse_lo = cwx2[i - 1] - cwx[i - 1] ** 2 / cw[i - 1]
        w_hi = cw[-1] - cw[i - 1]
        sse_hi = (cwx2[-1] - cwx2[i - 1]) - (cwx[-1] - cwx[i - 1]) ** 2 / w_hi
        j = int(i[np.argmin(sse_lo + sse_hi)])
        m_lo = cwx[j - 1] / cw[j - 1]
        m_hi = (cwx[-1] - cwx[j - 1]) / (cw[-1] - cw[j - 1])
        return 2, float(0.5 * (m_lo + m_hi)), "two_means"
    return 1, None, "single"


# --------------------------------------------------------------------------------------------------
# Per-joint derivations


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


# --------------------------------------------------------------------------------------------------
# Public API


def _derive_leg(
    femur: NDArray[np.bool_],
    tibia: NDArray[np.bool_],
    *,
    image_side: ImageSide,
    medial_sign: int | None,
    seed: int,
    width: int,
) -> LegJointDerivation:
    flags: list[str] = []
    raw = np.full((3, 2), np.nan)
    resid = np.full(3, np.nan)
    valid = np.zeros(3, dtype=bool)
    bone = femur | tibia
    if bone.any():
        rows = np.flatnonzero(bone.any(axis=1))
        cols = np.flatnonzero(bone.any(axis=0))
        box = np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float64)
    else:
        box = np.full(4, np.nan)
    femur = _largest_component(femur) if femur.any() else femur
    tibia = _largest_component(tibia) if tibia.any() else tibia
    msign = medial_sign
    circle = None
    corners = ends = None
    femur_ok = femur.sum() >= 50 and np.ptp(np.flatnonzero(femur.any(axis=1))) >= 20 if femur.any() else False
    tibia_ok = tibia.sum() >= 50 and np.ptp(np.flatnonzero(tibia.any(axis=1))) >= 20 if tibia.any() else False
    axis = _row_axis(femur, 0.3, 0.7) if femur_ok else None
    if msign is None:
        if axis is not None:
            msign, ratio = _infer_medial_sign(femur, axis[0], axis[1])
            flags.append("medial_side_inferred")
            if ratio < 1.3:
                flags.append("medial_side_uncertain")
        else:
            msign = 1 if image_side == "left" else -1
            flags.append("medial_side_assumed")
    hip_flags: list[str] = []
    if not femur_ok:
        flags.append("no_femur")
    elif axis is None:
        flags.append("hip_no_axis")
    else:
        outline = _outline_xy(femur)
        circle, _, hip_flags = _hip(femur, outline, axis[0], axis[1], axis[2], msign, seed)
        flags.extend(hip_flags)
        if circle is not None:
            raw[0] = circle.centre_xy
            resid[0] = circle.rms_residual_px
            valid[0] = not hip_flags
    if not tibia_ok:
        flags.append("no_tibia")
    else:
        outline_t = _outline_xy(tibia)
        knee, corners, resid[1], kflags = _knee(tibia, outline_t, msign)
        flags.extend(kflags)
        if knee is not None:
            raw[1] = knee
            valid[1] = not kflags
        ankle, ends, resid[2], aflags = _ankle(tibia, outline_t, msign)
        flags.extend(aflags)
        if ankle is not None:
            raw[2] = ankle
            valid[2] = not aflags
    if valid.all() and not (raw[0, 1] < raw[1, 1] < raw[2, 1]):
        flags.append("joint_order_invalid")
        valid[:] = False
    joints = np.where(valid[:, None], raw, np.nan)
    return LegJointDerivation(
        joints_xy=joints,
        raw_joints_xy=raw,
        valid=valid,
        residuals_px=resid,
        image_side=image_side,
        medial_sign=int(msign),
        box_xyxy=box,
        hip_circle=circle,
        plateau_corners_xy=corners,
        plafond_ends_xy=ends,
        flags=tuple(flags),
    )


def derive_joints_detailed(
    label_map: NDArray[np.integer],
    *,
    n_legs: int | None = None,
    x_mid: float | None = None,
    medial_sign: Literal[1, -1] | None = None,
    seed: int = 0,
) -> JointDerivation:
    """Derive hip, knee and ankle of every leg from a femur/tibia label map, with quality figures.

    Parameters
    ----------
    label_map : (H, W) integer ndarray
        0 background, 1 femur, 2 tibia.
    n_legs : {1, 2}, optional
        Number of legs; default: detected from the column gap between the legs (see module notes).
    x_mid : float, optional
        Leg boundary (image x) for two legs.
    medial_sign : {+1, -1}, optional
        Medial direction along x for a **single** leg (+1: medial is +x, e.g. the patient's right leg
        on a standard AP view). Default: inferred from the proximal femur. Ignored for two legs,
        whose medial side is toward the other leg.
    seed : int
        Seed of the RANSAC sampler.

    Returns
    -------
    JointDerivation
        Legs ordered left to right; never raises for degenerate masks (they are flagged).

    Raises
    ------
    ValueError
        If ``label_map`` is not 2-D or an option is out of range.
    """
    lm = np.asarray(label_map)
    if medial_sign not in (None, 1, -1):
        raise ValueError(f"medial_sign must be +1, -1 or None, got {medial_sign}")
    count, mid, source = split_legs(lm, n_legs=n_legs, x_mid=x_mid)
    h, w = lm.shape
    femur_all, tibia_all = lm == FEMUR, lm == TIBIA
    legs: list[LegJointDerivation] = []
    if count == 1:
        bone_cols = np.flatnonzero((femur_all | tibia_all).any(axis=0))
        cx = 0.5 * (bone_cols[0] + bone_cols[-1] + 1) if bone_cols.size else w / 2.0
        side: ImageSide = "left" if cx < w / 2.0 else "right"
        legs.append(_derive_leg(femur_all, tibia_all, image_side=side, medial_sign=medial_sign, seed=seed, width=w))
    elif count == 2:
        assert mid is not None
        left_cols = (np.arange(w) + 0.5) < mid
        for i, (cols, side2) in enumerate(((left_cols, "left"), (~left_cols, "right"))):
            f = femur_all & cols[None, :]
            t = tibia_all & cols[None, :]
            legs.append(
                _derive_leg(f, t, image_side=side2, medial_sign=1 if i == 0 else -1, seed=seed, width=w)  # type: ignore[arg-type]
            )
    return JointDerivation(tuple(legs), mid if count == 2 else None, source)


def derive_joints(
    label_map: NDArray[np.integer],
    *,
    n_legs: int | None = None,
    x_mid: float | None = None,
    medial_sign: Literal[1, -1] | None = None,
) -> NDArray[np.float64]:
    """Hip, knee and ankle of every leg of a label map, legs ordered left to right.

    Parameters
    ----------
    label_map : (H, W) integer ndarray
        0 background, 1 femur, 2 tibia.
    n_legs : {1, 2}, optional
        Number of legs (default: detected).
    x_mid : float, optional
        Leg boundary for two legs.
    medial_sign : {+1, -1}, optional
        Medial direction of a single leg (default inferred).

    Returns
    -------
    (n_legs, 3, 2) float64 ndarray
        Image ``(x, y)``; NaN for joints that failed validation (see
        :func:`derive_joints_detailed` for the reasons).

    Examples
    --------
    >>> import numpy as np
    >>> derive_joints(np.zeros((64, 32), np.uint8)).shape
    (0, 3, 2)
    """
    return derive_joints_detailed(label_map, n_legs=n_legs, x_mid=x_mid, medial_sign=medial_sign).joints_xy
