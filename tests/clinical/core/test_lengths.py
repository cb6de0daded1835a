"""Lengths: mm only with a scale, px plus a notice otherwise; ruler calibration."""

from __future__ import annotations

import math

import pytest

from clinical.core.lengths import Scale, present_lengths, spacing_from_reference_length

ALIGNMENT = {
    "pixel_spacing_mm": None,
    "legs": [
        {"image_side": "left", "anatomical_side": "right",
         "joints": {"hip": [100, 100], "knee": [110, 500], "ankle": [120, 900]},
         "metrics": {"MAD": {"value": 4.0, "unit": "px", "value_px": 4.0, "sd": 1.0, "p2_5": 2.0, "p97_5": 6.0}}},
        {"image_side": "right", "anatomical_side": "left",
         "joints": {"hip": [400, 100], "knee": [390, 480], "ankle": [380, 860]},
         "metrics": {"MAD": {"value": -2.0, "unit": "px", "value_px": -2.0}}},
    ],
}


def test_uncalibrated_lengths_are_pixels_with_a_notice() -> None:
    presented = present_lengths(ALIGNMENT, scale=Scale(None, "uncalibrated", "none"))
    assert presented.unit == "px" and "not calibrated" in presented.notice
    right = presented.legs[0].lengths
    assert right["MAD"].unit == "px" and right["MAD"].value == 4.0 and right["MAD"].sd == 1.0
    assert right["femur_length"].value == pytest.approx(math.hypot(10, 400))
    assert right["limb_length"].value == pytest.approx(2 * math.hypot(10, 400))
    # right minus left, anatomical sides
    left_limb = math.hypot(10, 380) * 2
    assert presented.leg_length_difference.value == pytest.approx(2 * math.hypot(10, 400) - left_limb)
    assert presented.longer_side == "right"
    assert "mm" not in str(presented.to_json())


def test_calibrated_lengths_are_millimetres_and_keep_pixels() -> None:
    presented = present_lengths(ALIGNMENT, scale=Scale(0.5, "calibrated", "ruler"))
    mad = presented.legs[0].lengths["MAD"]
    assert (mad.value, mad.unit, mad.value_px, mad.p2_5, mad.p97_5) == (2.0, "mm", 4.0, 1.0, 3.0)
    assert presented.notice is None


def test_detector_plane_spacing_shows_mm_with_the_magnification_notice() -> None:
    presented = present_lengths(ALIGNMENT, scale=Scale(0.2, "detector_plane", "dicom_imager_pixel_spacing"))
    assert presented.unit == "mm" and "magnification unknown" in presented.notice


def test_mad_reported_in_mm_by_the_alignment_is_rescaled_from_its_pixels() -> None:
    alignment = {"pixel_spacing_mm": 0.25, "legs": [{
        "image_side": "left", "anatomical_side": None,
        "joints": {"hip": [0, 0], "knee": [0, 100], "ankle": [0, 200]},
        "metrics": {"MAD": {"value": 3.0, "unit": "mm", "sd": 0.5}},
    }]}
    uncalibrated = present_lengths(alignment, scale=Scale(None, "uncalibrated", "none")).legs[0].lengths["MAD"]
    assert (uncalibrated.value, uncalibrated.unit, uncalibrated.sd) == (12.0, "px", 2.0)
    recalibrated = present_lengths(alignment, scale=Scale(0.5, "calibrated", "ruler")).legs[0].lengths["MAD"]
    assert recalibrated.value == pytest.approx(6.0)


def test_spacing_from_a_ruler() -> None:
    assert spacing_from_reference_length([[0, 0], [30, 40]], length_mm=25.0) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        spacing_from_reference_length([[0, 0], [3, 4]], length_mm=25.0)  # too short to be precise
    with pytest.raises(ValueError):
        spacing_from_reference_length([[0, 0], [30, 40]], length_mm=0.0)
    with pytest.raises(ValueError):
        Scale(None, "calibrated", "ruler")
