"""Synthetic AP long-leg radiographs with exact construction truth.

Every bone is built from primitives whose geometry fixes the alignment angles (conventions of
:mod:`inference.core.legs` and :mod:`inference.core.geometry`; metric definitions of
:mod:`inference.core.alignment`):

* **Femur**: head circle centred on the hip H; neck band from the neck/shaft crossing X to H at the
  chosen NSA against the proximal shaft axis; proximal and distal shaft bands meeting at the femoral
  CORA (optional angulation); a distal metaphysis that is symmetric about the distal shaft axis; two
  equal condyle circles whose common lower tangent is the distal femoral joint line, built at the
  chosen mLDFA against ``H - N``; a greater-trochanter cap whose top is the GT tip.
* **Tibia**: a flat plateau through the knee N (plateau centre) at the chosen MPTA, with two small
  spines in the middle; proximal and distal shaft bands meeting at the tibial CORA (optional); a flat
  plafond centred on the ankle A at the chosen mLDTA; a medial malleolus.
* Image-only structures: fibula, patella, pelvis, soft tissue, noise (``low_snr`` for a noisy,
  low-contrast variant). Legs may differ in length.

Shapes are signed-distance functions; the LabelMe polygons are their zero contours
(``skimage.measure.find_contours`` on pixel centres, simplified to 0.1 px), and the label map is those
polygons filled with the pixel-centre rule, exactly as :mod:`inference.core.labelme_alignment` fills
them. The CORA of a bone is placed at the distance from the reference point that separates the
alignment's proximal and distal shaft sets, so the §5.4/5.5 fits see straight segments.

Truth (``Phantom.truth``) follows the alignment JSON contract; every metric has
``value`` = constructed value, ``sd`` 0 and ``p2_5 = p97_5 = value``. ``pixel_spacing_mm`` is null
there (MAD in px, like an alignment of the LabelMe document without spacing); the spacing used for
the construction is :attr:`Phantom.pixel_spacing_mm`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.optimize import brentq
from skimage.measure import approximate_polygon, find_contours

from inference.core.alignment import (
    AlignmentOptions,
    AlignmentResult,
    LegAlignment,
    MetricValue,
    hka_deviation_deg,
)
from inference.core.geometry import Line, angle_between_deg, rotate_deg, unit
from inference.core.labelme_alignment import rasterize_polygons
from inference.core.legs import FEMUR, TIBIA, AnatomicalSide, LegJoints

__all__ = [
    "DEMO_PER_KIND",
    "DEMO_REVIEW_PER_KIND",
    "DEMO_REVIEW_SEED",
    "DEMO_SEED",
    "LegParams",
    "Phantom",
    "PhantomParams",
    "generate_phantom",
    "random_phantom_params",
    "write_phantom_set",
]

LABELME_VERSION = "5.2.1"
#: The phantoms ``manage.py demo`` seeds and ``benchmarks/demo_phantoms.py`` measures: per kind (bilateral,
#: single leg), ``DEMO_PER_KIND`` with their outlines (seed ``DEMO_SEED + legs``) and ``DEMO_REVIEW_PER_KIND``
#: as images only, to review (seed ``DEMO_REVIEW_SEED + legs``).
DEMO_SEED, DEMO_PER_KIND = 2026, 4
DEMO_REVIEW_SEED, DEMO_REVIEW_PER_KIND = 2036, 2
_SIZES = {1: (512, 1024), 2: (1024, 2048)}  # (width, height)


# --------------------------------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True)
class LegParams:
    """Construction parameters of one leg (lengths in mm, angles in degrees).

    ``jlca_deg`` is signed (positive: joint lines open laterally); ``femoral_cora_deg`` and
    ``tibial_cora_deg`` are signed bends (0 = straight bone). Shape ratios are relative to the head
    radius (femur) or the named width.
    """

    anatomical_side: AnatomicalSide
    femur_length_mm: float
    tibia_length_mm: float
    head_radius_mm: float
    nsa_deg: float
    mech_tilt_deg: float
    mldfa_deg: float
    jlca_deg: float
    mpta_deg: float
    mldta_deg: float
    femoral_cora_deg: float = 0.0
    tibial_cora_deg: float = 0.0
    neck_half_width_ratio: float = 0.68
    shaft_half_width_ratio: float = 0.6
    offset_ratio: float = 2.0
    gt_rise_ratio: float = 0.3
    gt_radius_ratio: float = 0.58
    condyle_radius_ratio: float = 0.92
    condyle_spacing_ratio: float = 1.15
    joint_gap_ratio: float = 0.2
    metaphysis_frac: float = 0.18
    plateau_width_factor: float = 1.0
    tibia_half_width_ratio: float = 0.55
    tibia_block_frac: float = 0.17
    plafond_width_frac: float = 0.6
    malleolus_width_frac: float = 0.15
    malleolus_height_frac: float = 0.3
    distal_block_frac: float = 0.13
    troch_flare_ratio: float = 1.6
    troch_block_ratio: float = 2.0


@dataclass(frozen=True)
class PhantomParams:
    """Image-level parameters; ``legs`` are ordered image-left first."""

    legs: tuple[LegParams, ...]
    hip_half_separation_mm: float = 90.0
    hip_row_frac: float = 0.09
    horizontal_shift_px: float = 0.0
    noise_sd: float = 4.0
    heel_effect: float = 0.12
    bone_contrast: float = 1.0


def random_phantom_params(rng: np.random.Generator, *, legs: int) -> PhantomParams:
    """Clinically plausible and deformed parameters for a ``legs``-leg phantom (1 or 2)."""
    if legs not in (1, 2):
        raise ValueError("legs must be 1 or 2")
    sides: tuple[AnatomicalSide, ...] = ("right", "left") if legs == 2 else (("right",) if rng.random() < 0.5 else ("left",))
    base_f = rng.uniform(380.0, 480.0)
    ratio_t = rng.uniform(0.78, 0.86)
    out = []
    for i, side in enumerate(sides):
        scale = 1.0
        if i == 1 and rng.random() < 0.35:  # leg-length difference
            scale = rng.uniform(0.93, 0.98) if rng.random() < 0.5 else rng.uniform(1.02, 1.07)
        l_f = base_f * scale * rng.uniform(0.99, 1.01)
        l_t = l_f * ratio_t * rng.uniform(0.98, 1.02)
        mldfa = rng.uniform(81.0, 95.0)
        jlca = rng.uniform(-3.0, 3.0)
        dev = rng.uniform(-11.0, 11.0)
        mpta = float(np.clip(mldfa + dev + jlca, 78.0, 98.0))
        fcora = 0.0 if rng.random() < 0.5 else float(rng.choice([-1.0, 1.0]) * rng.uniform(3.0, 14.0))
        tcora = 0.0 if rng.random() < 0.5 else float(rng.choice([-1.0, 1.0]) * rng.uniform(3.0, 14.0))
        out.append(
            LegParams(
                anatomical_side=side,
                femur_length_mm=l_f,
                tibia_length_mm=l_t,
                head_radius_mm=l_f * rng.uniform(0.048, 0.056),
                nsa_deg=rng.uniform(112.0, 145.0),
                mech_tilt_deg=rng.uniform(1.0, 5.0),
                mldfa_deg=mldfa,
                jlca_deg=jlca,
                mpta_deg=mpta,
                mldta_deg=rng.uniform(82.0, 96.0),
                femoral_cora_deg=fcora,
                tibial_cora_deg=tcora,
                neck_half_width_ratio=rng.uniform(0.55, 0.65),
                shaft_half_width_ratio=rng.uniform(0.6, 0.7),
                offset_ratio=rng.uniform(2.5, 3.0),
                gt_rise_ratio=rng.uniform(0.15, 0.5),
                gt_radius_ratio=rng.uniform(0.35, 0.45),
                condyle_radius_ratio=rng.uniform(0.85, 1.0),
                condyle_spacing_ratio=rng.uniform(1.05, 1.25),
                joint_gap_ratio=rng.uniform(0.15, 0.25),
                metaphysis_frac=rng.uniform(0.2, 0.25),
                plateau_width_factor=rng.uniform(0.95, 1.05),
                tibia_half_width_ratio=rng.uniform(0.5, 0.6),
                tibia_block_frac=rng.uniform(0.15, 0.19),
                plafond_width_frac=rng.uniform(0.55, 0.65),
                malleolus_width_frac=rng.uniform(0.12, 0.17),
                malleolus_height_frac=rng.uniform(0.25, 0.35),
                distal_block_frac=rng.uniform(0.12, 0.15),
                troch_flare_ratio=rng.uniform(1.2, 1.5),
                troch_block_ratio=rng.uniform(3.0, 5.0),
            )
        )
    hip_half = rng.uniform(88.0, 104.0)
    if legs == 2:
        # Place the ankles a plausible distance apart (feet slightly apart) whatever the deformity.
        for i in range(2):
            tilt = _tilt_for_ankle(out[i], 1 if i == 0 else -1, hip_half - rng.uniform(40.0, 75.0))
            if tilt is not None:
                out[i] = replace(out[i], mech_tilt_deg=tilt)
    return PhantomParams(
        legs=tuple(out),
        hip_half_separation_mm=hip_half,
        hip_row_frac=rng.uniform(0.07, 0.1),
        horizontal_shift_px=rng.uniform(-0.03, 0.03) * _SIZES[legs][0],
        noise_sd=rng.uniform(2.0, 6.0),
        heel_effect=rng.uniform(0.05, 0.2),
        bone_contrast=rng.uniform(0.8, 1.2),
    )


# --------------------------------------------------------------------------------------------------
# Signed-distance primitives (negative inside)


class _Circle:
    def __init__(self, c: NDArray, r: float) -> None:
        self.c, self.r = np.asarray(c, float), float(r)

    def sdf(self, x: NDArray, y: NDArray) -> NDArray:
        return np.hypot(x - self.c[0], y - self.c[1]) - self.r

    def bbox(self) -> tuple[float, float, float, float]:
        return self.c[0] - self.r, self.c[1] - self.r, self.c[0] + self.r, self.c[1] + self.r


class _Capsule:
    def __init__(self, a: NDArray, b: NDArray, r: float) -> None:
        self.a, self.b, self.r = np.asarray(a, float), np.asarray(b, float), float(r)

    def sdf(self, x: NDArray, y: NDArray) -> NDArray:
        d = self.b - self.a
        t = np.clip(((x - self.a[0]) * d[0] + (y - self.a[1]) * d[1]) / float(d @ d), 0.0, 1.0)
        return np.hypot(x - (self.a[0] + t * d[0]), y - (self.a[1] + t * d[1])) - self.r

    def bbox(self) -> tuple[float, float, float, float]:
        lo = np.minimum(self.a, self.b) - self.r
        hi = np.maximum(self.a, self.b) + self.r
        return lo[0], lo[1], hi[0], hi[1]


class _ConvexPolygon:
    """Convex polygon from any vertex set (its convex hull); the zero set is exact."""

    def __init__(self, pts: NDArray) -> None:
        from scipy.spatial import ConvexHull

        pts = np.asarray(pts, float)
        hull = ConvexHull(pts)
        self.v = pts[hull.vertices]  # counter-clockwise in (x, y) maths orientation
        e = np.roll(self.v, -1, axis=0) - self.v
        n = np.stack([e[:, 1], -e[:, 0]], axis=1)
        self.n = n / np.linalg.norm(n, axis=1, keepdims=True)  # outward for CCW hull order
        self.off = np.sum(self.n * self.v, axis=1)

    def sdf(self, x: NDArray, y: NDArray) -> NDArray:
        out = np.full(x.shape, -np.inf)
        for (nx, ny), o in zip(self.n, self.off):
            out = np.maximum(out, x * nx + y * ny - o)
        return out

    def bbox(self) -> tuple[float, float, float, float]:
        lo, hi = self.v.min(axis=0), self.v.max(axis=0)
        return lo[0], lo[1], hi[0], hi[1]


def _union_sdf(prims: Sequence[Any], x: NDArray, y: NDArray) -> NDArray:
    out = prims[0].sdf(x, y)
    for p in prims[1:]:
        out = np.minimum(out, p.sdf(x, y))
    return out


@dataclass(frozen=True, eq=False)
class _Grid:
    x0: int
    y0: int
    sdf: NDArray[np.float64]


def _grid_sdf(prims: Sequence[Any], width: int, height: int, pad: int = 4, step: int = 1) -> _Grid | None:
    """SDF on pixel centres of the primitives' bounding box; ``None`` if it leaves the image.

    ``step > 1`` samples every ``step``-th pixel (the grid index ``i`` is then pixel ``step * i``).
    """
    boxes = np.array([p.bbox() for p in prims])
    x_lo, y_lo = np.floor(boxes[:, :2].min(axis=0)).astype(int) - pad
    x_hi, y_hi = np.ceil(boxes[:, 2:].max(axis=0)).astype(int) + pad
    if x_lo < 0 or y_lo < 0 or x_hi > width or y_hi > height:
        return None
    xs = np.arange(x_lo, x_hi, step) + 0.5
    ys = np.arange(y_lo, y_hi, step) + 0.5
    xg, yg = np.meshgrid(xs, ys)
    return _Grid(int(x_lo), int(y_lo), _union_sdf(prims, xg, yg))


def _polygon_from_grid(grid: _Grid) -> NDArray[np.float64] | None:
    contours = find_contours(grid.sdf, 0.0)
    if not contours:
        return None
    c = max(contours, key=len)
    if not np.allclose(c[0], c[-1]):
        return None
    c = approximate_polygon(c, tolerance=0.1)[:-1]
    # Rounded as the LabelMe document stores them, so the label map is the document's own raster.
    return np.round(np.column_stack([c[:, 1] + grid.x0 + 0.5, c[:, 0] + grid.y0 + 0.5]), 6)


# --------------------------------------------------------------------------------------------------
# Leg construction


def _rot_toward(v: NDArray, angle_deg: float, side: NDArray) -> NDArray:
    """``v`` rotated by ``angle_deg`` in whichever sense ends up on the ``side`` half-plane."""
    a = rotate_deg(v, angle_deg)
    b = rotate_deg(v, -angle_deg)
    return a if float(a @ side) >= float(b @ side) else b


def _rot_signed(v: NDArray, angle_deg: float, side: NDArray) -> NDArray:
    """Rotate ``v`` by ``|angle_deg|`` toward ``side`` for positive angles, away for negative ones."""
    sense = 1.0 if float(rotate_deg(v, 1.0) @ side) > float(rotate_deg(v, -1.0) @ side) else -1.0
    return rotate_deg(v, sense * angle_deg)


def _perp(v: NDArray) -> NDArray:
    return np.array([-v[1], v[0]])


@dataclass(frozen=True, eq=False)
class _LegBuild:
    femur_prims: list[Any]
    tibia_prims: list[Any]
    extra_prims: list[tuple[Any, float]]  # image-only (fibula, patella), with intensity weight
    hip: NDArray
    knee: NDArray
    ankle: NDArray
    medial_sign: int
    truth: dict[str, Any]


class _BuildError(ValueError):
    pass


def _leg_directions(p: LegParams, mech_tilt_deg: float, m: int) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Unit directions of one leg: femoral mechanical axis (H -> N), distal femoral joint line
    (lateral), plateau (lateral) and tibial mechanical axis (N -> A)."""
    lat = np.array([-m, 0.0])
    alpha = math.radians(mech_tilt_deg)
    u_fm = np.array([m * math.sin(alpha), math.cos(alpha)])  # positive tilt: knee medial of hip
    j_f = _rot_toward(-u_fm, p.mldfa_deg, lat)  # at mLDFA against H - N
    cands = [rotate_deg(j_f, p.jlca_deg), rotate_deg(j_f, -p.jlca_deg)]
    # Positive JLCA opens the joint laterally: the plateau's lateral end drops away from the femur.
    p_lat = max(cands, key=lambda v: v[1]) if p.jlca_deg > 0 else min(cands, key=lambda v: v[1])
    u_tm = _rot_toward(-p_lat, p.mpta_deg, np.array([0.0, 1.0]))  # at MPTA against the plateau
    return u_fm, j_f, p_lat, u_tm


def _tilt_for_ankle(p: LegParams, m: int, medial_offset_mm: float) -> float | None:
    """Femoral mechanical tilt that puts the ankle ``medial_offset_mm`` medial of the hip."""

    def f(a: float) -> float:
        u_fm, _, _, u_tm = _leg_directions(p, a, m)
        return m * (p.femur_length_mm * u_fm[0] + p.tibia_length_mm * u_tm[0]) - medial_offset_mm

    lo, hi = -6.0, 12.0
    if f(lo) * f(hi) > 0:
        return None
    return float(brentq(f, lo, hi, xtol=1e-9))


def _balance(
    evaluate: Any, step: float, limit: float, iterations: int = 5
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two independent sideways shifts that zero two first moments (Newton with fixed slopes).

    ``evaluate(shift)`` returns ``(moments (2,), tilts (2,))`` for ``shift`` (2,); moment ``i``
    responds to shift ``i``. Returns the final shifts and tilts.
    """
    shift = np.zeros(2)
    m0, tilt = evaluate(shift)
    m_a, _ = evaluate(np.array([step, 0.0]))
    m_b, _ = evaluate(np.array([0.0, step]))
    slope = np.array([(m_a[0] - m0[0]) / step, (m_b[1] - m0[1]) / step])
    if np.any(slope == 0):
        return shift, tilt
    mom = m0
    for _ in range(iterations):
        shift = np.clip(shift - mom / slope, -limit, limit)
        mom, tilt = evaluate(shift)
        if np.max(np.abs(tilt)) < math.radians(0.02):
            break
    return shift, tilt


def _build_leg(p: LegParams, hip: NDArray, medial_sign: int, s: float, width: int, height: int) -> _LegBuild:
    """All primitives and the exact truth of one leg (``s`` px per mm)."""
    m = medial_sign
    lat = np.array([-m, 0.0])
    med = -lat
    down = np.array([0.0, 1.0])
    r = p.head_radius_mm * s
    l_f, l_t = p.femur_length_mm * s, p.tibia_length_mm * s
    u_fm, j_f, p_lat, u_tm = _leg_directions(p, p.mech_tilt_deg, m)
    knee = hip + l_f * u_fm
    n_f = _perp(j_f)
    n_f = n_f if n_f[1] < 0 else -n_f  # proximal normal
    r_c = p.condyle_radius_ratio * r
    d_c = p.condyle_spacing_ratio * r_c
    gap = p.joint_gap_ratio * r
    y_hat = np.array([0.0, 1.0])
    p_mid = knee + gap * n_f  # the femoral joint line passes here

    def condyles(u_a: NDArray, *, check: bool = False) -> tuple[NDArray, NDArray, float, float, NDArray]:
        """Condyle circles whose lowest points lie on the joint line, centres level along ``u_a``.

        The lowest point (largest y) of a circle is straight below its centre, so the line through
        the two lowest points is the built joint line. Radii differ so that both centres sit at the
        same level along the anatomic axis, and the axis passes through their area-weighted mean:
        the condyles then add no first moment about the axis (the shaft fits stay unbiased).
        """
        p_lat, p_med = p_mid + d_c * j_f, p_mid - d_c * j_f
        delta = 2.0 * d_c * float(j_f @ u_a) / float(y_hat @ u_a)  # r_lat - r_med
        if check and abs(delta) > 1.1 * r_c:
            raise _BuildError("condyle radii too different for this joint-line tilt")
        delta = float(np.clip(delta, -1.1 * r_c, 1.1 * r_c))  # only while solving for the axis
        r_lat, r_med = r_c + 0.5 * delta, r_c - 0.5 * delta
        c_lat, c_med = p_lat - r_lat * y_hat, p_med - r_med * y_hat
        k = (r_lat**2 * c_lat + r_med**2 * c_med) / (r_lat**2 + r_med**2)
        return c_lat, c_med, r_lat, r_med, k

    w_s = p.shaft_half_width_ratio * r
    w_n = p.neck_half_width_ratio * r
    h_off = p.offset_ratio * r
    d_m = p.metaphysis_frac * l_f

    def upper_line(ama: float, l1: float) -> tuple[NDArray, NDArray, NDArray]:
        u_a = _rot_signed(-u_fm, ama, lat)  # distal anatomic axis, proximal direction
        k_a = condyles(u_a)[4]
        cora = k_a + l1 * u_a
        u_p = _rot_signed(u_a, p.femoral_cora_deg, lat)
        return u_a, cora, u_p

    def medial_offset(ama: float, l1: float) -> float:
        _, cora, u_p = upper_line(ama, l1)
        nrm = _perp(u_p)
        nrm = nrm if nrm @ med > 0 else -nrm
        return float((hip - cora) @ nrm) - h_off

    def solve_ama(l1: float) -> float:
        lo, hi = -25.0, 40.0
        if medial_offset(lo, l1) * medial_offset(hi, l1) > 0:
            raise _BuildError("no anatomic-axis angle gives the requested femoral offset")
        return float(brentq(medial_offset, lo, hi, args=(l1,), xtol=1e-10))

    def femur_prims(l1: float, block_len: float, fw: float, shift_u: float = 0.0, shift_l: float = 0.0) -> tuple[list[Any], dict[str, Any]]:
        ama = solve_ama(l1)
        u_a, cora, u_p = upper_line(ama, l1)
        u_dist = -u_p
        # Neck / shaft crossing X at the NSA (spec §5.6 directed definition).
        foot = cora + ((hip - cora) @ u_p) * u_p
        x_pt = foot + (-h_off / math.tan(math.radians(p.nsa_deg))) * u_dist
        # Greater trochanter: cap on the lateral side, its top above the hip and above the neck.
        v_neck = unit(x_pt - hip)
        n_up = _perp(v_neck)
        n_up = n_up if n_up[1] < 0 else -n_up
        s_lat = 1.25 * r
        t_b = (-m * s_lat - w_n * n_up[0]) / v_neck[0] if abs(v_neck[0]) > 1e-9 else 0.0
        border_y = hip[1] + w_n * n_up[1] + t_b * v_neck[1]
        rho = p.gt_radius_ratio * r
        apex_y = min(hip[1] - p.gt_rise_ratio * r, border_y - 0.3 * r)
        gc_y = apex_y + rho
        upper = Line(cora, u_p)
        x_axis = upper.x_at(gc_y)
        sec = 1.0 / max(abs(u_p[1]), 1e-6)
        gc_x = x_axis - m * w_s * sec + m * 0.3 * rho
        gt_c = np.array([gc_x, gc_y])
        pu = _perp(u_p)
        lat_p = pu if float(pu @ lat) > 0 else -pu
        # The trochanteric wall joins the GT to the lateral cortex below X, leaving a fossa between it
        # and the neck; the shaft itself stops below X so the neck is free up to the shaft.
        rho_c = 0.6 * rho
        wall_end = x_pt - 0.7 * r * u_p + (w_s - rho_c - 0.05 * r) * lat_p  # ends inside the flare
        shaft_top = x_pt - 0.4 * r * u_p
        # Distal metaphysis, symmetric about the distal anatomic axis.
        c_lat, c_med, r_lat, r_med, k_a = condyles(u_a, check=True)
        pa = _perp(u_a)
        half = 0.5 * (abs(float((c_lat - k_a) @ pa)) + r_lat + abs(float((c_med - k_a) @ pa)) + r_med)
        meta = _ConvexPolygon(
            np.array(
                [
                    k_a + (half + shift_l) * pa,
                    k_a - (half - shift_l) * pa,
                    k_a + 0.35 * d_m * u_a + (0.95 * half + shift_l) * pa,
                    k_a + 0.35 * d_m * u_a - (0.95 * half - shift_l) * pa,
                    k_a + d_m * u_a + w_s * pa,
                    k_a + d_m * u_a - w_s * pa,
                ]
            )
        )
        # Trochanteric flare, symmetric about the proximal shaft axis (it carries the proximal bulk
        # that keeps the 80th percentile of d_N below the neck and trochanter).
        flare = _ConvexPolygon(
            np.array(
                [
                    x_pt - 0.6 * r * u_p + (fw + shift_u) * pu,
                    x_pt - 0.6 * r * u_p - (fw - shift_u) * pu,
                    x_pt - block_len * u_p + w_s * pu,
                    x_pt - block_len * u_p - w_s * pu,
                ]
            )
        )
        prims = [
            _Circle(hip, r),
            _Capsule(hip, x_pt, w_n),
            _Circle(gt_c, rho),
            _Capsule(gt_c, wall_end, rho_c),
            _Capsule(cora, shaft_top, w_s),
            flare,
            _Capsule(k_a + 0.5 * d_m * u_a, cora, w_s),
            meta,
            _Circle(c_lat, r_lat),
            _Circle(c_med, r_med),
        ]
        info = dict(ama=ama, u_a=u_a, cora=cora, u_p=u_p, x_pt=x_pt, gt_apex=np.array([gc_x, apex_y]), k_a=k_a, m_c=0.5 * (c_lat + c_med))
        return prims, info

    def pixels(prims: list[Any]) -> NDArray[np.float64]:
        """Centres of every second pixel (in both directions) inside the bone: quantiles only."""
        g = _grid_sdf(prims, width, height, step=2)
        if g is None:
            raise _BuildError("bone leaves the image")
        rr, cc = np.nonzero(g.sdf < 0)
        return np.column_stack([2 * cc + g.x0 + 0.5, 2 * rr + g.y0 + 0.5])

    def along_for_distance(origin: NDArray, start: NDArray, u: NDArray, dist: float) -> float:
        w = start - origin
        wu = float(w @ u)
        disc = wu * wu - float(w @ w) + dist * dist
        if disc < 0:
            raise _BuildError("CORA distance not reachable")
        return -wu + math.sqrt(disc)

    def femur_moments(prims: list[Any], info: dict[str, Any]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """First moments ``sum e (z - mean z)`` of the lower and upper shaft sets about the built axes.

        The sets follow the alignment (``d_N <= 55th``, ``50th < d_N <= 80th`` percentile); ``e`` is
        the offset across and ``z`` the position along the axis. Also returns the moments divided by
        ``sum (z - mean z)^2``: the tilt (radians) they would give a fitted line.
        """
        pts = pixels(prims)
        d = np.hypot(pts[:, 0] - knee[0], pts[:, 1] - knee[1])
        q50, q55, q80 = np.quantile(d, [0.50, 0.55, 0.80])
        out, tilt = [], []
        for sel, origin, u in ((d <= q55, info["k_a"], info["u_a"]), ((d > q50) & (d <= q80), info["cora"], info["u_p"])):
            rel = pts[sel] - origin
            e = rel @ _perp(u)
            z = rel @ u
            zc = z - z.mean()
            out.append(float(np.sum(e * zc)))
            tilt.append(out[-1] / float(np.sum(zc * zc)))
        return np.array(out), np.array(tilt)

    q_f = 0.55  # the femoral lower-shaft set ends here (AlignmentOptions.femur_lower_frac)
    l1 = 0.5 * float(np.linalg.norm(hip - knee))
    block_len = p.troch_block_ratio * r
    flare_w = p.troch_flare_ratio * w_s
    prims_f, info_f = femur_prims(l1, block_len, flare_w)
    if p.femoral_cora_deg != 0.0:
        for _ in range(2):
            pts = pixels(prims_f)
            d_star = float(np.quantile(np.hypot(pts[:, 0] - knee[0], pts[:, 1] - knee[1]), q_f))
            l1 = along_for_distance(knee, info_f["k_a"], info_f["u_a"], d_star)
            prims_f, info_f = femur_prims(l1, block_len, flare_w)
    # Shift the distal metaphysis and the trochanteric flare sideways until the neck, the
    # trochanters, the CORA kink and the condyles no longer tilt the shaft fits.
    def femur_eval(shift: NDArray) -> tuple[NDArray, NDArray]:
        return femur_moments(femur_prims(l1, block_len, flare_w, shift[1], shift[0])[0], info_f)

    f_shift, f_tilt = _balance(femur_eval, 0.1 * r, 1.2 * r)  # (metaphysis, flare)
    if np.max(np.abs(f_tilt)) > math.radians(0.15):
        raise _BuildError("femoral shaft sets cannot be balanced")
    prims_f, info_f = femur_prims(l1, block_len, flare_w, f_shift[1], f_shift[0])

    # Tibia: plateau through N at MPTA; JLCA opens the joint laterally for positive values.
    p_med = -p_lat
    ankle = knee + l_t * u_tm
    d_lat = _rot_toward(-u_tm, p.mldta_deg, lat)  # plafond, directed laterally

    w_p = 2.0 * (d_c + r_c) * p.plateau_width_factor
    w_t = p.tibia_half_width_ratio * r
    d_t = p.tibia_block_frac * l_t
    w_f = p.plafond_width_frac * w_p
    w_mall = p.malleolus_width_frac * w_f
    h_mall = p.malleolus_height_frac * w_f
    d_d = p.distal_block_frac * l_t
    rho_s = 0.05 * w_p

    def tibia_prims(f: float, shift_p: float = 0.0, shift_d: float = 0.0) -> tuple[list[Any], NDArray]:
        perp_t = _perp(u_tm)
        theta = abs(p.tibial_cora_deg)
        sgn = 1.0 if p.tibial_cora_deg >= 0 else -1.0
        base = knee + f * l_t * u_tm
        if theta > 0:

            def bend(o: float) -> float:
                c = base + sgn * o * perp_t
                return float(angle_between_deg(c - knee, ankle - c)) - theta

            o = brentq(bend, 0.0, 0.5 * l_t, xtol=1e-10)
        else:
            o = 0.0
        c_t = base + sgn * o * perp_t
        u_tp, u_td = unit(c_t - knee), unit(ankle - c_t)
        pp, pd = _perp(u_tp), _perp(u_td)
        prox = _ConvexPolygon(
            np.array(
                [
                    knee + 0.5 * w_p * p_lat,
                    knee - 0.5 * w_p * p_lat,
                    knee + 0.3 * d_t * u_tp + (0.47 * w_p + shift_p) * pp,
                    knee + 0.3 * d_t * u_tp - (0.47 * w_p - shift_p) * pp,
                    knee + d_t * u_tp + (w_t + shift_p) * pp,
                    knee + d_t * u_tp - (w_t - shift_p) * pp,
                ]
            )
        )
        l_end = ankle + 0.5 * w_f * d_lat
        m_end = ankle - 0.5 * w_f * d_lat
        m_out = m_end - w_mall * d_lat
        dist = _ConvexPolygon(
            np.array(
                [
                    l_end,
                    m_out,
                    ankle - 0.3 * d_d * u_td + (0.475 * w_f + shift_d) * pd,
                    ankle - 0.3 * d_d * u_td - (0.475 * w_f - shift_d) * pd,
                    ankle - d_d * u_td + (w_t + shift_d) * pd,
                    ankle - d_d * u_td - (w_t - shift_d) * pd,
                ]
            )
        )
        mall = _ConvexPolygon(
            np.array([m_end, m_out, m_out + h_mall * u_td + 0.15 * w_mall * d_lat, m_end + 0.6 * h_mall * u_td - 0.2 * w_mall * d_lat])
        )
        prims = [
            prox,
            _Circle(knee + 0.06 * w_p * p_lat, rho_s),
            _Circle(knee - 0.06 * w_p * p_lat, rho_s),
            _Capsule(knee + 0.5 * d_t * u_tp, c_t, w_t),
            _Capsule(c_t, ankle - 0.5 * d_d * u_td, w_t),
            dist,
            mall,
        ]
        return prims, c_t

    q_t = 0.575  # between the tibial proximal (55%) and distal (60%) sets
    f_t = 0.5
    prims_t, c_t = tibia_prims(f_t)
    if p.tibial_cora_deg != 0.0:
        for _ in range(2):
            pts = pixels(prims_t)
            top_i = np.lexsort((pts[:, 0], pts[:, 1]))[0]
            t_ref = pts[top_i]
            d_star = float(np.quantile(np.hypot(pts[:, 0] - t_ref[0], pts[:, 1] - t_ref[1]), q_t))
            f_t = along_for_distance(t_ref, knee, u_tm, d_star) / l_t
            if not 0.2 < f_t < 0.8:
                raise _BuildError("tibial CORA outside the shaft")
            prims_t, c_t = tibia_prims(f_t)

    def tibia_moments(prims: list[Any], c_pt: NDArray) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """First moments ``sum e (z - mean z)`` of the proximal and distal shaft sets about the built axes.

        ``e`` is the offset across and ``z`` the position along each axis; both sets use the
        alignment's definitions (distance to the top-most pixel, 55th / 60th percentiles). A zero
        moment means the set adds no tilt to a line fitted through it.
        """
        pts = pixels(prims)
        top_i = np.lexsort((pts[:, 0], pts[:, 1]))[0]
        d = np.hypot(pts[:, 0] - pts[top_i, 0], pts[:, 1] - pts[top_i, 1])
        q_up, q_low = np.quantile(d, [0.55, 0.60])
        out, tilt = [], []
        for sel, origin, u in ((d <= q_up, knee, unit(c_pt - knee)), (d > q_low, ankle, unit(ankle - c_pt))):
            rel = pts[sel] - origin
            e = rel @ _perp(u)
            z = rel @ u
            zc = z - z.mean()
            out.append(float(np.sum(e * zc)))
            tilt.append(out[-1] / float(np.sum(zc * zc)))
        return np.array(out), np.array(tilt)

    # Shift the two metaphyses sideways until the tilted plateau / plafond wedges and the malleolus
    # no longer tilt the shaft fits (Newton steps on the first moments, finite-difference slopes).
    def tibia_eval(shift: NDArray) -> tuple[NDArray, NDArray]:
        return tibia_moments(tibia_prims(f_t, shift[0], shift[1])[0], c_t)

    t_shift, t_tilt = _balance(tibia_eval, 0.02 * w_p, 0.25 * w_p)
    if np.max(np.abs(t_tilt)) > math.radians(0.15):
        raise _BuildError("tibial shaft sets cannot be balanced")
    prims_t, c_t = tibia_prims(f_t, t_shift[0], t_shift[1])

    # Image-only structures.
    fib_top = knee + 0.12 * l_t * u_tm + (0.5 * w_p - 0.05 * w_p) * lat
    fib_bot = ankle + (0.5 * w_f + 0.18 * w_f) * lat + 0.35 * w_f * down
    extra = [
        (_Capsule(fib_top, fib_bot, 0.22 * w_t), 0.8),
        (_Circle(fib_top, 0.45 * w_t), 0.8),
        (_Circle(info_f["m_c"] + 1.4 * r * n_f, 1.0 * r), 0.35),
    ]

    # Exact truth from the construction.
    info = info_f
    u_a, u_p, x_pt, cora_f, gt_apex = info["u_a"], info["u_p"], info["x_pt"], info["cora"], info["gt_apex"]
    dev, mad = hka_deviation_deg(hip, knee, ankle, medial_sign=m)
    nsa_check = float(angle_between_deg(hip - x_pt, -u_p))
    if abs(nsa_check - p.nsa_deg) > 1e-6:
        raise _BuildError("internal NSA construction mismatch")
    truth = {
        "hka_deviation_deg": float(dev),
        "HKA": 180.0 - abs(float(dev)),
        "NSA": p.nsa_deg,
        "mLDFA": float(angle_between_deg(hip - knee, j_f)),
        "aLDFA": float(angle_between_deg(u_a, j_f)),
        "mLPFA": float(angle_between_deg(knee - hip, gt_apex - hip)),
        "MPTA": float(angle_between_deg(ankle - knee, p_med)),
        "mLDTA": float(angle_between_deg(knee - ankle, d_lat)),
        "JLCA": abs(p.jlca_deg),
        "AMA": float(angle_between_deg(hip - knee, u_a)),
        "MAD": float(mad),
        "femoral_cora_deg": abs(p.femoral_cora_deg),
        "tibial_cora_deg": abs(p.tibial_cora_deg),
        "femoral_cora_point": None if p.femoral_cora_deg == 0 else cora_f,
        "tibial_cora_point": None if p.tibial_cora_deg == 0 else c_t,
        "gt_apex": gt_apex,
        "femoral_upper_axis": Line(cora_f, -u_p),
        "femoral_lower_axis": Line(info["k_a"], -u_a),
        "femoral_neck_axis": Line(x_pt, hip - x_pt),
        "tibial_upper_axis": Line(knee, c_t - knee),
        "tibial_lower_axis": Line(c_t, ankle - c_t),
        "femoral_joint_line": Line(knee + gap * n_f, j_f),
        "plateau_line": Line(knee, p_med),
        "plafond_line": Line(ankle, d_lat),
    }
    return _LegBuild(prims_f, prims_t, extra, hip, knee, ankle, m, truth)


# --------------------------------------------------------------------------------------------------
# Phantom


@dataclass(frozen=True, eq=False)
class Phantom:
    """A synthetic radiograph: ``image`` (H, W) uint8, its LabelMe document, truth and label map."""

    image: NDArray[np.uint8]
    labelme: dict[str, Any]
    truth: dict[str, Any]
    label_map: NDArray[np.uint8]
    params: PhantomParams
    pixel_spacing_mm: float
    stem: str
    polygons_xy: tuple[tuple[NDArray[np.float64], NDArray[np.float64]], ...]


def _truth_metric(value: float, *, unit: str = "deg", point: NDArray | None = None, value_px: float | None = None) -> MetricValue:
    pt = None if point is None else (float(point[0]), float(point[1]))
    return MetricValue(float(value), 0.0, float(value), float(value), float(value), 1, unit, "construction", pt, value_px)


def _truth_document(builds: Sequence[_LegBuild], params: PhantomParams, width: int, height: int, stem: str) -> dict[str, Any]:
    legs = []
    for i, b in enumerate(builds):
        t = b.truth
        metrics: dict[str, MetricValue | None] = {}
        for name in ("hka_deviation_deg", "HKA", "NSA", "mLDFA", "aLDFA", "mLPFA", "MPTA", "mLDTA", "JLCA", "AMA"):
            metrics[name] = _truth_metric(t[name])
        metrics["MAD"] = _truth_metric(t["MAD"], unit="px", value_px=t["MAD"])
        for name, key in (("femoral_cora_deg", "femoral_cora_point"), ("tibial_cora_deg", "tibial_cora_point")):
            pt = t[key]
            inside = pt is not None and 0 <= pt[0] <= width and 0 <= pt[1] <= height
            metrics[name] = _truth_metric(t[name], point=pt if inside else None)
        image_side = "left" if i == 0 else "right"
        if len(builds) == 1:
            mean_x = float(np.mean([b.hip[0], b.knee[0], b.ankle[0]]))
            image_side = "left" if mean_x < width / 2 else "right"
        legs.append(
            LegAlignment(
                image_side=image_side,  # type: ignore[arg-type]
                anatomical_side=params.legs[i].anatomical_side,
                joints=LegJoints.from_array(np.vstack([b.hip, b.knee, b.ankle])),
                medial_sign=b.medial_sign,
                metrics=metrics,
                flags=(),
            )
        )
    res = AlignmentResult(f"{stem}.png", width, height, None, tuple(legs), None, AlignmentOptions())
    return res.to_json()


def _place_hips(params: PhantomParams, width: int, height: int) -> tuple[float, list[NDArray]]:
    """Pixel scale and hip centres so that the longest leg fits between the margins."""
    hip_y = params.hip_row_frac * height
    bottom = height - 0.025 * height
    extents = []
    for lp in params.legs:
        # Vertical extent hip -> malleolus tip (mm), generous for tilted axes.
        ext = lp.femur_length_mm + lp.tibia_length_mm + 0.3 * lp.plafond_width_frac * 80.0 + 10.0
        extents.append(ext)
    s = (bottom - hip_y) / max(extents)
    hips = []
    n = len(params.legs)
    for i, lp in enumerate(params.legs):
        if n == 2:
            sign = -1.0 if i == 0 else 1.0
            x = width / 2 + sign * params.hip_half_separation_mm * s + params.horizontal_shift_px
        else:
            m = 1.0 if lp.anatomical_side == "right" else -1.0
            # Centre the leg: the hip sits laterally of the knee/ankle line.
            x = width / 2 - m * 0.06 * lp.femur_length_mm * s + params.horizontal_shift_px
        hips.append(np.array([x, hip_y]))
    return s, hips


def _leg_medial_sign(params: PhantomParams, i: int) -> int:
    if len(params.legs) == 2:
        return 1 if i == 0 else -1
    return 1 if params.legs[i].anatomical_side == "right" else -1


def _check_separation(label_map: NDArray[np.uint8], builds: Sequence[_LegBuild]) -> bool:
    if len(builds) < 2:
        return True
    x_mid = 0.5 * (np.mean([builds[0].hip[0], builds[0].knee[0], builds[0].ankle[0]]) + np.mean([builds[1].hip[0], builds[1].knee[0], builds[1].ankle[0]]))
    cols = np.flatnonzero(label_map.any(axis=0)) + 0.5
    # Bone must not come within 3 px of the split, and no column near it may hold bone.
    return not np.any(np.abs(cols - x_mid) < 3.0)


def _render(
    builds: Sequence[_LegBuild],
    grids: Sequence[tuple[_Grid, _Grid]],
    params: PhantomParams,
    width: int,
    height: int,
    rng: np.random.Generator,
    low_snr: bool,
    s: float,
) -> NDArray[np.uint8]:
    # Soft tissue on a 4x coarser grid (smooth anyway).
    f = 4
    xs = (np.arange(0, width, f) + f / 2).astype(float)
    ys = (np.arange(0, height, f) + f / 2).astype(float)
    xg, yg = np.meshgrid(xs, ys)
    tissue = np.zeros_like(xg)
    for b in builds:
        r_hip, r_knee, r_calf, r_ank = 80 * s, 55 * s, 58 * s, 32 * s
        segs = [(b.hip + np.array([0.0, -60 * s]), b.knee, r_hip, r_knee), (b.knee, b.ankle, r_calf, r_ank), (b.ankle, b.ankle + np.array([0, 80 * s]), r_ank, r_ank)]
        for a, c, ra, rc in segs:
            d = c - a
            t = np.clip(((xg - a[0]) * d[0] + (yg - a[1]) * d[1]) / float(d @ d), 0, 1)
            dist = np.hypot(xg - (a[0] + t * d[0]), yg - (a[1] + t * d[1])) - (ra + t * (rc - ra))
            tissue = np.maximum(tissue, 1.0 / (1.0 + np.exp(dist / (4 * s))))
    # Pelvis: a broad band above the hips plus acetabular rims.
    pelvis = np.zeros_like(xg)
    hip_y = float(np.mean([b.hip[1] for b in builds]))
    for b in builds:
        d_rim = np.abs(np.hypot(xg - b.hip[0], yg - b.hip[1]) - 1.25 * float(np.linalg.norm(b.knee - b.hip)) * 0.055)
        pelvis += 0.6 * np.exp(-(d_rim / (3 * s)) ** 2) * (yg < b.hip[1] + 10 * s)
        wing = np.hypot((xg - b.hip[0] + 0.3 * b.medial_sign * 60 * s) / (70 * s), (yg - hip_y + 70 * s) / (55 * s))
        pelvis += 0.5 / (1 + np.exp((wing - 1.0) * 12))
    low = 25.0 + 55.0 * tissue + 35.0 * np.clip(pelvis, 0, 1.2)
    img = np.kron(low, np.ones((f, f)))[:height, :width]
    contrast = params.bone_contrast * (0.45 if low_snr else 1.0)
    tau = 3.0 * s
    for b, (gf, gt) in zip(builds, grids):
        for g in (gf, gt):
            alpha = np.clip(0.5 - g.sdf, 0.0, 1.0)
            val = alpha * (55.0 + 60.0 * np.exp(np.minimum(g.sdf, 0.0) / tau)) * contrast
            img[g.y0 : g.y0 + g.sdf.shape[0], g.x0 : g.x0 + g.sdf.shape[1]] += val
        for prim, weight in b.extra_prims:
            ge = _grid_sdf([prim], width, height, pad=2)
            if ge is None:
                continue
            alpha = np.clip(0.5 - ge.sdf, 0.0, 1.0)
            val = alpha * weight * (45.0 + 40.0 * np.exp(np.minimum(ge.sdf, 0.0) / tau)) * contrast
            img[ge.y0 : ge.y0 + ge.sdf.shape[0], ge.x0 : ge.x0 + ge.sdf.shape[1]] += val
    img = ndimage.gaussian_filter(img, 1.2 if not low_snr else 2.0)
    rows = (np.arange(height) / height - 0.5)[:, None]
    img = img * (1.0 + params.heel_effect * rows)
    sd = params.noise_sd * (4.0 if low_snr else 1.0)
    img = img + rng.normal(0.0, sd, img.shape) + rng.poisson(np.clip(img, 0, None) / 8.0) * 0.5 - np.clip(img, 0, None) / 16.0
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _labelme(stem: str, width: int, height: int, polys: Sequence[tuple[NDArray, NDArray]], builds: Sequence[_LegBuild]) -> dict[str, Any]:
    shapes = []
    for i, ((pf, pt), b) in enumerate(zip(polys, builds)):
        for label, poly in (("femur", pf), ("tibia", pt)):
            shapes.append(
                {
                    "label": label,
                    "points": [[round(float(x), 6), round(float(y), 6)] for x, y in poly],
                    "group_id": i,
                    "description": "",
                    "shape_type": "polygon",
                    "flags": {},
                }
            )
        for label, pt_xy in (("hip", b.hip), ("knee", b.knee), ("ankle", b.ankle)):
            shapes.append(
                {
                    "label": label,
                    "points": [[round(float(pt_xy[0]), 6), round(float(pt_xy[1]), 6)]],
                    "group_id": i,
                    "description": "",
                    "shape_type": "point",
                    "flags": {},
                }
            )
    return {
        "version": LABELME_VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": f"{stem}.png",
        "imageData": None,
        "imageHeight": int(height),
        "imageWidth": int(width),
    }


def _try_build(params: PhantomParams, width: int, height: int) -> tuple[float, list[_LegBuild], list[tuple[_Grid, _Grid]], list[tuple[NDArray, NDArray]], NDArray[np.uint8]]:
    s, hips = _place_hips(params, width, height)
    builds, grids, polys = [], [], []
    for i, lp in enumerate(params.legs):
        b = _build_leg(lp, hips[i], _leg_medial_sign(params, i), s, width, height)
        gf = _grid_sdf(b.femur_prims, width, height)
        gt = _grid_sdf(b.tibia_prims, width, height)
        if gf is None or gt is None:
            raise _BuildError("bone leaves the image")
        pf, pt = _polygon_from_grid(gf), _polygon_from_grid(gt)
        if pf is None or pt is None:
            raise _BuildError("bone outline is not a single closed contour")
        builds.append(b)
        grids.append((gf, gt))
        polys.append((pf, pt))
    ordered = [(pf, FEMUR) for pf, _ in polys] + [(pt, TIBIA) for _, pt in polys]
    label_map = rasterize_polygons(ordered, height=height, width=width)
    if not _check_separation(label_map, builds):
        raise _BuildError("legs overlap the leg split")
    for b in builds:
        if not (0 < b.ankle[1] < height and 0 < b.knee[1] < b.ankle[1]):
            raise _BuildError("joints outside the image")
    return s, builds, grids, polys, label_map


def generate_phantom(
    *, seed: int, legs: int, params: PhantomParams | None = None, low_snr: bool = False, stem: str | None = None
) -> Phantom:
    """Generate one synthetic AP long-leg radiograph with LabelMe truth.

    Parameters
    ----------
    seed : int
        Seeds the random parameters (when ``params`` is None) and the image noise.
    legs : {1, 2}
        1: a single leg on a 512 x 1024 image; 2: both legs on 1024 x 2048.
    params : PhantomParams, optional
        Explicit construction; ``len(params.legs)`` must equal ``legs``.
    low_snr : bool
        Low-contrast, noisy, blurrier image (the geometry and truth are unchanged).
    stem : str, optional
        File stem used in ``imagePath`` (default ``phantom_<seed>``).

    Returns
    -------
    Phantom

    Raises
    ------
    ValueError
        Bad ``legs``, or explicit ``params`` that cannot be built inside the image.
    """
    if legs not in _SIZES:
        raise ValueError("legs must be 1 or 2")
    width, height = _SIZES[legs]
    rng = np.random.default_rng(seed)
    stem = stem or f"phantom_{seed}"
    if params is not None:
        if len(params.legs) != legs:
            raise ValueError(f"params describe {len(params.legs)} legs, expected {legs}")
        try:
            built = _try_build(params, width, height)
        except _BuildError as exc:
            raise ValueError(f"phantom parameters cannot be built: {exc}") from exc
    else:
        for _ in range(200):
            params = random_phantom_params(rng, legs=legs)
            try:
                built = _try_build(params, width, height)
                break
            except _BuildError:
                continue
        else:  # pragma: no cover - the ranges make this practically impossible
            raise RuntimeError("could not build a phantom in 200 attempts")
    s, builds, grids, polys, label_map = built
    image = _render(builds, grids, params, width, height, rng, low_snr, s)
    return Phantom(
        image=image,
        labelme=_labelme(stem, width, height, polys, builds),
        truth=_truth_document(builds, params, width, height, stem),
        label_map=label_map,
        params=params,
        pixel_spacing_mm=1.0 / s,
        stem=stem,
        polygons_xy=tuple(polys),
    )


def write_phantom_set(out_dir: str | Path, *, n: int, seed: int = 0, legs: int = 2, low_snr: bool = False,
                      labelme: bool = True, truth_path: str | Path | None = None) -> list[Path]:
    """Write ``n`` phantoms (``<stem>.png`` + ``<stem>.json``) and merge their truth into ``truth.json``.

    Phantom ``i`` uses the seed derived from ``(seed, i)`` and the stem
    ``phantom_s<seed>_<legs>leg_<i:04d>``. Returns the LabelMe JSON paths, or the PNG paths with
    ``labelme=False`` (images only, as a new upload has them). ``truth_path`` puts the truth elsewhere
    than ``out_dir/truth.json``.
    """
    from PIL import Image

    if n < 0:
        raise ValueError("n must be >= 0")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    truth_path = Path(truth_path) if truth_path is not None else out / "truth.json"
    truth: dict[str, Any] = json.loads(truth_path.read_text()) if truth_path.exists() else {}
    written: list[Path] = []
    for i in range(n):
        sub_seed = int(np.random.SeedSequence([seed, legs, int(low_snr), i]).generate_state(1)[0])
        stem = f"phantom_s{seed}_{legs}leg_{i:04d}"
        ph = generate_phantom(seed=sub_seed, legs=legs, low_snr=low_snr, stem=stem)
        Image.fromarray(ph.image, mode="L").save(out / f"{stem}.png")
        truth[stem] = ph.truth
        if not labelme:
            written.append(out / f"{stem}.png")
            continue
        json_path = out / f"{stem}.json"
        json_path.write_text(json.dumps(ph.labelme, indent=1))
        written.append(json_path)
    truth_path.write_text(json.dumps(truth, indent=1, sort_keys=True))
    return written
