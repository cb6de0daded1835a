"""A leg aligned in its normalised crop and mapped back agrees with the same leg aligned in the original."""

from __future__ import annotations

import numpy as np
import pytest

from inference.core.alignment import AlignmentOptions, align_label_map
from inference.core.crop_alignment import TROCHANTER_CUT_OFF, align_leg_in_crop
from inference.core.leg_crops import leg_crop_from_landmarks
from inference.core.legs import LegJoints
from inference.core.phantom import generate_phantom
from training.core.leg_samples import phantom_leg_truths

OPTIONS = AlignmentOptions(seed=0, n_draws=20, n_samples=2000)


@pytest.mark.parametrize("seed", [48, 44])  # a right leg, and a left leg whose crop is mirrored and cuts its trochanter
def test_crop_alignment_maps_back_onto_the_original(seed: int) -> None:
    phantom = generate_phantom(seed=seed, legs=1)
    leg = phantom.truth["legs"][0]
    side = leg["anatomical_side"]
    joints_xy = np.array([leg["joints"][name] for name in ("hip", "knee", "ankle")], dtype=float)
    joints = LegJoints.from_array(joints_xy, image_side=leg["image_side"], anatomical_side=side)
    truth = phantom_leg_truths(phantom)[0]
    crop = leg_crop_from_landmarks(np.array(truth.apex_xy), np.array(truth.ankle_xy), mirrored=side == "left")
    crop_labels = crop.cut_labels(phantom.label_map)
    in_crop = LegJoints.from_array(crop.to_crop(joints_xy))

    mapped = align_leg_in_crop(crop_labels, in_crop, crop, joints=joints, image_shape=phantom.image.shape,
                               pixel_spacing_mm=None, image_key="t", options=OPTIONS)
    original = align_label_map(phantom.label_map, [joints], options=OPTIONS).legs[0]

    assert (mapped.image_side, mapped.anatomical_side) == (leg["image_side"], side)
    assert mapped.medial_sign == original.medial_sign == (1 if side == "right" else -1)
    np.testing.assert_allclose(mapped.joints.as_array(), joints_xy)
    assert mapped.metrics["hka_deviation_deg"].value == pytest.approx(original.metrics["hka_deviation_deg"].value)
    for name in ("mLDFA", "MPTA", "mLDTA"):  # mask-based: each on its own grid, so close, not equal
        assert mapped.metrics[name].value == pytest.approx(original.metrics[name].value, abs=1.0), name
    for name in ("leg_length", "femur_length", "tibia_length"):  # px of the original image
        assert mapped.metrics[name].unit == "px"
        assert mapped.metrics[name].value == pytest.approx(original.metrics[name].value, rel=0.01), name
    for name in ("femoral_head_apex", "medial_knee_joint_line", "lateral_knee_joint_line"):
        got, want = getattr(mapped.length_landmarks, name), getattr(original.length_landmarks, name)
        assert np.hypot(*(got - want)) < 3.0, name
    line, want = mapped.landmarks.femoral_joint_line, original.landmarks.femoral_joint_line
    assert abs(float(line.direction_xy @ want.direction_xy)) > 0.999  # same direction, medial -> lateral
    assert float(line.direction_xy @ want.direction_xy) > 0
    assert mapped.landmarks.head_radius_px == pytest.approx(original.landmarks.head_radius_px, rel=0.1)


def test_a_trochanter_cut_off_by_the_crop_gives_no_mlpfa_and_says_why() -> None:
    phantom = generate_phantom(seed=44, legs=1)  # a left leg whose greater trochanter lies outside the crop
    leg = phantom.truth["legs"][0]
    joints_xy = np.array([leg["joints"][name] for name in ("hip", "knee", "ankle")], dtype=float)
    truth = phantom_leg_truths(phantom)[0]
    crop = leg_crop_from_landmarks(np.array(truth.apex_xy), np.array(truth.ankle_xy), mirrored=True)
    aligned = align_leg_in_crop(crop.cut_labels(phantom.label_map), LegJoints.from_array(crop.to_crop(joints_xy)),
                                crop, joints=LegJoints.from_array(joints_xy, image_side="right", anatomical_side="left"),
                                image_shape=phantom.image.shape, pixel_spacing_mm=None, image_key="t",
                                options=OPTIONS)
    assert aligned.metrics["mLPFA"] is None and TROCHANTER_CUT_OFF in aligned.flags
    assert aligned.landmarks.greater_trochanter_xy is None
    assert aligned.metrics["mLDFA"] is not None  # the rest of the femur is measured
