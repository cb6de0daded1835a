"""Held-out evaluation of the nested stackers, majority and single members (§3.6, Table II)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inference.core.segmentation_ensemble import BONE_NAMES, BONES, pattern_bits
from training.core.report import STACKING, IouRecord, majority_name
from training.core.stacking.counts import _check_counts
from training.core.stacking.nested import NestedStackers


def pooled_iou_from_counts(counts: ArrayLike, positive: ArrayLike) -> float:
    """Pooled IOU ``TP / (TP + FP + FN)`` of a pattern rule on pattern counts.

    Parameters
    ----------
    counts : (2**K, 2) int array
    positive : (2**K,) bool array
        Which patterns the rule labels positive.

    Returns
    -------
    float
        0.0 when ``TP + FP + FN == 0``.
    """
    arr = _check_counts(counts)
    pos = np.asarray(positive, dtype=bool)
    if pos.shape != (arr.shape[0],):
        raise ValueError(f"positive must have shape ({arr.shape[0]},), got {pos.shape}")
    tp = int(arr[pos, 1].sum())
    fp = int(arr[pos, 0].sum())
    fn = int(arr[~pos, 1].sum())
    denom = tp + fp + fn
    return tp / denom if denom else 0.0


def method_tables(n_members: int, model_order: Sequence[str]) -> dict[str, NDArray[np.bool_]]:
    """Pattern rules of the non-stacking rows: majority (> K/2) and each member alone."""
    bits = pattern_bits(n_members)
    tables = {majority_name(n_members): 2 * bits.sum(axis=1) > n_members}
    for k, name in enumerate(model_order):
        tables[str(name)] = bits[:, k].astype(bool)
    return tables


@dataclass(frozen=True)
class HeldOutEvaluation:
    """Held-out IOUs of the nested scheme.

    Attributes
    ----------
    methods : tuple of str
        Row names: ``"stacking"``, the majority row, then members in model order.
    pooled : dict
        ``pooled[(method, bone)]`` = tuple of pooled IOUs, one per (fold, part) with test images,
        in fold-major order; ``bone`` is ``"femur"``/``"tibia"``.
    fold_parts : tuple of (int, int)
        The (fold, part) of each pooled value.
    per_image : dict
        ``per_image[(method, bone)]`` = tuple of per-image IOUs over all held-out images (an image
        where both prediction and truth are empty counts as 0.0, as in [C]'s ``compute_ious``).
    """

    methods: tuple[str, ...]
    pooled: dict[tuple[str, str], tuple[float, ...]]
    fold_parts: tuple[tuple[int, int], ...]
    per_image: dict[tuple[str, str], tuple[float, ...]]

    def records(self, view: str, *, per_image: bool = False) -> list[IouRecord]:
        """Rows for :func:`training.core.report.table_ii` (pooled, or per-image values)."""
        source = self.per_image if per_image else self.pooled
        return [
            IouRecord(view=view, method=method, bone=bone, values=values)
            for (method, bone), values in source.items()
        ]


def evaluate_held_out(nested: NestedStackers) -> HeldOutEvaluation:
    """Evaluate each part-``p`` stacker on part ``p``'s images only (§3.6 [D], Table II).

    Majority and the single members are evaluated on the same (fold, part) pixel sets, so all rows
    of Table II share their test sets. (fold, part) cells with no test image are skipped; a cell
    whose stacker is missing is skipped for every method.

    Parameters
    ----------
    nested : NestedStackers

    Returns
    -------
    HeldOutEvaluation

    Notes
    -----
    The IOU is per bone and binary (``[pred == c]`` vs ``[truth == c]``), as [C] computes it.
    """
    n_members = len(nested.model_order)
    rules = method_tables(n_members, nested.model_order)
    methods = (STACKING,) + tuple(rules)
    pooled: dict[tuple[str, str], list[float]] = {
        (m, BONE_NAMES[b]): [] for m in methods for b in BONES
    }
    per_image: dict[tuple[str, str], list[float]] = {k: [] for k in pooled}
    fold_parts: list[tuple[int, int]] = []
    for f, (counts, parts) in enumerate(zip(nested.counts, nested.parts)):
        for p in range(nested.n_parts):
            test = parts == p
            stackers = (nested.femur[f][p], nested.tibia[f][p])
            if not np.any(test) or any(s is None for s in stackers):
                continue
            fold_parts.append((f, p))
            for b, label in enumerate(BONES):
                stacker = stackers[b]
                assert stacker is not None
                bone = BONE_NAMES[label]
                all_rules = {STACKING: stacker.lookup_table(), **rules}
                test_counts = counts[test, b]
                for method, table in all_rules.items():
                    pooled[(method, bone)].append(pooled_iou_from_counts(test_counts.sum(axis=0), table))
                    per_image[(method, bone)].extend(
                        pooled_iou_from_counts(c, table) for c in test_counts
                    )
    return HeldOutEvaluation(
        methods=methods,
        pooled={k: tuple(v) for k, v in pooled.items()},
        fold_parts=tuple(fold_parts),
        per_image={k: tuple(v) for k, v in per_image.items()},
    )
