"""Tests of hip/knee/ankle derivation from femur/tibia label maps."""

from __future__ import annotations

import numpy as np
import pytest

from inference.core.joints_from_masks import (
    derive_joints,
    derive_joints_detailed,
    fit_circle_algebraic,
    fit_circle_ransac,
    split_legs,
)
from inference.core.legs import FEMUR, TIBIA

H, W = 600, 200
HEAD_C = np.array([125.3, 60.7])  # (x, y)
HEAD_R = 18.0


def _disc(cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def _band(p: tuple[float, float], q: tuple[float, float], half: float) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    a, b = np.array(p), np.array(q)
    d = b - a
    t = np.clip(((xx - a[0]) * d[0] + (yy - a[1]) * d[1]) / (d @ d), 0, 1)
    return np.hypot(xx - (a[0] + t * d[0]), yy - (a[1] + t * d[1])) <= half


def hand_leg() -> np.ndarray:
    """A right leg (medial = +x): disc head, neck, shaft, flat plateau, flat plafond, malleolus."""
    lm = np.zeros((H, W), np.uint8)
    femur = _disc(*HEAD_C, HEAD_R) | _band((76, 92), (HEAD_C[0], HEAD_C[1]), 9.0)
    femur[80:330, 60:91] = True  # shaft
    femur[70:92, 52:70] = True  # greater trochanter (lateral)
    femur[300:330, 50:101] = True  # condyles
    lm[femur] = FEMUR
    lm[335:380, 48:102] = TIBIA  # proximal block: plateau top edge y = 335, x in [48, 102]
    lm[380:540, 62:89] = TIBIA  # shaft
    lm[540:570, 55:96] = TIBIA  # distal block: plafond y = 570, x in [55, 96]
    lm[570:585, 88:96] = TIBIA  # medial malleolus, x in [88, 96]
    return lm


KNEE = np.array([75.0, 335.0])
ANKLE = np.array([71.5, 570.0])  # lateral corner x = 55 .. malleolus inner corner x = 88


def test_disc_head_centre_is_exact_and_knee_ankle_are_the_constructed_centres() -> None:
    d = derive_joints_detailed(hand_leg())
    assert d.n_legs == 1 and d.split_source == "single"
    leg = d.legs[0]
    assert leg.medial_sign == 1 and "medial_side_inferred" in leg.flags
    assert leg.valid.all(), leg.flags
    hip, knee, ankle = leg.joints_xy
    assert np.hypot(*(hip - HEAD_C)) < 0.5
    assert abs(leg.hip_circle.radius_px - HEAD_R) < 0.5
    assert leg.hip_circle.arc_deg > 200
    assert abs(knee[0] - KNEE[0]) < 0.5 and abs(knee[1] - KNEE[1]) < 0.5
    assert abs(ankle[0] - ANKLE[0]) < 0.75 and abs(ankle[1] - ANKLE[1]) < 0.5
    np.testing.assert_array_equal(leg.box_xyxy, [48, 43, 143, 585])
    np.testing.assert_array_equal(derive_joints(hand_leg()), d.joints_xy)


def test_medial_sign_override_and_mirror_symmetry() -> None:
    lm = hand_leg()
    j = derive_joints(lm, medial_sign=1)[0]
    mirrored = derive_joints(lm[:, ::-1].copy())[0]
    expected = j.copy()
    expected[:, 0] = W - j[:, 0]
    np.testing.assert_allclose(mirrored, expected, atol=0.05)
    given = derive_joints_detailed(lm, medial_sign=1).legs[0]
    assert "medial_side_inferred" not in given.flags and given.valid.all()
    # The override is obeyed: the wrong side moves the head search to the trochanter and the
    # plafond search to the wrong malleolus side (flagged).
    wrong = derive_joints_detailed(lm, medial_sign=-1).legs[0]
    assert wrong.medial_sign == -1
    assert np.hypot(*(wrong.raw_joints_xy[0] - HEAD_C)) > 10.0
    assert not wrong.valid[2] and "ankle_plafond_tilted" in wrong.flags


def test_two_legs_split_at_the_gap_and_ordered_left_to_right() -> None:
    lm = hand_leg()
    both = np.concatenate([lm, lm[:, ::-1]], axis=1)  # patient right (image left), patient left
    d = derive_joints_detailed(both)
    assert d.n_legs == 2 and d.split_source == "gap"
    assert 102 <= d.x_mid <= 2 * W - 102
    left, right = d.legs
    assert (left.image_side, right.image_side) == ("left", "right")
    assert (left.medial_sign, right.medial_sign) == (1, -1)
    assert left.valid.all() and right.valid.all()
    np.testing.assert_allclose(right.joints_xy[:, 0], 2 * W - left.joints_xy[:, 0], atol=0.05)
    np.testing.assert_allclose(right.joints_xy[:, 1], left.joints_xy[:, 1], atol=0.05)
    # A given x_mid gives the same legs; n_legs=1 treats everything as one leg.
    np.testing.assert_allclose(derive_joints(both, x_mid=W), d.joints_xy)
    assert derive_joints(both, n_legs=1).shape == (1, 3, 2)


@pytest.mark.parametrize("seed", [2, 5])
def test_phantom_single_leg_truth_within_a_pixel(seed: int) -> None:
    from inference.core.phantom import generate_phantom

    ph = generate_phantom(seed=seed, legs=1)
    truth = np.array([[leg["joints"][k] for k in ("hip", "knee", "ankle")] for leg in ph.truth["legs"]])
    d = derive_joints_detailed(ph.label_map)
    assert d.all_valid
    assert d.legs[0].medial_sign == (1 if ph.params.legs[0].anatomical_side == "right" else -1)
    err = np.hypot(*(d.joints_xy - truth).transpose(2, 0, 1))
    assert err.max() < 2.0, err


def test_phantom_pair_as_bilateral_image() -> None:
    """A right-leg phantom and its mirror image side by side: both legs within a pixel of truth."""
    from inference.core.phantom import generate_phantom

    ph = generate_phantom(seed=3, legs=1)
    assert ph.params.legs[0].anatomical_side == "right"
    truth = np.array([ph.truth["legs"][0]["joints"][k] for k in ("hip", "knee", "ankle")])
    w = ph.label_map.shape[1]
    both = np.concatenate([ph.label_map, ph.label_map[:, ::-1]], axis=1)
    mirrored = truth.copy()
    mirrored[:, 0] = 2 * w - truth[:, 0]
    d = derive_joints_detailed(both)
    assert d.n_legs == 2 and d.all_valid
    err = np.hypot(*(d.joints_xy - np.stack([truth, mirrored])).transpose(2, 0, 1))
    assert err.max() < 2.0, err


def test_degenerate_masks_are_flagged_not_raised() -> None:
    empty = np.zeros((64, 32), np.uint8)
    assert derive_joints(empty).shape == (0, 3, 2)
    forced = derive_joints_detailed(empty, n_legs=2)
    assert forced.n_legs == 2 and np.isnan(forced.joints_xy).all()
    assert all("no_femur" in leg.flags and "no_tibia" in leg.flags for leg in forced.legs)

    femur_only = hand_leg()
    femur_only[femur_only == TIBIA] = 0
    leg = derive_joints_detailed(femur_only).legs[0]
    assert leg.valid.tolist() == [True, False, False] and "no_tibia" in leg.flags
    assert np.isnan(leg.joints_xy[1:]).all()

    specks = np.zeros((100, 40), np.uint8)
    specks[10:12, 10:12] = FEMUR
    specks[50:52, 10:12] = TIBIA
    leg = derive_joints_detailed(specks).legs[0]
    assert not leg.valid.any() and {"no_femur", "no_tibia"} <= set(leg.flags)

    no_head = hand_leg()
    no_head[no_head == FEMUR] = 0
    no_head[80:330, 60:91] = FEMUR  # a bare rectangle: no head to fit
    leg = derive_joints_detailed(no_head, medial_sign=1).legs[0]
    assert not leg.valid[0] and np.isnan(leg.joints_xy[0]).all()
    assert any(f.startswith("hip_") for f in leg.flags)
    assert leg.valid[1] and leg.valid[2]


def test_split_legs_rules() -> None:
    lm = np.zeros((10, 30), np.uint8)
    lm[:, 2:8] = FEMUR
    lm[:, 20:27] = TIBIA
    assert split_legs(lm) == (2, 14.0, "gap")
    assert split_legs(lm, n_legs=1) == (1, None, "single")
    assert split_legs(lm, x_mid=10.0) == (2, 10.0, "given")
    lm[:, 8:20] = FEMUR  # no gap any more
    n, mid, src = split_legs(lm, n_legs=2)
    assert (n, src) == (2, "two_means") and 8 < mid < 22
    assert split_legs(lm) == (1, None, "single")
    with pytest.raises(ValueError):
        split_legs(lm, n_legs=3)


def test_circle_fits() -> None:
    t = np.linspace(0, 1.5 * np.pi, 40)
    pts = np.column_stack([3.0 + 7.0 * np.cos(t), -2.0 + 7.0 * np.sin(t)])
    c, r = fit_circle_algebraic(pts)
    np.testing.assert_allclose(c, [3.0, -2.0], atol=1e-9)
    assert r == pytest.approx(7.0, abs=1e-9)
    outliers = np.column_stack([np.linspace(20, 40, 25), np.linspace(0, 5, 25)])
    fit = fit_circle_ransac(np.vstack([pts, outliers]), radius_range=(3.0, 15.0), inlier_tol=0.5)
    assert fit is not None and fit.n_inliers == 40
    np.testing.assert_allclose(fit.centre_xy, [3.0, -2.0], atol=1e-6)
    assert fit.arc_deg == pytest.approx(270.0, abs=10.0)
    with pytest.raises(ValueError):
        fit_circle_algebraic(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))
    assert fit_circle_ransac(pts[:2], radius_range=(1, 2), inlier_tol=0.1) is None
