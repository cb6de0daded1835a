"""Joints of every leg of a label map: :func:`derive_joints_detailed` and :func:`derive_joints`.

A leg's joints must satisfy ``hip_y < knee_y < ankle_y``; invalid joints are NaN.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from inference.core.joints_from_masks.joints import _ankle, _hip, _infer_medial_sign, _knee
from inference.core.joints_from_masks.leg_split import split_legs
from inference.core.joints_from_masks.masks import _largest_component, _outline_xy, _row_axis
from inference.core.joints_from_masks.records import JointDerivation, LegJointDerivation
from inference.core.legs import FEMUR, TIBIA, ImageSide

_NAN2 = np.array([np.nan, np.nan])


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
