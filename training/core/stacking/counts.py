"""Vote-pattern counts: the exact reduction of a stacker's training pixels.

``counts[i, y]`` is the number of pixels with vote pattern ``i`` and label ``y``; per image both bones
are kept as a ``(2, 2**K, 2)`` array (index 0 femur, 1 tibia), and counts add over images.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inference.core.segmentation_ensemble import BONES, bone_label


def _check_pair(member_label_maps: ArrayLike, truth: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
    maps = np.asarray(member_label_maps)
    gt = np.asarray(truth)
    if maps.ndim != 3 or not 1 <= maps.shape[0] <= 20:
        raise ValueError(f"member_label_maps must have shape (K, H, W) with 1 <= K <= 20, got {maps.shape}")
    if gt.shape != maps.shape[1:]:
        raise ValueError(f"truth must have shape {maps.shape[1:]}, got {gt.shape}")
    return maps, gt


def _counts_one(maps: NDArray[Any], gt: NDArray[Any], label: int) -> NDArray[np.int64]:
    n_members = maps.shape[0]
    n_patterns = 2**n_members
    # code = (pattern << 1) | truth bit, built in place in the smallest unsigned type; the loop is
    # over members, each step one vectorised pass over the image.
    dtype = np.uint8 if n_members <= 7 else (np.uint16 if n_members <= 15 else np.uint32)
    code = np.zeros(gt.shape, dtype=dtype)
    bit = np.empty(gt.shape, dtype=dtype)
    flag = np.empty(gt.shape, dtype=bool)
    for k in range(n_members):
        np.equal(maps[k], label, out=flag)
        np.left_shift(flag, k + 1, out=bit, dtype=dtype)
        code |= bit
    np.equal(gt, label, out=flag)
    code |= flag
    counts = np.bincount(code.ravel(), minlength=2 * n_patterns)
    return counts.reshape(n_patterns, 2).astype(np.int64)


def vote_pattern_counts(
    member_label_maps: ArrayLike | Sequence[ArrayLike],
    truth: ArrayLike | Sequence[ArrayLike],
    bone: int | str,
) -> NDArray[np.int64]:
    """Count pixels per (vote pattern, truth label) for one bone.

    Parameters
    ----------
    member_label_maps : (K, H, W) integer array, or a sequence of them (one per image)
        Members' label maps in the stacker's member order.
    truth : (H, W) integer array, or a sequence of them matching ``member_label_maps``
        Ground-truth label maps (0/1/2).
    bone : int or str
        1 / ``"femur"`` or 2 / ``"tibia"``.

    Returns
    -------
    (2**K, 2) int64 array
        ``counts[i, y]``; summed over images when sequences are given.
    """
    label = bone_label(bone)
    if isinstance(member_label_maps, np.ndarray) and member_label_maps.ndim == 3:
        maps, gt = _check_pair(member_label_maps, truth)
        return _counts_one(maps, gt, label)
    maps_seq = list(member_label_maps)  # type: ignore[arg-type]
    truth_seq = list(truth)  # type: ignore[arg-type]
    if len(maps_seq) != len(truth_seq) or not maps_seq:
        raise ValueError("member_label_maps and truth must be non-empty sequences of equal length")
    total: NDArray[np.int64] | None = None
    for maps_i, truth_i in zip(maps_seq, truth_seq):
        maps, gt = _check_pair(maps_i, truth_i)
        counts = _counts_one(maps, gt, label)
        if total is not None and total.shape != counts.shape:
            raise ValueError("every image must have the same number of members K")
        total = counts if total is None else total + counts
    assert total is not None
    return total


def image_pattern_counts(member_label_maps: ArrayLike, truth: ArrayLike) -> NDArray[np.int64]:
    """Pattern counts of one image for both bones.

    Parameters
    ----------
    member_label_maps : (K, H, W) integer array
    truth : (H, W) integer array

    Returns
    -------
    (2, 2**K, 2) int64 array
        Index 0 femur, 1 tibia; see :func:`vote_pattern_counts`.
    """
    maps, gt = _check_pair(member_label_maps, truth)
    return np.stack([_counts_one(maps, gt, label) for label in BONES])


def fold_pattern_counts(
    member_label_maps: Iterable[ArrayLike], truths: Iterable[ArrayLike]
) -> NDArray[np.int64]:
    """Per-image pattern counts of a fold, streaming over images (generators are fine).

    Parameters
    ----------
    member_label_maps : iterable of (K, H, W) integer arrays
        Out-of-fold member predictions, one stack per image.
    truths : iterable of (H, W) integer arrays

    Returns
    -------
    (n_images, 2, 2**K, 2) int64 array
    """
    rows = [image_pattern_counts(m, t) for m, t in zip(member_label_maps, truths, strict=True)]
    if not rows:
        raise ValueError("a fold must hold at least one image")
    if len({r.shape for r in rows}) != 1:
        raise ValueError("every image of a fold must have the same number of members K")
    return np.stack(rows)


def _check_counts(counts: ArrayLike) -> NDArray[np.int64]:
    arr = np.asarray(counts)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"counts must have shape (2**K, 2), got {arr.shape}")
    n_members = int(round(np.log2(arr.shape[0]))) if arr.shape[0] > 0 else -1
    if n_members < 1 or 2**n_members != arr.shape[0]:
        raise ValueError(f"counts must have 2**K rows, got {arr.shape[0]}")
    if not np.issubdtype(arr.dtype, np.integer) or np.any(arr < 0):
        raise ValueError("counts must be non-negative integers")
    return arr.astype(np.int64)
