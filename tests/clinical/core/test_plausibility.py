"""Plausibility checks on phantoms (exact anatomy) and on deliberately broken documents."""

from __future__ import annotations

import copy
from functools import lru_cache

import numpy as np
import pytest

from clinical.core.plausibility import (
    PlausibilityThresholds,
    check_laterality,
    check_symmetry,
    fit_circle,
    plausibility_checks,
)
from inference.core.phantom import Phantom, generate_phantom


@lru_cache(maxsize=None)
def phantom(seed: int, legs: int) -> Phantom:
    return generate_phantom(seed=seed, legs=legs)


def _codes(flags) -> list[str]:  # noqa: ANN001
    return [flag.code for flag in flags]


def _moved(alignment: dict, joint: str, dx: float, dy: float, *, leg: int = 0) -> dict:
    out = copy.deepcopy(alignment)
    x, y = out["legs"][leg]["joints"][joint]
    out["legs"][leg]["joints"][joint] = [x + dx, y + dy]
    return out


@pytest.mark.parametrize("seed", [1, 4, 7])
def test_phantom_anatomy_passes_the_single_leg_checks(seed: int) -> None:
    ph = phantom(seed, 1)
    assert plausibility_checks(ph.truth, document=ph.labelme) == []


def test_two_leg_phantom_outline_checks_pass_with_asymmetry_allowed() -> None:
    ph = phantom(2, 2)
    lenient = PlausibilityThresholds(angle_difference_deg=90.0)
    assert plausibility_checks(ph.truth, document=ph.labelme, laterality="B", thresholds=lenient) == []


def test_circle_fit_ignores_a_neck_attached_to_the_circle() -> None:
    angles = np.linspace(0.3, 2 * np.pi - 0.3, 200)
    arc = np.column_stack([50 + 20 * np.cos(angles), 80 + 20 * np.sin(angles)])
    neck = np.column_stack([np.linspace(70, 110, 40), np.full(40, 86.0)])
    fit = fit_circle(np.vstack([arc, neck]))
    assert fit.centre_xy == pytest.approx([50, 80], abs=0.05)  # neck points within 1.5 px of the rim stay
    assert fit.radius == pytest.approx(20, abs=0.05)
    assert fit.arc_deg == pytest.approx(360 - np.degrees(0.6), abs=1.0)


def test_swapped_joints_break_the_joint_order() -> None:
    ph = phantom(1, 1)
    broken = copy.deepcopy(ph.truth)
    joints = broken["legs"][0]["joints"]
    joints["knee"], joints["ankle"] = joints["ankle"], joints["knee"]
    assert "joint_order" in _codes(plausibility_checks(broken))


def test_knee_far_from_the_joint_is_outside_the_bones() -> None:
    ph = phantom(1, 1)
    codes = _codes(plausibility_checks(_moved(ph.truth, "knee", 0, -250), document=ph.labelme))
    assert "knee_outside_bones" in codes


def test_hip_point_off_the_head_centre_is_flagged() -> None:
    ph = phantom(1, 1)
    flags = plausibility_checks(_moved(ph.truth, "hip", 12, 6), document=ph.labelme)
    assert "hip_off_head_centre" in _codes(flags)
    [flag] = [f for f in flags if f.code == "hip_off_head_centre"]
    assert flag.leg == ph.truth["legs"][0]["image_side"] and "radii" in flag.message


def test_flattened_head_fails_the_circle_fit() -> None:
    ph = phantom(1, 1)
    document = copy.deepcopy(ph.labelme)
    hip = np.asarray(ph.truth["legs"][0]["joints"]["hip"])
    for shape in document["shapes"]:
        if shape["label"] == "femur":
            pts = np.asarray(shape["points"])
            near = np.linalg.norm(pts - hip, axis=1) < 60
            pts[near, 1] = hip[1] + (pts[near, 1] - hip[1]) * 0.55  # squash the head vertically
            shape["points"] = pts.tolist()
    codes = _codes(plausibility_checks(ph.truth, document=document))
    assert "femoral_head_arc_short" in codes


def test_symmetry_thresholds() -> None:
    left = {"joints": {"hip": [0, 0], "knee": [0, 400], "ankle": [0, 800]},
            "metrics": {"mLDFA": {"value": 87.0}, "MPTA": {"value": 87.0}}}
    right = {"joints": {"hip": [300, 0], "knee": [300, 330], "ankle": [300, 730]},
             "metrics": {"mLDFA": {"value": 99.0}, "MPTA": {"value": 88.0}}}
    flags = check_symmetry([left, right])
    assert _codes(flags) == ["length_asymmetry", "angle_asymmetry"]
    assert "femur" in flags[0].message and "mLDFA" in flags[1].message


def test_laterality_tag_against_the_legs_found() -> None:
    one = [{"image_side": "left", "anatomical_side": "right", "flags": ["anatomical_side_inferred: ..."]}]
    assert check_laterality(one, "R") == []
    [mismatch] = check_laterality(one, "L")
    assert mismatch.code == "laterality_mismatch" and "inferred" in mismatch.message
    assert _codes(check_laterality(one, "B")) == ["laterality_leg_count"]
    assert _codes(check_laterality(one + one, "right")) == ["laterality_leg_count"]
    assert check_laterality(one, None) == [] and check_laterality(one, "unknown") == []
