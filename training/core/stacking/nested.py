"""The nested scheme: parts of each fold and the F x P stackers per bone ([C] ``logisticsStackingForMany``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inference.core.legs import FEMUR, TIBIA
from inference.core.segmentation_ensemble import BONE_NAMES, BONES, bone_label
from training.core.stacking.counts import fold_pattern_counts
from training.core.stacking.stacker import Stacker, fit_stacker

logger = logging.getLogger(__name__)


def assign_parts(
    n_images: int, *, n_parts: int = 4, seed: int = 42, reference_mode: bool = True
) -> NDArray[np.int64]:
    """Assign each image of a fold to a part ``0..n_parts-1``.

    Parameters
    ----------
    n_images : int
    n_parts : int
        P, default 4.
    seed : int
        Default 42 as in [C].
    reference_mode : bool
        True (default, the published scheme): independent uniform draws, exactly
        ``np.random.seed(seed); np.random.randint(0, n_parts, size=n_images)`` as in [C]; parts are
        random and **unequal** (a part can even be empty for small folds). False: balanced parts
        (sizes differ by at most one) from a seeded permutation.

    Returns
    -------
    (n_images,) int64 array
    """
    if n_images < 0 or n_parts < 1:
        raise ValueError(f"need n_images >= 0 and n_parts >= 1, got {n_images}, {n_parts}")
    rng = np.random.RandomState(seed)  # legacy generator: same stream as np.random.seed(seed)
    if reference_mode:
        return rng.randint(0, n_parts, size=n_images).astype(np.int64)
    parts = np.empty(n_images, dtype=np.int64)
    parts[rng.permutation(n_images)] = np.arange(n_images) % n_parts
    return parts


@dataclass(frozen=True)
class NestedStackers:
    """F x P stackers per bone plus what is needed to evaluate them on held-out parts.

    Attributes
    ----------
    femur, tibia : tuple of F tuples of P Stacker (or None where a part had no training images)
    parts : tuple of F (n_images_f,) int arrays
        Part of each image of each fold.
    counts : tuple of F (n_images_f, 2, 2**K, 2) int64 arrays
        Per-image pattern counts (femur, tibia).
    model_order : tuple of str
    n_parts : int
    """

    femur: tuple[tuple[Stacker | None, ...], ...]
    tibia: tuple[tuple[Stacker | None, ...], ...]
    parts: tuple[NDArray[np.int64], ...] = field(compare=False)
    counts: tuple[NDArray[np.int64], ...] = field(compare=False)
    model_order: tuple[str, ...] = ()
    n_parts: int = 4

    @property
    def n_folds(self) -> int:
        return len(self.femur)

    def stackers(self, bone: int | str) -> tuple[tuple[Stacker | None, ...], ...]:
        """The F x P stackers of ``bone``."""
        return self.femur if bone_label(bone) == FEMUR else self.tibia

    def lookup_tables(self, bone: int | str) -> NDArray[np.bool_]:
        """``(F, P, 2**K)`` tables for :func:`~inference.core.segmentation_ensemble.nested_stack_predict`.

        Raises
        ------
        ValueError
            If any (fold, part) stacker is missing.
        """
        rows = []
        for f, fold_stackers in enumerate(self.stackers(bone)):
            for p, s in enumerate(fold_stackers):
                if s is None:
                    raise ValueError(f"no stacker for fold {f}, part {p} ({BONE_NAMES[bone_label(bone)]})")
            rows.append(np.stack([s.lookup_table() for s in fold_stackers if s is not None]))
        return np.stack(rows)


def fit_nested_stackers_from_counts(
    counts_per_fold: Sequence[ArrayLike],
    *,
    model_order: Sequence[str] | None = None,
    n_parts: int = 4,
    seed: int = 42,
    reference_mode: bool = True,
    parts_per_fold: Sequence[ArrayLike] | None = None,
    C: float = 1.0,
    max_iter: int = 1000,
    tol: float = 1e-6,
    fit_intercept: bool = True,
    threshold: float | str = 0.5,
) -> NestedStackers:
    """Fit the F x P stackers per bone from per-image pattern counts.

    Parameters
    ----------
    counts_per_fold : sequence of F (n_images_f, 2, 2**K, 2) int arrays
        From :func:`fold_pattern_counts` on each fold's out-of-fold predictions.
    model_order : sequence of str, optional
    n_parts, seed, reference_mode :
        Passed to :func:`assign_parts` per fold (the seed is reset per fold, as in [C]).
    parts_per_fold : sequence of F int arrays, optional
        Explicit part assignment; overrides ``n_parts``/``seed``/``reference_mode``.
    C, max_iter, tol, fit_intercept, threshold :
        Logistic-regression settings and decision threshold (see :func:`fit_stacker`).

    Returns
    -------
    NestedStackers
        ``stackers[f][p]`` is trained on fold ``f``'s images with part != p; None when that set has
        no image or only one class.
    """
    counts_list = [np.asarray(c, dtype=np.int64) for c in counts_per_fold]
    if not counts_list:
        raise ValueError("counts_per_fold must hold at least one fold")
    for f, c in enumerate(counts_list):
        if c.ndim != 4 or c.shape[1] != 2 or c.shape[3] != 2 or c.shape[0] < 1:
            raise ValueError(f"counts_per_fold[{f}] must have shape (n_images, 2, 2**K, 2), got {c.shape}")
    if len({c.shape[2] for c in counts_list}) != 1:
        raise ValueError("every fold must have the same number of members K")
    if parts_per_fold is None:
        parts_list = [
            assign_parts(c.shape[0], n_parts=n_parts, seed=seed, reference_mode=reference_mode)
            for c in counts_list
        ]
    else:
        parts_list = [np.asarray(p, dtype=np.int64) for p in parts_per_fold]
        if len(parts_list) != len(counts_list):
            raise ValueError("parts_per_fold must hold one array per fold")
        n_parts = int(max(p.max() for p in parts_list)) + 1
        for f, (p, c) in enumerate(zip(parts_list, counts_list)):
            if p.shape != (c.shape[0],) or np.any(p < 0):
                raise ValueError(f"parts_per_fold[{f}] must be (n_images,) non-negative ints")

    per_bone: dict[int, list[tuple[Stacker | None, ...]]] = {FEMUR: [], TIBIA: []}
    for f, (c, parts) in enumerate(zip(counts_list, parts_list)):
        for b, label in enumerate(BONES):
            row: list[Stacker | None] = []
            for p in range(n_parts):
                train = c[parts != p, b].sum(axis=0)
                try:
                    row.append(
                        fit_stacker(
                            train, bone=label, model_order=model_order, fold=f, part=p,
                            C=C, max_iter=max_iter, tol=tol, fit_intercept=fit_intercept,
                            threshold=threshold,
                        )
                    )
                except ValueError as exc:
                    logger.warning("fold %d part %d %s: no stacker (%s)", f, p, BONE_NAMES[label], exc)
                    row.append(None)
            per_bone[label].append(tuple(row))
    first = next((s for s in per_bone[FEMUR][0] if s is not None), None)
    order = first.model_order if first is not None else tuple(model_order or ())
    return NestedStackers(
        femur=tuple(per_bone[FEMUR]),
        tibia=tuple(per_bone[TIBIA]),
        parts=tuple(parts_list),
        counts=tuple(counts_list),
        model_order=order,
        n_parts=n_parts,
    )


def fit_nested_stackers(
    oof_per_fold: Sequence[Iterable[ArrayLike]],
    truth_per_fold: Sequence[Iterable[ArrayLike]],
    **kwargs: Any,
) -> NestedStackers:
    """Fit F x P stackers per bone from out-of-fold member label maps.

    Parameters
    ----------
    oof_per_fold : sequence of F iterables of (K, H, W) integer arrays
        Fold ``f``'s members' predictions on fold ``f``'s images (streamed; generators are fine).
    truth_per_fold : sequence of F iterables of (H, W) integer arrays
    **kwargs
        Keyword options of :func:`fit_nested_stackers_from_counts`.

    Returns
    -------
    NestedStackers
    """
    if len(oof_per_fold) != len(truth_per_fold):
        raise ValueError("oof_per_fold and truth_per_fold must have one entry per fold")
    counts = [fold_pattern_counts(m, t) for m, t in zip(oof_per_fold, truth_per_fold)]
    return fit_nested_stackers_from_counts(counts, **kwargs)
