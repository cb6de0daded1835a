"""Alignment of one leg: sides, joint-only, landmark, Monte-Carlo and length metrics.

A metric that cannot be computed is ``None`` and the leg gets a flag with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inference.core.alignment.cora import _cora_point, _median_line
from inference.core.alignment.joint_angles import _infer_medial_sign, hka_deviation_deg
from inference.core.alignment.landmarks import (
    _femoral_joint_line,
    _greater_trochanter,
    _plafond_line,
    _plateau_line,
)
from inference.core.alignment.lengths import _length_landmarks
from inference.core.alignment.records import METRIC_NAMES, LegAlignment, LegLandmarks, MetricValue
from inference.core.alignment.sampling import _bone_mask, _draw_points, _LegContext
from inference.core.alignment.shaft_fits import _femur_draws, _FemurDraws, _tibia_draws, _TibiaDraws
from inference.core.alignment.spread import _fixed_metric, _joint_draws, _mc_metric
from inference.core.geometry import Line, acute_angle_between_deg, angle_between_deg
from inference.core.leg_lengths import leg_length_values
from inference.core.legs import FEMUR, TIBIA, LegJoints

_FEMUR_MASK_METRICS = ("NSA", "mLDFA", "aLDFA", "mLPFA", "AMA", "femoral_cora_deg", "JLCA")
_TIBIA_MASK_METRICS = ("MPTA", "mLDTA", "tibial_cora_deg", "JLCA")


def _align_leg(
    ctx: _LegContext, masks: Mapping[int, NDArray[np.bool_]], ref: Mapping[Any, Any] | None
) -> LegAlignment:
    opts = ctx.opts
    joints = ctx.joints
    hip, knee, ankle = joints.hip_xy, joints.knee_xy, joints.ankle_xy
    flags: list[str] = []
    metrics: dict[str, MetricValue | None] = {name: None for name in METRIC_NAMES}
    reasons: dict[str, str] = {}

    femur = _bone_mask(masks, FEMUR, ctx)
    tibia = _bone_mask(masks, TIBIA, ctx)
    femur_ok = femur.count >= opts.min_pixels
    tibia_ok = tibia.count >= opts.min_pixels
    if not femur_ok:
        flags.append(f"femur: {femur.count} pixels (< {opts.min_pixels}); mask-based femur metrics skipped")
        for name in _FEMUR_MASK_METRICS:
            reasons.setdefault(name, f"too few femur pixels ({femur.count})")
    if not tibia_ok:
        flags.append(f"tibia: {tibia.count} pixels (< {opts.min_pixels}); mask-based tibia metrics skipped")
        for name in _TIBIA_MASK_METRICS:
            reasons.setdefault(name, f"too few tibia pixels ({tibia.count})")

    # ---- Monte Carlo ---------------------------------------------------------------------------
    fd: _FemurDraws | None = None
    n_rep_f = n_rep_t = 1
    if femur_ok:
        if ref is not None:
            xf, yf, n_rep_f = ref[FEMUR][None, :, 0], ref[FEMUR][None, :, 1], 1
            h_use, n_use = np.trunc(hip), np.trunc(knee)
        else:
            xf, yf, n_rep_f = _draw_points(femur, ctx, FEMUR)
            h_use, n_use = hip, knee
        if xf.shape[1] >= opts.min_pixels:
            fd = _femur_draws(xf, yf, h_use, n_use, opts)
        else:
            reasons.setdefault("femoral_cora_deg", "too few sampled femur pixels")
    td: _TibiaDraws | None = None
    t_ref: NDArray[np.float64] | None = None
    if tibia_ok:
        if ref is not None:
            xt, yt, n_rep_t = ref[TIBIA][None, :, 0], ref[TIBIA][None, :, 1], 1
            t_ref = ref["tibia_top"]
        else:
            xt, yt, n_rep_t = _draw_points(tibia, ctx, TIBIA)
            if opts.tibia_reference == "knee":
                t_ref = knee.copy()
            else:
                t_ref = tibia.pixels_xy[0].copy()  # row-major: top-most row, then left-most column
        if xt.shape[1] >= opts.min_pixels and t_ref is not None:
            td = _tibia_draws(xt, yt, t_ref, opts)
        else:
            reasons.setdefault("tibial_cora_deg", "too few sampled tibia pixels")

    upper_axis = _median_line(fd.upper) if fd is not None else None

    # ---- Sides ---------------------------------------------------------------------------------
    anatomical_side = joints.anatomical_side
    medial_sign: int | None
    if ctx.n_legs == 2:
        medial_sign = 1 if ctx.image_side == "left" else -1
        if anatomical_side is None:
            anatomical_side = "right" if ctx.image_side == "left" else "left"
    elif anatomical_side is not None:
        medial_sign = 1 if anatomical_side == "right" else -1
    else:
        medial_sign = _infer_medial_sign(hip, upper_axis)
        if medial_sign is not None:
            anatomical_side = "right" if medial_sign > 0 else "left"
            flags.append("anatomical_side_inferred")
        else:
            flags.append("medial_direction_unknown")

    # ---- Joint-only metrics --------------------------------------------------------------------
    jd = _joint_draws(ctx)
    delta = float(angle_between_deg(knee - hip, ankle - knee))
    delta_draws = None
    if jd is not None:
        delta_draws = np.asarray(angle_between_deg(jd[:, 1] - jd[:, 0], jd[:, 2] - jd[:, 1]))
    metrics["HKA"] = _fixed_metric(180.0 - delta, None if delta_draws is None else 180.0 - delta_draws, unit="deg", method="joints")
    if medial_sign is not None:
        dev, mad_px = hka_deviation_deg(hip, knee, ankle, medial_sign=medial_sign)
        dev_d = mad_d = None
        if jd is not None:
            dev_d, mad_d = hka_deviation_deg(jd[:, 0], jd[:, 1], jd[:, 2], medial_sign=medial_sign)
        metrics["hka_deviation_deg"] = _fixed_metric(float(dev), dev_d, unit="deg", method="joints")
        scale = ctx.pixel_spacing_mm or 1.0
        mad = _fixed_metric(float(mad_px) * scale, None if mad_d is None else np.asarray(mad_d) * scale, unit="mm" if ctx.pixel_spacing_mm else "px", method="joints")
        metrics["MAD"] = replace(mad, value_px=float(mad_px))
    else:
        for name in ("hka_deviation_deg", "MAD"):
            reasons[name] = "medial direction unknown (single leg, no anatomical_side, femur axis unavailable)"

    # ---- Landmarks -----------------------------------------------------------------------------
    jl_f = plateau = plafond = None
    condyles = gt = None
    head_r = None
    if medial_sign is not None:
        if femur_ok:
            jl_f, condyles, why = _femoral_joint_line(femur, ctx, medial_sign)
            if why:
                for name in ("mLDFA", "aLDFA", "JLCA"):
                    reasons.setdefault(name, why)
            gt, head_r, why = _greater_trochanter(femur, ctx, medial_sign)
            if why:
                reasons.setdefault("mLPFA", why)
        if tibia_ok:
            plateau, why = _plateau_line(tibia, ctx, medial_sign)
            if why:
                for name in ("MPTA", "JLCA"):
                    reasons.setdefault(name, why)
            plafond, why = _plafond_line(tibia, ctx, medial_sign)
            if why:
                reasons.setdefault("mLDTA", why)
    else:
        for name in ("mLDFA", "aLDFA", "mLPFA", "MPTA", "mLDTA", "JLCA"):
            reasons.setdefault(name, "medial direction unknown")

    def jmetric(fn: Any) -> MetricValue:
        value = float(fn(hip, knee, ankle))
        draws = None if jd is None else np.asarray(fn(jd[:, 0], jd[:, 1], jd[:, 2]), dtype=np.float64)
        return _fixed_metric(value, draws, unit="deg", method="landmark")

    if jl_f is not None:
        jf = jl_f.direction_xy
        metrics["mLDFA"] = jmetric(lambda h, n, a: angle_between_deg(h - n, jf))
    if gt is not None:
        metrics["mLPFA"] = jmetric(lambda h, n, a: angle_between_deg(n - h, gt - h))
    if plateau is not None:
        pm = plateau.direction_xy
        metrics["MPTA"] = jmetric(lambda h, n, a: angle_between_deg(a - n, pm))
    if plafond is not None:
        pf = plafond.direction_xy
        metrics["mLDTA"] = jmetric(lambda h, n, a: angle_between_deg(n - a, pf))
    if jl_f is not None and plateau is not None:
        jlca = float(acute_angle_between_deg(jl_f.direction_xy, plateau.direction_xy))
        metrics["JLCA"] = _fixed_metric(jlca, None, unit="deg", method="landmark")

    # ---- Monte-Carlo metrics -------------------------------------------------------------------
    lower_axis = neck_axis = None
    q_stop = None
    if fd is not None:
        metrics["femoral_cora_deg"] = _mc_metric(fd.cora, n_rep_f)
        if metrics["femoral_cora_deg"] is not None:
            fc = metrics["femoral_cora_deg"]
            metrics["femoral_cora_deg"] = replace(fc, point_xy=_cora_point(fd.lower, fd.upper, ctx, fc.value))
        else:
            reasons.setdefault("femoral_cora_deg", "shaft fits failed in every draw")
        metrics["NSA"] = _mc_metric(fd.nsa, n_rep_f)
        if metrics["NSA"] is None:
            reasons.setdefault("NSA", "neck axis does not cross the upper shaft axis in any draw")
        else:
            if opts.reference_mode:
                metrics["NSA"] = replace(metrics["NSA"], method="reference_fixed_15pct_obtuse")  # type: ignore[type-var]
            n_valid = int(np.isfinite(fd.nsa).sum())
            n_unst = int(fd.unstable.sum())
            n_el = int(fd.low_elongation.sum())
            if n_unst:
                flags.append(f"neck_axis_unstable: NSA neck growth stopped at the first step in {n_unst}/{n_valid} draws")
            if n_el:
                flags.append(f"NSA: neck PCA eigenvalue ratio < {opts.neck_min_elongation:g} in {n_el}/{n_valid} draws")
        anat_prox = -fd.lower.directions_down()  # distal anatomic axis, directed proximally
        ama = np.where(fd.lower.valid, np.asarray(angle_between_deg(hip - knee, anat_prox)), np.nan)
        metrics["AMA"] = _mc_metric(ama, n_rep_f)
        if metrics["AMA"] is None:
            reasons.setdefault("AMA", "anatomic axis fit failed in every draw")
        if jl_f is not None:
            aldfa = np.where(fd.lower.valid, np.asarray(angle_between_deg(anat_prox, jl_f.direction_xy)), np.nan)
            metrics["aLDFA"] = _mc_metric(aldfa, n_rep_f)
            if metrics["aLDFA"] is None:
                reasons.setdefault("aLDFA", "anatomic axis fit failed in every draw")
        lower_axis = _median_line(fd.lower)
        ok = np.isfinite(fd.neck_point).all(axis=1)
        if ok.any():
            neck_axis = Line(np.median(fd.neck_point[ok], axis=0), np.median(fd.neck_dir[ok], axis=0))
            q_stop = float(np.median(fd.q_stop[ok]))
    if td is not None:
        metrics["tibial_cora_deg"] = _mc_metric(td.cora, n_rep_t)
        if metrics["tibial_cora_deg"] is not None:
            tc = metrics["tibial_cora_deg"]
            metrics["tibial_cora_deg"] = replace(tc, point_xy=_cora_point(td.upper, td.lower, ctx, tc.value))
        else:
            reasons.setdefault("tibial_cora_deg", "shaft fits failed in every draw")

    length_landmarks = _length_landmarks(femur, ctx, condyles, medial_sign, head_r)
    for name, value_px in leg_length_values(length_landmarks, knee, ankle).items():
        if value_px is None:
            reasons.setdefault(name, "femoral-head apex or condyles not found")
            continue
        length = _fixed_metric(value_px * (ctx.pixel_spacing_mm or 1.0), None,
                               unit="mm" if ctx.pixel_spacing_mm else "px", method="landmarks")
        metrics[name] = replace(length, value_px=value_px)

    for name in METRIC_NAMES:
        if metrics[name] is None:
            flags.append(f"{name}: {reasons.get(name, 'not computable')}")

    landmarks = LegLandmarks(
        femoral_joint_line=jl_f,
        condyle_points_xy=condyles,
        tibial_plateau_line=plateau,
        plafond_line=plafond,
        greater_trochanter_xy=gt,
        head_radius_px=head_r,
        femoral_upper_axis=upper_axis,
        femoral_lower_axis=lower_axis,
        femoral_neck_axis=neck_axis,
        tibial_upper_axis=None if td is None else _median_line(td.upper),
        tibial_lower_axis=None if td is None else _median_line(td.lower),
        tibia_reference_xy=t_ref,
        neck_q_stop=q_stop,
    )
    return LegAlignment(
        image_side=ctx.image_side,
        anatomical_side=anatomical_side,
        joints=LegJoints.from_array(joints.as_array(), image_side=ctx.image_side, anatomical_side=anatomical_side, variance_xy=joints.variance_xy),
        medial_sign=medial_sign,
        metrics=metrics,
        flags=tuple(flags),
        landmarks=landmarks,
        length_landmarks=length_landmarks,
    )
