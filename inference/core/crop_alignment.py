"""Alignment of one leg measured in its normalised crop, then mapped back onto the original image.

In ``leg_crops`` mode the members' masks live on the crop's grid (:mod:`inference.core.leg_crops`:
128 x 1024, the leg scaled so that the femoral-head apex and the plafond centre sit on fixed rows,
shown as a right leg). The mask-based constructions (joint lines, shaft and neck axes, the greater
trochanter) are measured there, on the masks the members produced, rather than on those masks
resampled onto the original pixel grid: resampling made mask-based angles depend on the image's size
(up to 0.45 degrees between a phantom and the same phantom scaled 1.5 times), while the crop, and so
every angle, is the same at any size, position or orientation. It is also cheaper for large images.

The crop is a similarity transform, so angles carry over unchanged; points and lines are mapped with
:meth:`LegCrop.to_original`, pixel lengths are divided by the crop's scale, and millimetres come from
the crop's own spacing (the original spacing divided by the scale). Medial is +x in every crop (a
right leg in a standard AP display), so the leg's medial direction in the original image is -x exactly
when its crop is mirrored.

The crop's lateral margin is what the OAI crops had: a child's or a wide pelvis's greater trochanter can
lie outside it. The femur then runs into the crop's lateral edge and the highest femur point lateral to
the head is on the neck, below the hip centre: when both hold, mLPFA (hip centre to trochanter tip) is
not measured, with a flag saying why. On the 12 demo-phantom legs this caught exactly the 5 legs whose
mLPFA was 11-49 degrees off; the 7 it let through were within 2.6 degrees.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from inference.core.alignment import (
    CORA_METRICS,
    AlignmentOptions,
    LegAlignment,
    LegLandmarks,
    MetricValue,
    align_label_map,
    cora_crossing,
)
from inference.core.geometry import Line
from inference.core.leg_crops import LegCrop
from inference.core.leg_lengths import LengthLandmarks
from inference.core.legs import FEMUR, AnatomicalSide, ImageSide, LegJoints

__all__ = ["TROCHANTER_CUT_OFF", "align_leg_in_crop", "leg_alignment_to_original"]

TROCHANTER_CUT_OFF = "mLPFA: the greater trochanter reaches the lateral edge of the leg crop (not measured)"
#: Columns of the crop's lateral edge (x = 0 side; the crop shows a right leg) that a cut-off femur reaches.
EDGE_PX = 2

#: Metrics whose CORA point joins these two median axes of :class:`LegLandmarks`.
_CORA_AXES = {"femoral_cora_deg": ("femoral_lower_axis", "femoral_upper_axis"),
              "tibial_cora_deg": ("tibial_upper_axis", "tibial_lower_axis")}


def align_leg_in_crop(crop_labels: NDArray[np.uint8], crop_joints: LegJoints, crop: LegCrop, *,
                      joints: LegJoints, image_shape: tuple[int, int], pixel_spacing_mm: float | None,
                      image_key: str, options: AlignmentOptions) -> LegAlignment:
    """Align the leg of ``crop_labels`` (crop grid) at ``crop_joints``; return it in original pixels.

    ``joints`` are the same joints in original pixels, with the leg's image and anatomical sides.
    """
    in_crop = LegJoints.from_array(crop_joints.as_array(), image_side="left", anatomical_side="right",
                                   variance_xy=crop_joints.variance_xy)
    spacing = None if pixel_spacing_mm is None else pixel_spacing_mm / crop.scale
    result = align_label_map(crop_labels, [in_crop], pixel_spacing_mm=spacing, image_id=image_key, options=options)
    leg = result.legs[0]
    tip = leg.landmarks.greater_trochanter_xy
    if (leg.metrics.get("mLPFA") is not None and tip is not None and tip[1] > in_crop.hip_xy[1]
            and _femur_at_lateral_edge(crop_labels, in_crop, options.gt_row_limit_frac)):
        leg = replace(leg, metrics={**leg.metrics, "mLPFA": None}, flags=(*leg.flags, TROCHANTER_CUT_OFF),
                      landmarks=replace(leg.landmarks, greater_trochanter_xy=None))
    return leg_alignment_to_original(leg, crop, joints=joints, image_shape=image_shape,
                                     cora_min_deg=options.cora_point_min_deg)


def _femur_at_lateral_edge(crop_labels: NDArray[np.uint8], joints: LegJoints, row_limit_frac: float) -> bool:
    """Whether the femur reaches the crop's lateral edge in the rows searched for the greater trochanter."""
    last_row = joints.hip_xy[1] + row_limit_frac * float(np.linalg.norm(joints.hip_xy - joints.knee_xy))
    return bool((crop_labels[: max(0, int(np.ceil(last_row))), :EDGE_PX] == FEMUR).any())


def leg_alignment_to_original(leg: LegAlignment, crop: LegCrop, *, joints: LegJoints, image_shape: tuple[int, int],
                              cora_min_deg: float) -> LegAlignment:
    """``leg`` (measured in ``crop``) in original pixels, with ``joints``' sides and joints."""
    image_side: ImageSide = joints.image_side  # type: ignore[assignment]
    anatomical_side: AnatomicalSide | None = joints.anatomical_side
    landmarks = _landmarks_to_original(leg.landmarks, crop)
    metrics = {name: _metric_to_original(value, crop) for name, value in leg.metrics.items()}
    height, width = image_shape
    for name in CORA_METRICS:
        if metrics.get(name) is not None:
            first, second = (getattr(landmarks, axis) for axis in _CORA_AXES[name])
            metrics[name] = replace(metrics[name], point_xy=cora_crossing(
                first, second, metrics[name].value, width=width, height=height, min_deg=cora_min_deg))
    return replace(
        leg,
        image_side=image_side,
        anatomical_side=anatomical_side,
        joints=joints,
        medial_sign=None if leg.medial_sign is None else (-leg.medial_sign if crop.mirrored else leg.medial_sign),
        metrics=metrics,
        landmarks=landmarks,
        length_landmarks=LengthLandmarks(**{name: _point(getattr(leg.length_landmarks, name), crop) for name in
                                            ("femoral_head_apex", "medial_knee_joint_line",
                                             "lateral_knee_joint_line")}),
    )


def _point(point: NDArray[np.float64] | None, crop: LegCrop) -> NDArray[np.float64] | None:
    if point is None:
        return None
    points = np.asarray(point, dtype=np.float64)
    return crop.to_original(points.reshape(-1, 2)).reshape(points.shape)


def _line(line: Line | None, crop: LegCrop) -> Line | None:
    if line is None:
        return None
    direction = line.direction_xy * np.array([-1.0 if crop.mirrored else 1.0, 1.0])
    return Line(crop.to_original(line.point_xy)[0], direction)


def _landmarks_to_original(marks: LegLandmarks, crop: LegCrop) -> LegLandmarks:
    lines = ("femoral_joint_line", "tibial_plateau_line", "plafond_line", "femoral_upper_axis", "femoral_lower_axis",
             "femoral_neck_axis", "tibial_upper_axis", "tibial_lower_axis")
    points = ("condyle_points_xy", "greater_trochanter_xy", "tibia_reference_xy")
    return replace(
        marks,
        **{name: _line(getattr(marks, name), crop) for name in lines},
        **{name: _point(getattr(marks, name), crop) for name in points},
        head_radius_px=None if marks.head_radius_px is None else marks.head_radius_px / crop.scale,
    )


def _metric_to_original(metric: MetricValue | None, crop: LegCrop) -> MetricValue | None:
    if metric is None:
        return None
    value_px = None if metric.value_px is None else metric.value_px / crop.scale
    if metric.unit != "px":  # degrees are invariant; millimetres were measured with the crop's spacing
        return replace(metric, value_px=value_px)
    k = 1.0 / crop.scale
    return replace(metric, value=metric.value * k, sd=metric.sd * k, p2_5=metric.p2_5 * k,
                   p97_5=metric.p97_5 * k, mean=metric.mean * k, value_px=value_px)

