"""Tests of training.core.stacking (§3.3, §3.5, §3.6)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage
from sklearn.linear_model import LogisticRegression

from inference.core.segmentation_ensemble import nested_stack_predict, vote_patterns
from training.core.stacking import (
    Stacker,
    assign_parts,
    evaluate_held_out,
    fit_nested_stackers,
    fit_nested_stackers_from_counts,
    fit_stacker,
    fold_pattern_counts,
    image_pattern_counts,
    iou_threshold,
    pooled_iou_from_counts,
    vote_pattern_counts,
)

# Member quality: (width bias, boundary jitter, blob rate); member 2 is the best one.
QUALITY = (
    (0.05, 0.15, 0.010),
    (0.15, 0.40, 0.030),
    (-0.02, 0.08, 0.005),
    (-0.15, 0.35, 0.030),
    (0.03, 0.12, 0.010),
    (0.20, 0.30, 0.020),
)


def _smooth(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    low = rng.standard_normal((shape[0] // cell + 2, shape[1] // cell + 2))
    field = ndimage.zoom(low, cell, order=1, prefilter=False)[: shape[0], : shape[1]]
    return field / field.std()


def simulate(rng: np.random.Generator, height: int = 128, width: int = 64):
    """Two legs (femur above tibia) and six members with boundary, blob and spurious errors."""
    yy = np.arange(height)[:, None] + 0.5
    xx = np.arange(width)[None, :] + 0.5
    legs = [(c * width + rng.normal(0, 0.02 * width), 0.06 * width * (1 + rng.normal(0, 0.1)))
            for c in (0.3, 0.7)]
    f0, f1, t0, t1 = 0.05 * height, 0.48 * height, 0.51 * height, 0.95 * height

    def bone(cx, hw, y0, y1, dw=0.0, dx=0.0):
        ends = np.exp(-(((yy - y0) / (0.05 * height)) ** 2)) + np.exp(-(((yy - y1) / (0.05 * height)) ** 2))
        return (np.abs(xx - cx - dx) < hw * (1 + 0.5 * ends) + dw) & (yy > y0) & (yy < y1)

    truth = np.zeros((height, width), np.uint8)
    for cx, hw in legs:
        truth[bone(cx, hw, f0, f1)] = 1
        truth[bone(cx, hw, t0, t1)] = 2
    near = ndimage.binary_dilation(truth > 0, iterations=2)
    scale = 0.06 * width
    maps = np.zeros((6, height, width), np.uint8)
    for k, (bias, jitter, blob) in enumerate(QUALITY):
        dw = bias * scale + jitter * scale * _smooth(rng, (height, 3), 8)[:, :1]
        for cx, hw in legs:
            dx = rng.normal(0, 0.5 * jitter * scale)
            maps[k][bone(cx, hw, f0 + rng.normal(0, 2 * jitter), f1 + rng.normal(0, jitter), dw, dx)] = 1
            maps[k][bone(cx, hw, t0 + rng.normal(0, jitter), t1 + rng.normal(0, 2 * jitter), dw, dx)] = 2
        holes = _smooth(rng, (height, width), 4)
        thr = np.quantile(holes, 1 - blob)
        maps[k][(holes > thr) & (maps[k] > 0)] = 0
        spurious = (_smooth(rng, (height, width), 4) > thr) & (maps[k] == 0) & near
        maps[k][spurious & (yy < height / 2)] = 1
        maps[k][spurious & (yy >= height / 2)] = 2
    return truth, maps


@pytest.fixture(scope="module")
def sim_fold():
    rng = np.random.default_rng(7)
    return [simulate(rng) for _ in range(12)]


def test_vote_pattern_counts_hand_computed() -> None:
    # K = 2 members on a 1 x 4 strip.
    maps = np.array([[[1, 1, 0, 2]], [[1, 0, 1, 2]]], dtype=np.uint8)
    truth = np.array([[1, 0, 1, 2]], dtype=np.uint8)
    counts = vote_pattern_counts(maps, truth, "femur")
    # patterns: col0 = 3 (label 1), col1 = 1 (label 0), col2 = 2 (label 1), col3 = 0 (label 0)
    np.testing.assert_array_equal(counts, [[1, 0], [1, 0], [0, 1], [0, 1]])
    tibia = vote_pattern_counts(maps, truth, 2)
    np.testing.assert_array_equal(tibia, [[3, 0], [0, 0], [0, 0], [0, 1]])
    # Sequences accumulate.
    np.testing.assert_array_equal(vote_pattern_counts([maps, maps], [truth, truth], 1), 2 * counts)
    np.testing.assert_array_equal(image_pattern_counts(maps, truth), np.stack([counts, tibia]))


def test_pattern_fit_matches_full_pixel_fit(sim_fold) -> None:
    truths = [t for t, _ in sim_fold[:6]]
    maps = [m for _, m in sim_fold[:6]]
    for bone in (1, 2):
        stacker = fit_stacker(vote_pattern_counts(maps, truths, bone), bone=bone)
        X = np.concatenate([(m == bone).reshape(6, -1).T for m in maps]).astype(np.float64)
        y = np.concatenate([(t == bone).ravel() for t in truths]).astype(np.int64)
        full = LogisticRegression(C=1.0, solver="lbfgs", max_iter=1000, tol=1e-6).fit(X, y)
        np.testing.assert_allclose(stacker.coefficients, full.coef_[0], atol=1e-4, rtol=0)
        assert abs(stacker.intercept - full.intercept_[0]) < 1e-4
        assert stacker.n_train_pixels == X.shape[0]
        assert stacker.n_train_positive == int(y.sum())
        # The lookup table reproduces sklearn's per-pixel predictions.
        pred_table = np.concatenate([stacker.predict(m).ravel() for m in maps])
        np.testing.assert_array_equal(pred_table, full.predict(X).astype(bool))


def test_no_intercept_option_matches_full_pixel_fit(sim_fold) -> None:
    truth, maps = sim_fold[0]
    stacker = fit_stacker(vote_pattern_counts(maps, truth, 2), bone=2, fit_intercept=False)
    X = (maps == 2).reshape(6, -1).T.astype(np.float64)
    y = (truth == 2).ravel().astype(np.int64)
    full = LogisticRegression(C=1.0, max_iter=1000, tol=1e-6, fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(stacker.coefficients, full.coef_[0], atol=1e-4, rtol=0)
    assert stacker.intercept == 0.0 and not Stacker.from_json(stacker.to_json()).fit_intercept


def test_stacked_iou_at_least_best_member_held_out(sim_fold) -> None:
    counts = fold_pattern_counts((m for _, m in sim_fold), (t for t, _ in sim_fold))
    nested = fit_nested_stackers_from_counts([counts], reference_mode=False)
    ev = evaluate_held_out(nested)
    assert len(ev.fold_parts) == 4
    for bone in ("femur", "tibia"):
        stacked = np.mean(ev.pooled[("stacking", bone)])
        members = [np.mean(ev.pooled[(m, bone)]) for m in nested.model_order]
        assert stacked >= max(members)
        assert stacked >= np.mean(ev.pooled[("majority (>3)", bone)])
        assert int(np.argmax(members)) == 2  # the simulated best member is found as best
        assert len(ev.per_image[("stacking", bone)]) == 12


def test_pooled_iou_from_counts_hand_computed() -> None:
    counts = np.array([[10, 1], [2, 3], [0, 0], [1, 7]])  # K = 2
    positive = np.array([False, True, False, True])
    # TP = 3 + 7, FP = 2 + 1, FN = 1
    assert pooled_iou_from_counts(counts, positive) == pytest.approx(10 / 14)
    assert pooled_iou_from_counts(np.zeros((4, 2), int), positive) == 0.0


def test_stacker_json_round_trip() -> None:
    counts = np.array([[50, 2], [5, 9], [6, 8], [1, 40]])
    stacker = fit_stacker(counts, bone="tibia", model_order=("a", "b"), fold=1, part=3)
    text = stacker.to_json()
    data = json.loads(text)
    assert data["bone"] == "tibia" and data["fold"] == 1 and data["part"] == 3
    assert data["model_order"] == ["a", "b"]
    again = Stacker.from_json(text)
    assert again == stacker
    np.testing.assert_array_equal(again.lookup_table(), stacker.lookup_table())
    with pytest.raises(ValueError):
        Stacker.from_json(json.dumps({**data, "format_version": 99}))


def test_stacker_threshold_round_trips_and_old_records_read_as_one_half() -> None:
    counts = np.array([[50, 2], [5, 9], [6, 8], [1, 40]])
    tuned = fit_stacker(counts, bone="femur", model_order=("a", "b"), threshold="iou")
    data = tuned.to_dict()
    assert Stacker.from_dict(data) == tuned
    del data["threshold"]
    assert Stacker.from_dict(data).threshold == 0.5
    with pytest.raises(ValueError, match="threshold"):
        Stacker.from_dict({**tuned.to_dict(), "threshold": 1.0})


def test_iou_threshold_finds_the_best_of_all_pattern_rules() -> None:
    # With probabilities ordered like the patterns' precision, the best prefix is the best of all
    # 2**(2**K) pattern rules (K = 3: 256 rules, brute force).
    rng = np.random.default_rng(5)
    for _ in range(20):
        counts = rng.integers(0, 400, size=(8, 2))
        counts[0] = [20000, rng.integers(0, 300)]  # the all-negative pattern: mostly background
        precision = (counts[:, 1] + 0.5) / (counts.sum(axis=1) + 1.0)
        threshold = iou_threshold(precision, counts)
        chosen = pooled_iou_from_counts(counts, precision > threshold)
        best = max(pooled_iou_from_counts(counts, np.array([(rule >> i) & 1 for i in range(8)], bool))
                   for rule in range(256))
        assert chosen == pytest.approx(best)


def test_iou_tuned_stacker_beats_the_half_threshold_on_its_training_counts(sim_fold) -> None:
    counts = fold_pattern_counts((m for _, m in sim_fold), (t for t, _ in sim_fold))
    for bone in (0, 1):
        half = fit_stacker(counts[:, bone].sum(axis=0), bone=bone + 1)
        tuned = fit_stacker(counts[:, bone].sum(axis=0), bone=bone + 1, threshold="iou")
        assert tuned.coefficients == half.coefficients and 0 < tuned.threshold < 1
        train = counts[:, bone].sum(axis=0)
        assert pooled_iou_from_counts(train, tuned.lookup_table()) >= pooled_iou_from_counts(train, half.lookup_table())


def test_fit_stacker_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="one class"):
        fit_stacker(np.array([[5, 0], [3, 0], [1, 0], [2, 0]]), bone=1)


def test_fit_stacker_learns_obvious_rule() -> None:
    # Member 0 is always right, member 1 is noise: coefficient 0 dominates and the table copies it.
    counts = np.array([[500, 0], [0, 500], [500, 0], [0, 500]])  # pattern bit 0 = member 0
    stacker = fit_stacker(counts, bone=1, model_order=("good", "noise"))
    assert stacker.coefficients[0] > 5 and abs(stacker.coefficients[1]) < 1e-6
    np.testing.assert_array_equal(stacker.lookup_table(), [False, True, False, True])


def test_assign_parts_reference_matches_legacy_numpy_draws() -> None:
    parts = assign_parts(92, n_parts=4, seed=42, reference_mode=True)
    np.random.seed(42)
    expected = np.random.randint(0, 4, size=92)
    np.testing.assert_array_equal(parts, expected)
    assert np.ptp(np.bincount(parts)) > 1  # unequal parts, as in [C]


def test_assign_parts_balanced() -> None:
    parts = assign_parts(10, n_parts=4, seed=3, reference_mode=False)
    assert sorted(np.bincount(parts).tolist()) == [2, 2, 3, 3]
    np.testing.assert_array_equal(parts, assign_parts(10, n_parts=4, seed=3, reference_mode=False))


def test_nested_stackers_from_label_maps_and_inference(sim_fold) -> None:
    folds = [sim_fold[:6], sim_fold[6:]]
    parts = [np.array([0, 0, 1, 1, 2, 3]), np.array([0, 1, 1, 2, 3, 3])]
    nested = fit_nested_stackers(
        [(m for _, m in fold) for fold in folds], [(t for t, _ in fold) for fold in folds],
        parts_per_fold=parts,
    )
    assert nested.n_folds == 2 and nested.n_parts == 4
    s = nested.femur[1][2]
    assert s is not None and (s.fold, s.part, s.bone) == (1, 2, "femur")
    # Stacker (1, 2) was trained on fold 1's images whose part != 2.
    expected = fit_stacker(nested.counts[1][parts[1] != 2, 0].sum(axis=0), bone=1)
    np.testing.assert_allclose(s.coefficients, expected.coefficients)
    ev = evaluate_held_out(nested)
    assert ev.fold_parts == tuple((f, p) for f in range(2) for p in range(4))
    # Held-out stacking IOU of (fold 0, part 1) equals a direct pixel count on those images.
    table = nested.femur[0][1].lookup_table()
    tp = fp = fn = 0
    for i in np.flatnonzero(parts[0] == 1):
        truth, maps = folds[0][i]
        pred = table[vote_patterns(maps, 1)]
        gt = truth == 1
        tp += int(np.sum(pred & gt))
        fp += int(np.sum(pred & ~gt))
        fn += int(np.sum(~pred & gt))
    assert ev.pooled[("stacking", "femur")][1] == pytest.approx(tp / (tp + fp + fn))
    # The 2 x 4 tables plug into the nested inference.
    truth, maps = sim_fold[0]
    result = nested_stack_predict([maps, maps], femur_tables=nested.lookup_tables("femur"),
                                  tibia_tables=nested.lookup_tables("tibia"))
    assert result.n_stackers == 8
    assert np.mean((result.labels == 1) == (truth == 1)) > 0.95
