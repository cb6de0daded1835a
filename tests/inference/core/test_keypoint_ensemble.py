"""Tests of inference.core.keypoint_ensemble (§2.2–§2.6)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference.core.keypoint_ensemble import (
    ensemble_keypoints,
    fit_member_weights_nnls,
    robust_joint_mean,
    two_means_boundary,
)

W, H = 1000, 2000
LEFT = np.array([[300.0, 200.0], [310.0, 1000.0], [300.0, 1800.0]])
RIGHT = np.array([[700.0, 200.0], [690.0, 1000.0], [700.0, 1800.0]])
TRUTH = np.stack([LEFT, RIGHT])


def _members(n: int = 6, noise: float = 3.0, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [TRUTH + rng.normal(0, noise, TRUTH.shape) for _ in range(n)]


def test_exact_members_give_exact_joints_and_sides() -> None:
    result = ensemble_keypoints([TRUTH] * 6, image_width=W, image_height=H)
    assert [leg.joints.image_side for leg in result.legs] == ["left", "right"]
    np.testing.assert_allclose(result.leg("left").joints.as_array(), LEFT)
    np.testing.assert_allclose(result.leg("right").joints.as_array(), RIGHT)
    # Identical members: zero spread, floored at 1 px².
    np.testing.assert_array_equal(result.leg("left").joints.variance_xy, np.ones((3, 2)))
    assert result.leg("left").n_used == (6, 6, 6)
    assert result.x_mid_source == "two_means"
    assert result.x_mid == pytest.approx(500.0, abs=1.0)
    assert result.method == "robust_mean" and result.n_members == 6


def test_x_mid_from_two_boxes_and_leg_order_of_members() -> None:
    boxes = np.array([[600, 100, 820, 1900], [200, 100, 400, 1900]])
    members = [TRUTH[::-1]] + [TRUTH] * 3  # the first member lists the right leg first
    result = ensemble_keypoints(members, image_width=W, image_height=H, leg_boxes_xyxy=boxes)
    assert result.x_mid_source == "boxes"
    assert result.x_mid == pytest.approx(0.5 * (710 + 300))
    np.testing.assert_allclose(result.leg("left").joints.as_array(), LEFT)


def test_mean_and_sample_variance_hand_computed() -> None:
    offsets = np.array([-3.0, -1.0, 1.0, 3.0])
    members = [TRUTH + np.array([o, 2 * o]) for o in offsets]
    leg = ensemble_keypoints(members, image_width=W, image_height=H).leg("left")
    np.testing.assert_allclose(leg.joints.as_array(), LEFT)
    var_x = np.var(offsets, ddof=1)  # 20 / 3
    np.testing.assert_allclose(leg.joints.variance_xy, np.tile([var_x, 4 * var_x], (3, 1)))


def test_far_outlier_is_dropped() -> None:
    members = _members(6, noise=2.0, seed=1)
    members[4] = members[4].copy()
    members[4][0, 1] += [150.0, -40.0]  # left knee of member 4 is far off
    result = ensemble_keypoints(members, image_width=W, image_height=H)
    leg = result.leg("left")
    assert leg.n_used == (6, 5, 6)
    assert not leg.kept[4, 1] and leg.kept[:, 1].sum() == 5
    others = np.stack([m[0, 1] for i, m in enumerate(members) if i != 4])
    np.testing.assert_allclose(leg.joints.knee_xy, others.mean(axis=0))
    np.testing.assert_allclose(leg.joints.variance_xy[1], np.maximum(np.var(others, axis=0, ddof=1), 1))


def test_robust_joint_mean_hand_computed() -> None:
    pts = np.array([[10.0, 0], [11, 0], [12, 0], [13, 0], [100, 0]])
    # median (12, 0), d = (2, 1, 0, 1, 88), MAD_r = 1, radius = 3 * 1.4826 = 4.4478 -> drop 100.
    mean, var, kept, flags = robust_joint_mean(pts, tau_min=0.0)
    np.testing.assert_array_equal(kept, [True, True, True, True, False])
    np.testing.assert_allclose(mean, [11.5, 0.0])
    np.testing.assert_allclose(var, [5.0 / 3.0, 1.0])  # y variance 0 -> floor 1
    assert flags == ()
    # tau_min wider than the outlier distance keeps everything.
    _, _, kept, _ = robust_joint_mean(pts, tau_min=100.0)
    assert kept.all()
    # Fewer than min_keep survivors: keep all and flag.
    _, _, kept, flags = robust_joint_mean(np.array([[0.0, 0], [1, 0], [2, 0], [10, 0]]), mad_factor=0.1)
    assert kept.all() and "outlier_rejection_relaxed" in flags
    # A single point: its own position, variance floor, flagged.
    mean, var, _, flags = robust_joint_mean(np.array([[4.0, 5.0]]))
    np.testing.assert_array_equal(mean, [4, 5])
    np.testing.assert_array_equal(var, [1, 1])
    assert "single_point_variance_floor" in flags


def test_tau_min_is_one_percent_of_height() -> None:
    # A knee 15 px off is within tau_min = 20 px even though MAD_r is tiny.
    members = [TRUTH.copy() for _ in range(5)]
    members[0][0, 1, 0] += 15.0
    leg = ensemble_keypoints(members, image_width=W, image_height=H).leg("left")
    assert leg.n_used[1] == 5
    leg = ensemble_keypoints(members, image_width=W, image_height=H, tau_min_frac=0.005).leg("left")
    assert leg.n_used[1] == 4


def test_joints_named_by_vertical_order() -> None:
    scrambled = TRUTH[:, [0, 2, 1]]  # hip, ankle, knee (a YOLO-like order)
    result = ensemble_keypoints([scrambled, TRUTH, TRUTH], image_width=W, image_height=H)
    np.testing.assert_allclose(result.leg("left").joints.as_array(), LEFT)
    assert "member0_index_order_not_vertical" in result.leg("left").flags
    # Trusting the index order instead leaves member 0's knee and ankle swapped; the outlier
    # rejection then drops them (2 of 3 agree), and without it they would be averaged in.
    trusted = ensemble_keypoints([scrambled, TRUTH, TRUTH], image_width=W, image_height=H, sort_by_y=False)
    np.testing.assert_array_equal(trusted.leg("left").kept[0], [True, False, False])
    no_rejection = ensemble_keypoints([scrambled, TRUTH, TRUTH], image_width=W, image_height=H,
                                      sort_by_y=False, tau_min_frac=1.0)
    np.testing.assert_allclose(no_rejection.leg("left").joints.knee_xy, (2 * LEFT[1] + LEFT[2]) / 3)


def test_weights_select_members() -> None:
    members = [TRUTH, TRUTH + 4.0, TRUTH + 8.0]
    result = ensemble_keypoints(members, image_width=W, image_height=H, weights=[0.0, 1.0, 3.0])
    np.testing.assert_allclose(result.leg("left").joints.as_array(), LEFT + 7.0)


def test_duplicate_leg_keeps_higher_score_and_missing_side() -> None:
    second_left = LEFT + 6.0
    members = [np.stack([LEFT, second_left])] * 3
    scores = [np.array([0.2, 0.9])] * 3
    result = ensemble_keypoints(members, image_width=W, image_height=H, member_scores=scores)
    assert len(result.legs) == 1 and result.x_mid_source == "half_width"
    np.testing.assert_allclose(result.leg("left").joints.as_array(), second_left)
    assert "leg_right_missing" in result.flags
    assert "member0_duplicate_leg_dropped" in result.flags


def test_side_view_single_leg() -> None:
    members = [LEFT + d for d in (-1.0, 0.0, 1.0)]
    result = ensemble_keypoints(members, image_width=W, image_height=H, view="side")
    assert result.x_mid is None and len(result.legs) == 1
    assert result.legs[0].joints.image_side is None
    np.testing.assert_allclose(result.legs[0].joints.as_array(), LEFT)


def test_members_without_detection_are_skipped() -> None:
    result = ensemble_keypoints([TRUTH, None, np.zeros((0, 3, 2)), TRUTH], image_width=W, image_height=H)
    assert result.n_members == 4 and result.leg("left").n_members == 2
    np.testing.assert_array_equal(result.leg("left").member_index, [0, 3])


def test_reference_mode_kmeans_naming() -> None:
    members = _members(6, noise=2.0, seed=3)
    ref = ensemble_keypoints(members, image_width=W, image_height=H, reference_mode=True)
    assert ref.method == "kmeans_reference" and ref.x_mid == W / 2
    pooled = np.stack(members)  # (6, 2, 3, 2)
    np.testing.assert_allclose(ref.leg("left").joints.as_array(), pooled[:, 0].mean(axis=0), atol=1e-9)
    np.testing.assert_allclose(ref.leg("right").joints.as_array(), pooled[:, 1].mean(axis=0), atol=1e-9)
    assert ref.leg("left").n_used == (6, 6, 6)
    with pytest.raises(ValueError):
        ensemble_keypoints(members, image_width=W, image_height=H, view="side", reference_mode=True)


def test_two_means_boundary() -> None:
    boundary, n_low, n_high, sep = two_means_boundary([1.0, 2.0, 3.0, 10.0, 11.0, 12.0])
    assert (boundary, n_low, n_high, sep) == (6.5, 3, 3, 9.0)
    assert two_means_boundary([5.0, 5.0]) is None


def test_nnls_weights_hand_computed() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 1000, (40, 3, 2))
    preds = np.stack([truth + [5.0, 0.0], truth + [-5.0, 0.0], truth + [20.0, 10.0]])
    np.testing.assert_allclose(fit_member_weights_nnls(preds, truth), [0.5, 0.5, 0.0], atol=1e-6)
    exact = np.stack([truth + rng.normal(0, 5, truth.shape), truth])
    np.testing.assert_allclose(fit_member_weights_nnls(exact, truth), [0.0, 1.0], atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 6))
def test_nnls_weights_are_on_the_simplex(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0, 500, (10, 2))
    preds = truth + rng.normal(0, 1, (k, 1, 2)) * rng.uniform(1, 30, (k, 1, 1)) + rng.normal(0, 3, (k, 10, 2))
    w = fit_member_weights_nnls(preds, truth)
    assert np.all(w >= 0) and w.sum() == pytest.approx(1.0)
    # Never worse than the best single member on the fitted data.
    err = lambda p: np.sum((p - truth) ** 2)  # noqa: E731
    assert err(np.tensordot(w, preds, axes=1)) <= min(err(p) for p in preds) + 1e-6


@settings(max_examples=20, deadline=None)
@given(st.floats(-200, 200), st.floats(-200, 200))
def test_translation_equivariance(dx: float, dy: float) -> None:
    members = _members(5, noise=4.0, seed=5)
    base = ensemble_keypoints(members, image_width=W, image_height=H)
    moved = ensemble_keypoints([m + [dx, dy] for m in members], image_width=W, image_height=H,
                               leg_boxes_xyxy=[[200 + dx, 0, 400 + dx, 1], [600 + dx, 0, 800 + dx, 1]])
    for side in ("left", "right"):
        np.testing.assert_allclose(moved.leg(side).joints.as_array(),
                                   base.leg(side).joints.as_array() + [dx, dy], atol=1e-7)
