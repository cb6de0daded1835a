"""Tests of inference.core.pruning (§4)."""

from __future__ import annotations

import numpy as np
import pytest

from inference.core.legs import LegJoints
from inference.core.pruning import leg_columns, prune_label_map


def full_leg_mask(height: int = 120, width: int = 20) -> np.ndarray:
    """Femur on every row of the top half, tibia on every row of the bottom half (cols 5..14)."""
    labels = np.zeros((height, width), dtype=np.uint8)
    labels[: height // 2, 5:15] = 1
    labels[height // 2 :, 5:15] = 2
    return labels


def rows_with(labels: np.ndarray, value: int) -> np.ndarray:
    return np.flatnonzero(np.any(labels == value, axis=1))


def test_bands_with_exact_boundaries_are_strict() -> None:
    # hip 18.5, knee 50.5, ankle 90.5 (same x): L_f = 32, L_t = 40. Margins chosen to be exact in
    # binary: femur (0.25, 0.125) -> (10.5, 54.5); tibia (0.125, 0.125) -> (45.5, 95.5).
    # Pixel row r is kept iff lo < r + 0.5 < hi, so rows 10 / 54 / 45 / 95 (centres on the bounds)
    # are removed.
    leg = LegJoints.from_array([[10, 18.5], [10, 50.5], [10, 90.5]])
    labels = np.zeros((120, 20), dtype=np.uint8)
    labels[:, 2:8] = 1
    labels[:, 12:18] = 2
    out = prune_label_map(labels, [leg], femur_margins=(0.25, 0.125), tibia_margins=(0.125, 0.125),
                          cleanup=False)
    np.testing.assert_array_equal(rows_with(out.labels, 1), np.arange(11, 54))
    np.testing.assert_array_equal(rows_with(out.labels, 2), np.arange(46, 95))
    assert out.bands[0].femur_band_y == (10.5, 54.5)
    assert out.bands[0].tibia_band_y == (45.5, 95.5)
    assert out.x_mid is None


def test_default_margins_and_reference_truncation_differ_at_the_edge() -> None:
    # hip 20, knee 50, ankle 90: femur band (17, 52.4), tibia band (46.8, 93.2) with the defaults.
    leg = LegJoints.from_array([[10, 20.0], [10, 50.0], [10, 90.0]])
    labels = np.zeros((120, 20), dtype=np.uint8)
    labels[:, 2:8] = 1
    labels[:, 12:18] = 2
    default = prune_label_map(labels, [leg], cleanup=False)
    # centres: 17 < r + .5 < 52.4 -> 17..51; 46.8 < r + .5 < 93.2 -> 47..92
    np.testing.assert_array_equal(rows_with(default.labels, 1), np.arange(17, 52))
    np.testing.assert_array_equal(rows_with(default.labels, 2), np.arange(47, 93))
    ref = prune_label_map(labels, [leg], reference_mode=True)
    # [C]: int(17) < r < int(52.4) -> 18..51; int(46.8) < r < int(93.2) -> 47..92
    np.testing.assert_array_equal(rows_with(ref.labels, 1), np.arange(18, 52))
    np.testing.assert_array_equal(rows_with(ref.labels, 2), np.arange(47, 93))


def test_two_legs_split_at_x_mid() -> None:
    labels = np.zeros((100, 40), dtype=np.uint8)
    labels[:50, :] = 1
    labels[50:, :] = 2
    left = LegJoints.from_array([[8, 20.0], [8, 50.0], [8, 80.0]], image_side="left")
    right = LegJoints.from_array([[30, 30.0], [30, 60.0], [30, 70.0]], image_side="right")
    out = prune_label_map(labels, [left, right], x_mid=15.0, cleanup=False)
    # Columns 0..14 (centres < 15) follow the left leg, 15..39 the right leg.
    np.testing.assert_array_equal(rows_with(out.labels[:, :15], 1), np.arange(17, 50))
    np.testing.assert_array_equal(rows_with(out.labels[:, 15:], 1), np.arange(27, 50))
    # L_t = 10: 59.2 < r + 0.5 < 70.8
    np.testing.assert_array_equal(rows_with(out.labels[:, 15:], 2), np.arange(59, 71))
    assert out.x_mid == 15.0 and out.flags == ()
    # No x_mid: W / 2 with a flag; reference mode ignores x_mid.
    assert prune_label_map(labels, [left, right], cleanup=False).flags == ("x_mid_defaulted_half_width",)
    assert prune_label_map(labels, [left, right], x_mid=15.0, reference_mode=True).x_mid == 20.0


def test_leg_columns_matches_reference_rule_at_half_width() -> None:
    for width in (7, 8):
        np.testing.assert_array_equal(
            leg_columns(width, width / 2, "left"), np.arange(width) < width // 2
        )
        np.testing.assert_array_equal(
            leg_columns(width, width / 2, "right"), np.arange(width) >= width // 2
        )


def test_missing_leg_left_unchanged_and_reference_empties() -> None:
    labels = full_leg_mask(width=40)
    left = LegJoints.from_array([[10, 20.0], [10, 50.0], [10, 90.0]], image_side="left")
    out = prune_label_map(labels, [left, None], x_mid=20.0, cleanup=False)
    np.testing.assert_array_equal(out.labels[:, 20:], labels[:, 20:])
    assert not np.array_equal(out.labels[:, :20], labels[:, :20])
    assert "leg_missing_not_pruned" in out.flags
    incomplete = LegJoints(np.array([30.0, 20.0]), np.array([np.nan, 50.0]), np.array([30.0, 90.0]),
                           image_side="right")
    out = prune_label_map(labels, [left, incomplete], x_mid=20.0, cleanup=False)
    np.testing.assert_array_equal(out.labels[:, 20:], labels[:, 20:])
    ref = prune_label_map(labels, [left, None], reference_mode=True)
    assert not ref.labels.any() and ref.flags == ("missing_joint_empty_mask",)


def test_cleanup_removes_small_components_and_fills_small_holes() -> None:
    labels = np.zeros((200, 60), dtype=np.uint8)
    labels[10:100, 10:50] = 1          # main femur, 3600 px
    labels[20:25, 55:58] = 1          # 15 px fragment: removed
    labels[60:70, 52:60] = 1          # 80 px fragment (< 5 % of 3496 = 174.8): removed
    labels[110:190, 10:50] = 2        # main tibia, 3200 px
    labels[150:170, 52:60] = 2        # second tibia component, 160 px = exactly 5 %: kept
    labels[40:42, 20:22] = 0          # 4 px hole (< 1 % of the femur area): filled
    labels[50:60, 25:35] = 0          # 100 px hole (> 1 %): kept
    leg = LegJoints.from_array([[30, 15.0], [30, 105.0], [30, 195.0]])
    out = prune_label_map(labels, [leg], femur_margins=(0.5, 0.5), tibia_margins=(0.5, 0.5))
    femur = out.labels == 1
    assert not femur[20:25, 55:58].any() and not femur[60:70, 52:60].any()
    assert femur[40:42, 20:22].all()
    assert not femur[50:60, 25:35].any()
    assert (out.labels[150:170, 52:60] == 2).all()
    # Reference mode: no cleanup.
    ref = prune_label_map(labels, [leg], femur_margins=(0.5, 0.5), tibia_margins=(0.5, 0.5),
                          reference_mode=True)
    np.testing.assert_array_equal(ref.labels, labels)  # every pixel is inside its band


def test_input_validation() -> None:
    leg = LegJoints.from_array([[10, 20.0], [10, 50.0], [10, 90.0]])
    with pytest.raises(ValueError):
        prune_label_map(np.full((5, 5), 3), [leg])
    with pytest.raises(ValueError):
        prune_label_map(np.zeros((5, 5), np.uint8), [leg, leg])  # two legs without sides
