"""Tests of training.core.kfold (§1.6)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.core.kfold import grouped_kfold


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=8, max_size=80), st.integers(0, 1000))
def test_no_patient_in_two_folds_and_balanced(patients: list[int], seed: int) -> None:
    if len(set(patients)) < 4:
        with pytest.raises(ValueError):
            grouped_kfold(patients, n_folds=4, seed=seed)
        return
    a = grouped_kfold(patients, n_folds=4, seed=seed)
    ids = np.asarray(patients)
    for pid in set(patients):
        assert len(set(a.fold_of_image[ids == pid].tolist())) == 1
    largest_group = max(np.unique(ids, return_counts=True)[1])
    assert max(a.sizes) - min(a.sizes) <= largest_group
    assert sum(a.sizes) == len(patients)
    for f in range(4):
        train, test = a.train_indices(f), a.test_indices(f)
        assert set(ids[train]).isdisjoint(set(ids[test]))
        assert len(train) + len(test) == len(patients)


def test_single_image_patients_give_equal_folds() -> None:
    a = grouped_kfold([f"p{i}" for i in range(402)], n_folds=4, seed=42)
    assert sorted(a.sizes) == [100, 100, 101, 101]


def test_deterministic_and_order_invariant() -> None:
    patients = [f"p{i // 3}" for i in range(60)] + [f"q{i}" for i in range(17)]
    a = grouped_kfold(patients, seed=7)
    b = grouped_kfold(patients, seed=7)
    np.testing.assert_array_equal(a.fold_of_image, b.fold_of_image)
    perm = np.random.default_rng(0).permutation(len(patients))
    c = grouped_kfold([patients[i] for i in perm], seed=7)
    np.testing.assert_array_equal(c.fold_of_image, a.fold_of_image[perm])
    d = grouped_kfold(patients, seed=8)
    assert not np.array_equal(d.fold_of_image, a.fold_of_image)


def test_greedy_largest_first_example() -> None:
    # Groups of 5, 3, 2, 2, 1, 1: largest first to the lightest fold -> loads 5 | 3+2 | ... with
    # 2 folds: 5 -> f0, 3 -> f1, 2 -> f1, 2 -> f0, 1 -> either, 1 -> the other: sizes (7, 7).
    patients = ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"] * 2 + ["e"] + ["f"]
    a = grouped_kfold(patients, n_folds=2, seed=0)
    assert sorted(a.sizes) == [7, 7]
    assert a.fold_of_image[0] != a.fold_of_image[5]  # a and b in different folds


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        grouped_kfold(["a", "b", "c"], n_folds=4)
    with pytest.raises(ValueError):
        grouped_kfold(["a", "b"], n_folds=1)
    with pytest.raises(ValueError):
        grouped_kfold(["a", None, "b", "c"], n_folds=2)
    with pytest.raises(ValueError):
        grouped_kfold(["a", "b"], n_folds=2).test_indices(2)
