"""Decoding the leg localiser's heatmaps: legs, sides, boxes and the flags of every doubt."""

from __future__ import annotations

import numpy as np

from inference.core.leg_localisation import CHANNELS, decode_heatmaps, leg_box

H, W = 128, 64  # heatmap cells; one cell = 8 original pixels below


def _maps(points: dict[tuple[str, str], tuple[float, float, float]]) -> np.ndarray:
    """Heatmaps with a Gaussian of height ``score`` at cell ``(x, y)`` per (side, landmark)."""
    maps = np.zeros((len(CHANNELS), H, W))
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    for key, (x, y, score) in points.items():
        maps[CHANNELS.index(key)] = score * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 2.0)
    return maps


def _decode(maps: np.ndarray, dicom: dict | None = None):  # noqa: ANN202
    return decode_heatmaps(maps, to_original=lambda p: np.asarray(p) * 8.0, image_width=W * 8, image_height=H * 8,
                           dicom=dicom)


BILATERAL = {("right", "apex"): (16.5, 10.5, 0.9), ("right", "ankle"): (20.5, 118.5, 0.9),
             ("left", "apex"): (48.5, 10.5, 0.8), ("left", "ankle"): (44.5, 118.5, 0.85)}


def test_two_legs_by_the_display_convention() -> None:
    result = _decode(_maps(BILATERAL))
    assert [(leg.image_side, leg.anatomical_side) for leg in result.legs] == [("left", "right"), ("right", "left")]
    np.testing.assert_allclose(result.legs[0].apex_xy, (132.0, 84.0), atol=1.0)
    np.testing.assert_allclose(result.legs[1].ankle_xy, (356.0, 948.0), atol=1.0)
    assert "side_from_display_convention" in result.flags and "side_uncertain" not in result.flags
    x0, y0, x1, y1 = result.legs[0].box_xyxy
    assert y0 < 84.0 and y1 > 948.0 and x0 < 132.0 and x1 > 164.0


def test_dicom_patient_orientation_swaps_the_sides() -> None:
    result = _decode(_maps(BILATERAL), dicom={"patient_orientation": ["R", "F"]})
    assert [leg.anatomical_side for leg in result.legs] == ["left", "right"]
    assert "side_from_dicom_patient_orientation" in result.flags


def test_network_disagreeing_with_the_convention_is_flagged() -> None:
    swapped = {("left" if side == "right" else "right", name): value for (side, name), value in BILATERAL.items()}
    result = _decode(_maps(swapped))
    assert [leg.anatomical_side for leg in result.legs] == ["right", "left"]  # position decides
    assert "side_uncertain" in result.flags


def test_one_leg_side_from_anatomy_and_dicom_laterality() -> None:
    one = {("left", "apex"): (30.5, 12.5, 0.9), ("left", "ankle"): (34.5, 120.5, 0.9),
           ("right", "apex"): (30.5, 12.5, 0.1), ("right", "ankle"): (34.5, 120.5, 0.1)}
    result = _decode(_maps(one))
    assert [leg.anatomical_side for leg in result.legs] == ["left"] and "side_uncertain" not in result.flags
    tagged = _decode(_maps(one), dicom={"image_laterality": "R"})
    assert [leg.anatomical_side for leg in tagged.legs] == ["right"]
    assert any(flag.startswith("side_from_dicom_laterality") for flag in tagged.flags)


def test_one_leg_with_both_sides_alike_is_uncertain() -> None:
    alike = {("left", "apex"): (30.5, 12.5, 0.8), ("left", "ankle"): (34.5, 120.5, 0.8),
             ("right", "apex"): (30.5, 12.5, 0.7), ("right", "ankle"): (34.5, 120.5, 0.7)}
    result = _decode(_maps(alike))
    assert len(result.legs) == 1 and "side_uncertain" in result.flags


def test_no_full_length_leg() -> None:
    assert _decode(np.zeros((len(CHANNELS), H, W))).flags == ("no_leg_found",)
    short = {("right", "apex"): (16.5, 60.5, 0.9), ("right", "ankle"): (20.5, 70.5, 0.9)}
    result = _decode(_maps(short))
    assert not result.legs and "no_leg_found" in result.flags


def test_leg_box_spans_head_to_plafond() -> None:
    x0, y0, x1, y1 = leg_box(np.array([100.0, 100.0]), np.array([120.0, 900.0]))
    assert y0 < 100 and y1 > 900 and x0 < 100 and x1 > 120


def test_a_weak_single_leg_is_kept_with_a_flag_and_noise_is_not() -> None:
    weak = {("right", "apex"): (30.5, 12.5, 0.22), ("right", "ankle"): (34.5, 120.5, 0.6),
            ("left", "apex"): (30.5, 12.5, 0.1), ("left", "ankle"): (34.5, 120.5, 0.1)}
    result = _decode(_maps(weak))
    assert [leg.anatomical_side for leg in result.legs] == ["right"] and "leg_low_confidence" in result.flags
    noise = {("right", "apex"): (30.5, 12.5, 0.14), ("right", "ankle"): (34.5, 120.5, 0.13)}
    assert _decode(_maps(noise)).flags == ("no_leg_found",)
