"""Tests of inference.core.metrics (§6)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference.core.legs import LegJoints
from inference.core.metrics import (
    ConfusionCounts,
    class_confusion,
    hka_abs_error,
    hka_deviation_deg,
    iou,
    normalised_distances,
    pck,
    pooled_iou,
    reference_round,
    segmentation_scores,
)

PRED = np.array([[1, 1, 1, 0], [2, 2, 0, 0]], dtype=np.uint8)
TRUTH = np.array([[1, 1, 0, 0], [2, 2, 2, 1]], dtype=np.uint8)


def test_segmentation_scores_hand_computed() -> None:
    scores = segmentation_scores(PRED, TRUTH)
    femur = scores[1]  # P = 3 px, G = 3 px, overlap 2 -> IOU 2/4
    assert femur.iou == 0.5
    assert femur.precision == pytest.approx(2 / 3) and femur.recall == pytest.approx(2 / 3)
    assert femur.f1 == pytest.approx(2 / 3)
    assert femur.fowlkes_mallows == pytest.approx(2 / 3)
    tibia = scores[2]  # P = 2, G = 3, overlap 2 -> IOU 2/3, precision 1, recall 2/3
    assert tibia.iou == pytest.approx(2 / 3)
    assert tibia.precision == 1.0 and tibia.recall == pytest.approx(2 / 3)
    assert tibia.f1 == pytest.approx(0.8)
    assert tibia.fowlkes_mallows == pytest.approx(math.sqrt(2 / 3))
    assert tibia.counts == ConfusionCounts(tp=2, fp=0, fn=1, tn=5)
    assert reference_round(tibia.iou) == 0.6667


def test_zero_division_gives_zero() -> None:
    empty = np.zeros((2, 4), dtype=np.uint8)
    only_truth = segmentation_scores(empty, TRUTH)[1]
    assert (only_truth.iou, only_truth.precision, only_truth.recall, only_truth.f1) == (0, 0, 0, 0)
    both_empty = segmentation_scores(empty, empty)[2]
    assert both_empty.iou == 0.0 and both_empty.fowlkes_mallows == 0.0
    assert iou(empty, empty, 1) == 0.0


def test_pooled_iou_sums_confusion_tables() -> None:
    a = class_confusion(PRED, TRUTH, 1)  # tp 2, fp 1, fn 1
    b = ConfusionCounts(tp=8, fp=0, fn=2, tn=0)
    assert pooled_iou([a, b]) == pytest.approx(10 / 14)
    assert (a + b).iou == pooled_iou([a, b])
    # Pooled differs from the mean of per-image IOUs.
    assert pooled_iou([a, b]) != pytest.approx((a.iou + b.iou) / 2)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_iou_is_symmetric_and_bounded(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p, g = rng.integers(0, 3, (2, 6, 5))
    for label in (1, 2):
        v = iou(p, g, label)
        assert 0.0 <= v <= 1.0 and v == iou(g, p, label)
    assert iou(p, p, 1) == (1.0 if np.any(p == 1) else 0.0)


GT = np.array([[10.0, 10.0], [12.0, 50.0], [10.0, 90.0]])


def test_ned_with_box_and_pck() -> None:
    pred = GT + [[3.0, 4.0], [0.0, 10.0], [6.0, 8.0]]  # distances 5, 10, 10
    res = normalised_distances(pred, GT, gt_box_xyxy=[0, 0, 50, 100])
    assert res.scale_px == 100.0 and res.scale_source == "box"
    np.testing.assert_allclose(res.ned, [0.05, 0.1, 0.1])
    assert pck(res.ned) == {0.05: pytest.approx(1 / 3), 0.1: 1.0, 0.2: 1.0}


def test_ned_fallback_normalisers() -> None:
    pred = GT + [[0.0, 9.6], [0.0, 0.0], [0.0, 0.0]]
    # Points box: extent (2, 80) padded by 10 % per side -> (2.4, 96): s = 96.
    res = normalised_distances(pred, GT)
    assert res.scale_source == "points_box" and res.scale_px == pytest.approx(96.0)
    np.testing.assert_allclose(res.ned, [0.1, 0.0, 0.0])
    res = normalised_distances(pred, GT, normaliser="hip_ankle")
    assert res.scale_px == 80.0
    np.testing.assert_allclose(res.ned, [0.12, 0.0, 0.0])


def test_pck_counts_missing_as_miss() -> None:
    assert pck([0.01, np.nan, 0.3, 0.1], thresholds=(0.1,)) == {0.1: 0.5}


def _leg(knee_dx: float, side: str) -> LegJoints:
    return LegJoints.from_array([[0.0, 0.0], [knee_dx, 100.0], [0.0, 200.0]], image_side=side)


def test_hka_deviation_sign_convention() -> None:
    delta = 2 * math.degrees(math.atan(10 / 100))  # 11.42 deg
    assert hka_deviation_deg(_leg(0.0, "left")) == 0.0
    # Image-left leg: medial is +x. Knee at -x is lateral -> varus -> negative.
    assert hka_deviation_deg(_leg(-10.0, "left")) == pytest.approx(-delta)
    assert hka_deviation_deg(_leg(10.0, "left")) == pytest.approx(delta)
    # Mirror image: image-right leg, knee at +x is lateral -> varus.
    assert hka_deviation_deg(_leg(10.0, "right")) == pytest.approx(-delta)
    with pytest.raises(ValueError):
        hka_deviation_deg(np.array([[0.0, 0.0], [5.0, 100.0], [0.0, 200.0]]))


def test_hka_abs_error() -> None:
    delta = 2 * math.degrees(math.atan(10 / 100))
    err = hka_abs_error(_leg(-10.0, "left"), _leg(0.0, "left"))
    assert err.hka_pred_deg == pytest.approx(180 - delta) and err.hka_gt_deg == 180.0
    assert err.abs_error_deg == pytest.approx(delta)
    assert err.deviation_abs_error_deg == pytest.approx(delta)
    # Varus vs valgus of the same size: HKA error 0 (spec), signed deviation error 2 delta.
    err = hka_abs_error(_leg(-10.0, "left"), _leg(10.0, "left"))
    assert err.abs_error_deg == pytest.approx(0.0, abs=1e-12)
    assert err.deviation_abs_error_deg == pytest.approx(2 * delta)
    # Unknown side: the HKA error is defined, the signed one is not.
    plain = hka_abs_error(_leg(-10.0, "left").as_array(), _leg(0.0, "left").as_array())
    assert plain.abs_error_deg == pytest.approx(delta) and math.isnan(plain.deviation_abs_error_deg)
