"""Tests of inference.core.segmentation_ensemble (§3.2, §3.4, §3.6)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from inference.core.segmentation_ensemble import (
    combine_bones,
    logistic_lookup_table,
    majority_vote,
    nested_stack_predict,
    pattern_bits,
    stack_predict,
    threshold_vote,
    vote_counts,
    vote_patterns,
)

# Six members on a 1 x 4 strip. Column votes (femur, tibia):
#   col 0: all six femur                  -> V1 = 6, V2 = 0
#   col 1: 3 femur, 3 tibia               -> V1 = 3, V2 = 3
#   col 2: 1 femur (member 5), rest bg    -> V1 = 1, V2 = 0
#   col 3: 4 tibia, 2 bg                  -> V1 = 0, V2 = 4
MAPS = np.array(
    [
        [[1, 1, 0, 2]],
        [[1, 1, 0, 2]],
        [[1, 1, 0, 2]],
        [[1, 2, 0, 2]],
        [[1, 2, 0, 0]],
        [[1, 2, 1, 0]],
    ],
    dtype=np.uint8,
)


def test_vote_counts_hand_computed() -> None:
    counts = vote_counts(MAPS)
    np.testing.assert_array_equal(counts[0], [[6, 3, 1, 0]])
    np.testing.assert_array_equal(counts[1], [[0, 3, 0, 4]])


def test_threshold_zero_is_union_and_tibia_overwrites_femur() -> None:
    # ">0": femur where any member says femur, then tibia where any says tibia (col 1 -> tibia).
    np.testing.assert_array_equal(threshold_vote(MAPS, threshold=0), [[1, 2, 1, 2]])


def test_threshold_two_tibia_overwrites() -> None:
    # ">2": V1 > 2 at cols 0, 1; V2 > 2 at cols 1, 3; col 1 passes both -> tibia.
    np.testing.assert_array_equal(threshold_vote(MAPS, threshold=2), [[1, 2, 0, 2]])


def test_threshold_five_is_intersection() -> None:
    np.testing.assert_array_equal(threshold_vote(MAPS, threshold=5), [[1, 0, 0, 0]])


def test_majority_is_greater_than_three_for_six_members() -> None:
    np.testing.assert_array_equal(majority_vote(MAPS), [[1, 0, 0, 2]])
    np.testing.assert_array_equal(majority_vote(MAPS), threshold_vote(MAPS, threshold=3))


def test_majority_odd_k_is_strict_half() -> None:
    maps = MAPS[:5]  # V1 = [5, 3, 0, 0], V2 = [0, 2, 0, 4]; > 2.5 means >= 3
    np.testing.assert_array_equal(majority_vote(maps), [[1, 1, 0, 2]])


@settings(max_examples=30, deadline=None)
@given(arrays(np.uint8, (6, 5, 7), elements=st.integers(0, 2)))
def test_union_and_intersection_properties(maps: np.ndarray) -> None:
    union = threshold_vote(maps, threshold=0)
    inter = threshold_vote(maps, threshold=5)
    any_tibia = np.any(maps == 2, axis=0)
    any_femur = np.any(maps == 1, axis=0)
    np.testing.assert_array_equal(union == 2, any_tibia)
    np.testing.assert_array_equal(union == 1, any_femur & ~any_tibia)
    np.testing.assert_array_equal(inter == 1, np.all(maps == 1, axis=0))
    np.testing.assert_array_equal(inter == 2, np.all(maps == 2, axis=0))


def test_threshold_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        threshold_vote(MAPS, threshold=6)
    with pytest.raises(ValueError):
        vote_counts(MAPS[0])


def test_vote_patterns_bits() -> None:
    femur = vote_patterns(MAPS, "femur")
    # col 0: all 6 -> 63; col 1: members 0,1,2 -> 7; col 2: member 5 -> 32; col 3: none -> 0.
    np.testing.assert_array_equal(femur, [[63, 7, 32, 0]])
    tibia = vote_patterns(MAPS, 2)
    np.testing.assert_array_equal(tibia, [[0, 8 + 16 + 32, 0, 1 + 2 + 4 + 8]])


def test_pattern_bits_and_lookup_table() -> None:
    bits = pattern_bits(3)
    np.testing.assert_array_equal(bits[5], [1, 0, 1])
    # beta0 = -1, beta = (2, 0.5, 0.6): positive iff member 0 votes, or members 1 and 2 both do.
    table = logistic_lookup_table([2.0, 0.5, 0.6], -1.0)
    np.testing.assert_array_equal(table, [False, True, False, True, False, True, True, True])


def test_stack_predict_member_copy_and_tibia_wins() -> None:
    # A stacker that copies member 0 for both bones reproduces member 0's map.
    copy0 = logistic_lookup_table([10.0, 0, 0, 0, 0, 0], -5.0)
    np.testing.assert_array_equal(
        stack_predict(MAPS, femur_table=copy0, tibia_table=copy0), MAPS[0]
    )
    always = np.ones(64, dtype=bool)
    never = np.zeros(64, dtype=bool)
    np.testing.assert_array_equal(stack_predict(MAPS, femur_table=always, tibia_table=always),
                                  np.full((1, 4), 2))
    np.testing.assert_array_equal(stack_predict(MAPS, femur_table=always, tibia_table=never),
                                  np.full((1, 4), 1))


def test_combine_bones() -> None:
    out = combine_bones([[True, True, False]], [[False, True, True]])
    np.testing.assert_array_equal(out, [[1, 2, 2]])


def test_nested_majority_of_sixteen_tie_is_negative() -> None:
    folds = [MAPS] * 4
    always = np.ones(64, dtype=bool)
    never = np.zeros(64, dtype=bool)
    # 8 of 16 femur stackers positive everywhere: a tie, so negative.
    femur_tables = [[always, always, never, never]] * 4
    tibia_tables = [[never] * 4] * 4
    result = nested_stack_predict(folds, femur_tables=femur_tables, tibia_tables=tibia_tables)
    assert result.n_stackers == 16
    np.testing.assert_array_equal(result.femur_positive, np.full((1, 4), 8))
    np.testing.assert_array_equal(result.labels, np.zeros((1, 4)))
    # 9 of 16: positive.
    femur_tables = [[always, always, never, never]] * 3 + [[always, always, always, never]]
    result = nested_stack_predict(folds, femur_tables=femur_tables, tibia_tables=tibia_tables)
    np.testing.assert_array_equal(result.labels, np.ones((1, 4)))


def test_nested_uses_each_folds_own_votes() -> None:
    copy0 = logistic_lookup_table([10.0, 0, 0, 0, 0, 0], -5.0)
    never = np.zeros(64, dtype=bool)
    # Fold 0 member 0 says femur at col 2, other folds do not: 4 of 16 -> negative there.
    fold0 = MAPS.copy()
    fold0[0, 0, 2] = 1
    folds = [fold0, MAPS, MAPS, MAPS]
    tables = np.array([[copy0] * 4] * 4)
    result = nested_stack_predict(folds, femur_tables=tables, tibia_tables=np.array([[never] * 4] * 4))
    np.testing.assert_array_equal(result.femur_positive, [[16, 16, 4, 0]])
    np.testing.assert_array_equal(result.labels, [[1, 1, 0, 0]])


def test_nested_reference_mode_uses_last_part_only() -> None:
    always = np.ones(64, dtype=bool)
    never = np.zeros(64, dtype=bool)
    result = nested_stack_predict(
        [MAPS], femur_tables=[[never, never, never, always]], tibia_tables=[[never] * 4],
        reference_mode=True,
    )
    assert result.n_stackers == 1
    np.testing.assert_array_equal(result.labels, np.ones((1, 4)))
