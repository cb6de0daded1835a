"""K-fold splits grouped by patient (§1.6).

Every image of a patient lands in the same fold, so no patient is in both the training and the
validation images of any fold (patients have several images: follow-up cases, both views). Folds
are made separately per view and task by calling :func:`grouped_kfold` on that subset.

Algorithm
---------
1. Group images by patient id.
2. Order the patients deterministically: sort their ids (as strings), then shuffle that order with
   ``numpy.random.default_rng(seed)``, so the result depends only on the set of (image, patient)
   pairs and the seed, not on the input order of patients.
3. Stable-sort the shuffled patients by group size, largest first, and give each patient to the fold
   that currently holds the fewest images (lowest fold index on ties). This greedy "largest first"
   rule keeps fold sizes balanced: with single-image patients the sizes differ by at most one, and
   in general by at most the largest group size.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class FoldAssignment:
    """Fold of each image.

    Attributes
    ----------
    fold_of_image : (n_images,) int64 array
        Fold index ``0..n_folds-1`` of each image, in input order.
    n_folds : int
    seed : int
    """

    fold_of_image: NDArray[np.int64] = field(compare=False)
    n_folds: int
    seed: int

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of images per fold."""
        return tuple(int(n) for n in np.bincount(self.fold_of_image, minlength=self.n_folds))

    def test_indices(self, fold: int) -> NDArray[np.intp]:
        """Indices of fold ``fold``'s images (its validation / out-of-fold set)."""
        self._check_fold(fold)
        return np.flatnonzero(self.fold_of_image == fold)

    def train_indices(self, fold: int) -> NDArray[np.intp]:
        """Indices of the other folds' images (the training set of fold ``fold``'s models)."""
        self._check_fold(fold)
        return np.flatnonzero(self.fold_of_image != fold)

    def splits(self) -> list[tuple[NDArray[np.intp], NDArray[np.intp]]]:
        """``[(train_indices, test_indices)]`` for every fold, in fold order."""
        return [(self.train_indices(f), self.test_indices(f)) for f in range(self.n_folds)]

    def _check_fold(self, fold: int) -> None:
        if not 0 <= fold < self.n_folds:
            raise ValueError(f"fold must be in [0, {self.n_folds - 1}], got {fold}")


def grouped_kfold(
    patient_ids: Sequence[Hashable], *, n_folds: int = 4, seed: int = 42
) -> FoldAssignment:
    """Assign images to ``n_folds`` folds, grouped by patient, deterministic and size-balanced.

    Parameters
    ----------
    patient_ids : sequence of hashable, length n_images
        Patient id of each image (images of one patient share an id).
    n_folds : int
        F, default 4 (§1.6).
    seed : int
        Seed of the patient shuffle.

    Returns
    -------
    FoldAssignment

    Raises
    ------
    ValueError
        If ``n_folds < 2`` or there are fewer patients than folds.

    Examples
    --------
    >>> a = grouped_kfold(["p1", "p1", "p2", "p3", "p4", "p4"], n_folds=2, seed=0)
    >>> sorted(a.sizes)
    [3, 3]
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    ids = list(patient_ids)
    if any(i is None for i in ids):
        raise ValueError("patient_ids must not contain None")
    keys = [str(i) for i in ids]
    unique, inverse, group_sizes = np.unique(np.asarray(keys, dtype=object).astype(str),
                                             return_inverse=True, return_counts=True)
    if unique.size < n_folds:
        raise ValueError(f"{unique.size} patients cannot fill {n_folds} folds")
    order = np.random.default_rng(seed).permutation(unique.size)
    order = order[np.argsort(-group_sizes[order], kind="stable")]
    fold_of_patient = np.empty(unique.size, dtype=np.int64)
    load = np.zeros(n_folds, dtype=np.int64)
    for patient in order:  # one step per patient, not per pixel
        f = int(np.argmin(load))
        fold_of_patient[patient] = f
        load[f] += group_sizes[patient]
    return FoldAssignment(fold_of_patient[inverse].astype(np.int64), n_folds, seed)
