"""Construction of one phantom leg: femur and tibia primitives and the exact truth.

The CORA of a bone is placed at the distance from the reference point that separates the alignment's
proximal and distal shaft sets, and the metaphyses (and the trochanteric flare) are shifted sideways
until they no longer tilt the shaft fits, so the §5.4/5.5 fits see straight segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq

from inference.core.alignment import hka_deviation_deg
from inference.core.geometry import Line, angle_between_deg, unit
from inference.core.phantom.leg_axes import _leg_directions, _perp, _rot_signed, _rot_toward
from inference.core.phantom.params import LegParams
from inference.core.phantom.primitives import _Capsule, _Circle, _ConvexPolygon, _grid_sdf


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
