"""Tests of inference.core.knee_update (§2.7)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference.core.knee_update import kalman_update, knee_observation, update_knee
from inference.core.legs import LegJoints


def knee_mask(width: int = 60, col_offset: int = 0) -> np.ndarray:
    """Femur rows 10..49 x cols 20..39; tibia rows 52..90 x cols 22..37 with a spine (cols 29..31
    from row 50)."""
    labels = np.zeros((100, width), dtype=np.uint8)
    labels[10:50, 20 + col_offset : 40 + col_offset] = 1
    labels[52:91, 22 + col_offset : 38 + col_offset] = 2
    labels[50:52, 29 + col_offset : 32 + col_offset] = 2
    return labels


# Hand computation for knee_mask(): pixel centres, f_top = 10.5, f_low = 49.5, band y > 45.6
# (rows 46..49), x in 20.5..39.5 -> D = 19, x1 = 30.0. Window |x - 30| <= 1.9: cols 28..31 with tops
# 52.5, 50.5, 50.5, 50.5 -> y1 = 50.5. Variance D**2 / 16 = 22.5625.
D = 19.0
OBS = np.array([30.0, 50.5])
OBS_VAR = D**2 / 16


def test_kalman_update_is_inverse_variance_mean() -> None:
    upd = kalman_update([100.0, 200.0], [4.0, 9.0], [110.0, 190.0], [12.0, 9.0])
    x = (100 / 4 + 110 / 12) / (1 / 4 + 1 / 12)
    y = (200 / 9 + 190 / 9) / (2 / 9)
    np.testing.assert_allclose(upd.posterior_xy, [x, y])
    np.testing.assert_allclose(upd.posterior_xy, [102.5, 195.0])
    np.testing.assert_allclose(upd.gain_xy, [0.25, 0.5])
    np.testing.assert_allclose(upd.posterior_variance_xy, [1 / (1 / 4 + 1 / 12), 4.5])


@settings(max_examples=40, deadline=None)
@given(
    st.floats(0, 1000), st.floats(0, 1000), st.floats(0, 1000), st.floats(0, 1000),
    st.floats(0.01, 1e4), st.floats(0.01, 1e4),
)
def test_kalman_posterior_lies_between_and_shrinks(x0, y0, x1, y1, sp, so) -> None:
    upd = kalman_update([x0, y0], [sp, sp], [x1, y1], [so, so])
    for a, b, p in ((x0, x1, upd.posterior_xy[0]), (y0, y1, upd.posterior_xy[1])):
        assert min(a, b) - 1e-9 <= p <= max(a, b) + 1e-9
    assert np.all(upd.posterior_variance_xy <= min(sp, so) + 1e-9)


def test_knee_observation_hand_computed() -> None:
    obs = knee_observation(knee_mask())
    assert obs.width_px == D
    np.testing.assert_allclose(obs.xy, OBS)
    np.testing.assert_allclose(obs.variance_xy, [OBS_VAR, OBS_VAR])
    assert (obs.f_top, obs.f_low, obs.t_top) == (10.5, 49.5, 50.5)
    gap = knee_observation(knee_mask(), observation="joint_gap")
    np.testing.assert_allclose(gap.xy, [30.0, 0.5 * (49.5 + 50.5)])


def test_knee_update_matches_hand_computed_mean() -> None:
    prior = np.array([32.0, 54.0])
    joints = LegJoints.from_array(
        [[30.0, 5.0], prior, [30.0, 95.0]], variance_xy=np.array([[1, 1], [7.0, 22.5625], [1, 1]])
    )
    result = update_knee(joints, knee_mask())
    assert result.applied and result.flags == ()
    expected_x = (prior[0] / 7.0 + OBS[0] / OBS_VAR) / (1 / 7.0 + 1 / OBS_VAR)
    expected_y = 0.5 * (prior[1] + OBS[1])
    np.testing.assert_allclose(result.joints.knee_xy, [expected_x, expected_y])
    np.testing.assert_allclose(result.joints.variance_xy[1], [1 / (1 / 7.0 + 1 / OBS_VAR), OBS_VAR / 2])
    np.testing.assert_array_equal(result.joints.hip_xy, [30.0, 5.0])
    np.testing.assert_array_equal(result.joints.ankle_xy, [30.0, 95.0])
    np.testing.assert_array_equal(result.prior_xy, prior)


def test_variance_of_mean_option() -> None:
    joints = LegJoints.from_array([[30, 5], [32, 54], [30, 95]], variance_xy=np.full((3, 2), 40.0))
    result = update_knee(joints, knee_mask(), variance_of_mean=True, n_prior_members=4)
    np.testing.assert_allclose(result.prior_variance_xy, [10.0, 10.0])
    k = 10.0 / (10.0 + OBS_VAR)
    np.testing.assert_allclose(result.joints.knee_xy, [32 + k * (30 - 32), 54 + k * (50.5 - 54)])
    with pytest.raises(ValueError):
        update_knee(joints, knee_mask(), variance_of_mean=True)


def test_conflict_flag_still_applies() -> None:
    joints = LegJoints.from_array([[30, 5], [60.0, 54.0], [30, 95]], variance_xy=np.full((3, 2), 4.0))
    result = update_knee(joints, knee_mask(width=80))
    assert result.applied and "knee_update_conflict" in result.flags
    assert result.joints.knee_xy[0] < 60.0


@pytest.mark.parametrize(
    "edit, flag",
    [
        (lambda m: m.__setitem__(m == 2, 0), "knee_update_skipped_empty_bone"),
        (lambda m: m.__setitem__(m == 1, 0), "knee_update_skipped_empty_bone"),
        (lambda m: m.__setitem__((slice(40, 50), slice(24, 40)), 0), "knee_update_skipped_narrow_femur"),
        # a femur one row tall (a poor member's mask): no band above its lowest row
        (lambda m: (m.__setitem__(m == 1, 0), m.__setitem__((20, slice(20, 40)), 1)), "knee_update_skipped_narrow_femur"),
    ],
)
def test_skips_leave_prior_unchanged(edit, flag) -> None:
    mask = knee_mask()
    edit(mask)
    joints = LegJoints.from_array([[30, 5], [32, 54], [30, 95]], variance_xy=np.full((3, 2), 4.0))
    result = update_knee(joints, mask)
    assert not result.applied and result.flags == (flag,)
    assert result.joints is joints


def test_leg_columns_from_x_mid() -> None:
    # Left leg as knee_mask(); the right leg is a shifted copy with its femur made wider.
    labels = knee_mask(width=120)
    right = knee_mask(width=120, col_offset=60)
    labels[right > 0] = right[right > 0]
    labels[40:50, 75:84] = 1  # widen the right distal femur band
    left_obs = knee_observation(labels, x_mid=60.0, image_side="left")
    np.testing.assert_allclose(left_obs.xy, OBS)
    right_obs = knee_observation(labels, x_mid=60.0, image_side="right")
    assert right_obs.width_px == pytest.approx(83.5 - 75.5 + (99.5 - 83.5))
    joints = LegJoints.from_array([[90, 5], [92, 54], [90, 95]], image_side="right",
                                  variance_xy=np.full((3, 2), 4.0))
    result = update_knee(joints, labels, x_mid=60.0)
    assert result.observation.xy[0] > 60.0
