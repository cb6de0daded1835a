"""Segmentation ensemble: vote counts, threshold voting and logistic-stacking prediction.

Implements §3.2, §3.4 and §3.6 of the algorithm spec. Every function is a pure function of the
members' **argmax label maps** (values 0 background, 1 femur, 2 tibia; see
:mod:`inference.core.legs`); probabilities are never used.

Member order
------------
``label_maps`` is a ``(K, H, W)`` stack in a fixed member order (the order of the stacker
coefficients, :data:`DEFAULT_MODEL_ORDER` in the reference set-up). The **vote pattern** of a pixel
for bone ``c`` is the integer ``sum_k 2**k * [label_maps[k] == c]``, so bit ``k`` is member ``k``'s
binary vote. A stacker reduces to a boolean lookup table over the ``2**K`` patterns
(:func:`logistic_lookup_table`), and prediction is one fancy-indexing operation per bone.

Combining bones
---------------
Femur is written first and tibia second, so **tibia wins** where both are positive (§3.2, §3.4);
this matches the rasterisation order of the annotation importer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inference.core.legs import BACKGROUND, FEMUR, TIBIA

#: Member order of the reference stackers ([C] ``segMODELS``); the coefficient order.
DEFAULT_MODEL_ORDER: tuple[str, ...] = (
    "PSPNet",
    "UNet",
    "KNet",
    "FastSCNN",
    "DeepLabV3plus",
    "Segformer",
)

#: Bone labels and names, in the order used by every ``(2, ...)`` per-bone array.
BONES: tuple[int, int] = (FEMUR, TIBIA)
BONE_NAMES: dict[int, str] = {FEMUR: "femur", TIBIA: "tibia"}

_MAX_MEMBERS = 20


@runtime_checkable
class LookupTableSource(Protocol):
    """Anything that can produce a ``bool[2**K]`` pattern lookup table (e.g. a fitted stacker)."""

    def lookup_table(self) -> NDArray[np.bool_]:  # pragma: no cover - protocol
        ...


def bone_label(bone: int | str) -> int:
    """Return the mask label (1 femur, 2 tibia) of ``bone`` given as a label or a name.

    Raises
    ------
    ValueError
        If ``bone`` is neither 1/2 nor ``"femur"``/``"tibia"`` (case-insensitive).
    """
    if isinstance(bone, str):
        name = bone.strip().lower()
        for label, bone_name in BONE_NAMES.items():
            if name == bone_name:
                return label
        raise ValueError(f"unknown bone name {bone!r}; expected 'femur' or 'tibia'")
    if isinstance(bone, (int, np.integer)) and int(bone) in BONE_NAMES:
        return int(bone)
    raise ValueError(f"bone must be 1 (femur), 2 (tibia) or their names, got {bone!r}")


def _check_label_maps(label_maps: ArrayLike, *, name: str = "label_maps") -> NDArray[np.integer]:
    """Validate a ``(K, H, W)`` stack of integer label maps and return it as an array."""
    maps = np.asarray(label_maps)
    if maps.ndim != 3:
        raise ValueError(f"{name} must have shape (K, H, W), got {maps.shape}")
    if maps.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one member")
    if maps.shape[0] > _MAX_MEMBERS:
        raise ValueError(f"{name} holds {maps.shape[0]} members; at most {_MAX_MEMBERS} are supported")
    if not (np.issubdtype(maps.dtype, np.integer) or maps.dtype == np.bool_):
        raise ValueError(f"{name} must be an integer label array, got dtype {maps.dtype}")
    return maps


def _pattern_dtype(n_members: int) -> type[np.unsignedinteger]:
    return np.uint8 if n_members <= 8 else (np.uint16 if n_members <= 16 else np.uint32)


def vote_counts(label_maps: ArrayLike) -> NDArray[np.uint8]:
    """Count the member votes per pixel for femur and tibia.

    Parameters
    ----------
    label_maps : (K, H, W) integer array
        Member label maps, values in {0, 1, 2}.

    Returns
    -------
    (2, H, W) uint8 array
        ``[0]`` is ``V_1`` (femur votes) and ``[1]`` is ``V_2`` (tibia votes), each in ``0..K``.

    Notes
    -----
    ``V_c(p) = sum_k [label_maps[k, p] == c]`` (§3.2). ``V_1 + V_2 <= K`` everywhere.
    """
    maps = _check_label_maps(label_maps)
    counts = np.empty((2,) + maps.shape[1:], dtype=np.uint8)
    for i, bone in enumerate(BONES):
        # Summing K boolean planes; the loop is over members, not pixels.
        counts[i] = np.count_nonzero(maps == bone, axis=0)
    return counts


def threshold_vote(label_maps: ArrayLike, *, threshold: int) -> NDArray[np.uint8]:
    """Threshold ensemble ``">i"`` (§3.2): femur where ``V_1 > i``, then tibia where ``V_2 > i``.

    Parameters
    ----------
    label_maps : (K, H, W) integer array
        Member label maps, values in {0, 1, 2}.
    threshold : int
        ``i`` in ``0..K-1``. ``0`` is the union, ``K-1`` the intersection.

    Returns
    -------
    (H, W) uint8 array
        Label map; tibia overwrites femur where both pass (possible only when ``2 * (i + 1) <= K``).
    """
    maps = _check_label_maps(label_maps)
    n_members = maps.shape[0]
    if not isinstance(threshold, (int, np.integer)) or not 0 <= threshold < n_members:
        raise ValueError(f"threshold must be an integer in [0, {n_members - 1}], got {threshold!r}")
    counts = vote_counts(maps)
    return combine_bones(counts[0] > threshold, counts[1] > threshold)


def majority_vote(label_maps: ArrayLike) -> NDArray[np.uint8]:
    """Majority ensemble: a bone wins a pixel iff more than half of the K members vote for it.

    For K = 6 this is the ``">3"`` row of Table II (at least 4 of 6). Ties (exactly K/2) are
    negative. Because ``V_1 + V_2 <= K``, the two bones never both pass.

    Parameters
    ----------
    label_maps : (K, H, W) integer array

    Returns
    -------
    (H, W) uint8 array
    """
    maps = _check_label_maps(label_maps)
    return threshold_vote(maps, threshold=maps.shape[0] // 2)


def combine_bones(femur: ArrayLike, tibia: ArrayLike) -> NDArray[np.uint8]:
    """Combine two boolean ``(H, W)`` bone masks into a label map; tibia wins where both are set."""
    femur_mask = np.asarray(femur, dtype=bool)
    tibia_mask = np.asarray(tibia, dtype=bool)
    if femur_mask.shape != tibia_mask.shape or femur_mask.ndim != 2:
        raise ValueError(
            f"femur and tibia must be (H, W) masks of one shape, got {femur_mask.shape} and "
            f"{tibia_mask.shape}"
        )
    labels = np.full(femur_mask.shape, BACKGROUND, dtype=np.uint8)
    labels[femur_mask] = FEMUR
    labels[tibia_mask] = TIBIA
    return labels


def vote_patterns(label_maps: ArrayLike, bone: int | str) -> NDArray[np.unsignedinteger]:
    """Return the per-pixel vote pattern index of ``bone``.

    Parameters
    ----------
    label_maps : (K, H, W) integer array
        Member label maps in the stacker's member order.
    bone : int or str
        1 / ``"femur"`` or 2 / ``"tibia"``.

    Returns
    -------
    (H, W) unsigned integer array
        ``sum_k 2**k * [label_maps[k] == bone]``, in ``0 .. 2**K - 1`` (uint8 for K <= 8).
    """
    maps = _check_label_maps(label_maps)
    label = bone_label(bone)
    dtype = _pattern_dtype(maps.shape[0])
    pattern = np.zeros(maps.shape[1:], dtype=dtype)
    bit = np.empty(maps.shape[1:], dtype=dtype)
    vote = np.empty(maps.shape[1:], dtype=bool)
    for k in range(maps.shape[0]):
        # One vectorised pass per member; bit k holds member k's binary vote.
        np.equal(maps[k], label, out=vote)
        np.left_shift(vote, k, out=bit, dtype=dtype)
        pattern |= bit
    return pattern


def pattern_bits(n_members: int) -> NDArray[np.uint8]:
    """Return the ``(2**K, K)`` binary feature rows of all vote patterns (bit k = member k)."""
    if not 1 <= n_members <= _MAX_MEMBERS:
        raise ValueError(f"n_members must be in [1, {_MAX_MEMBERS}], got {n_members}")
    patterns = np.arange(2**n_members, dtype=np.int64)
    return ((patterns[:, None] >> np.arange(n_members, dtype=np.int64)) & 1).astype(np.uint8)


def logistic_lookup_table(coefficients: ArrayLike, intercept: float, threshold: float = 0.5) -> NDArray[np.bool_]:
    """Evaluate a binary logistic stacker on every vote pattern.

    Parameters
    ----------
    coefficients : (K,) array_like
        ``beta_1 .. beta_K`` in member order.
    intercept : float
        ``beta_0``.
    threshold : float
        Probability above which a pattern is positive: 0.5 is scikit-learn's ``predict`` (the
        paper); a stacker tuned for IOU stores its own (:func:`training.core.stacking.fit_stacker`).

    Returns
    -------
    (2**K,) bool array
        ``table[i]`` is True iff ``beta_0 + sum_k beta_k * bit_k(i) > logit(threshold)``.
    """
    coef = np.asarray(coefficients, dtype=np.float64)
    if coef.ndim != 1 or not np.all(np.isfinite(coef)) or not np.isfinite(intercept):
        raise ValueError("coefficients must be a finite 1-D array and intercept a finite float")
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
    decision = pattern_bits(coef.size).astype(np.float64) @ coef + float(intercept)
    return decision > float(np.log(threshold / (1.0 - threshold)))


def _as_table(source: ArrayLike | LookupTableSource, n_members: int, *, name: str) -> NDArray[np.bool_]:
    table = source.lookup_table() if isinstance(source, LookupTableSource) else source
    table = np.asarray(table)
    if table.shape != (2**n_members,):
        raise ValueError(
            f"{name} must be a lookup table of shape ({2**n_members},) for K = {n_members} members, "
            f"got {table.shape}"
        )
    return table.astype(bool)


def stack_predict(
    label_maps: ArrayLike,
    *,
    femur_table: ArrayLike | LookupTableSource,
    tibia_table: ArrayLike | LookupTableSource,
) -> NDArray[np.uint8]:
    """Apply one femur and one tibia stacker to a member stack (§3.4).

    Parameters
    ----------
    label_maps : (K, H, W) integer array
        Member label maps in the stackers' member order.
    femur_table, tibia_table : (2**K,) bool array or object with ``lookup_table()``
        Pattern lookup tables (see :func:`logistic_lookup_table`).

    Returns
    -------
    (H, W) uint8 array
        Label map; tibia wins where both stackers are positive.
    """
    maps = _check_label_maps(label_maps)
    n_members = maps.shape[0]
    femur = _as_table(femur_table, n_members, name="femur_table")[vote_patterns(maps, FEMUR)]
    tibia = _as_table(tibia_table, n_members, name="tibia_table")[vote_patterns(maps, TIBIA)]
    return combine_bones(femur, tibia)


@dataclass(frozen=True)
class NestedStackResult:
    """Output of :func:`nested_stack_predict`.

    Attributes
    ----------
    labels : (H, W) uint8 array
        Final label map (tibia wins).
    femur_positive : (H, W) uint16 array
        Number of femur stackers (of ``n_stackers``) that voted positive, per pixel.
    tibia_positive : (H, W) uint16 array
        Same for tibia.
    n_stackers : int
        Number of binary masks combined per bone (F x P, or F in reference mode).
    """

    labels: NDArray[np.uint8]
    femur_positive: NDArray[np.uint16]
    tibia_positive: NDArray[np.uint16]
    n_stackers: int


def _tables_array(
    tables: Sequence[Sequence[ArrayLike | LookupTableSource]] | ArrayLike,
    n_folds: int,
    n_members: int,
    *,
    name: str,
) -> NDArray[np.bool_]:
    if isinstance(tables, np.ndarray):
        rows = [list(tables[f]) for f in range(tables.shape[0])]
    else:
        rows = [list(fold_tables) for fold_tables in tables]  # type: ignore[arg-type]
    if len(rows) != n_folds:
        raise ValueError(f"{name} must hold one row of part stackers per fold ({n_folds}), got {len(rows)}")
    n_parts = {len(r) for r in rows}
    if len(n_parts) != 1 or 0 in n_parts:
        raise ValueError(f"{name} must hold the same, non-zero number of parts for every fold")
    return np.stack(
        [
            np.stack([_as_table(t, n_members, name=f"{name}[{f}][{p}]") for p, t in enumerate(row)])
            for f, row in enumerate(rows)
        ]
    )


def nested_stack_predict(
    fold_label_maps: Sequence[ArrayLike],
    *,
    femur_tables: Sequence[Sequence[ArrayLike | LookupTableSource]] | ArrayLike,
    tibia_tables: Sequence[Sequence[ArrayLike | LookupTableSource]] | ArrayLike,
    parts: Sequence[int] | None = None,
    reference_mode: bool = False,
) -> NestedStackResult:
    """F x P nested stacking inference on a new image (§3.6).

    Each fold ``f``'s members predict the image; each of fold ``f``'s ``P`` part-stackers is
    applied to fold ``f``'s votes, giving ``F * P`` binary masks per bone, combined by majority:
    positive iff **more than half** are positive (for 16 masks: > 8; a tie at 8 is negative).

    Parameters
    ----------
    fold_label_maps : sequence of F (K, H, W) integer arrays
        Member label maps of each fold's models, all of one shape and member order.
    femur_tables, tibia_tables : F x P nested sequences, or (F, P, 2**K) bool array
        Lookup tables or stackers (anything with ``lookup_table()``), indexed ``[fold][part]``.
    parts : sequence of int, optional
        Use only these part indices of every fold. Default: all parts.
    reference_mode : bool
        [C] behaviour: one stacker per fold, the last part (``P - 1``). With a single fold this is
        exactly the authors' ``step6`` prediction. Overrides ``parts``.

    Returns
    -------
    NestedStackResult
    """
    if len(fold_label_maps) == 0:
        raise ValueError("fold_label_maps must hold at least one fold")
    stacks = [_check_label_maps(m, name=f"fold_label_maps[{f}]") for f, m in enumerate(fold_label_maps)]
    shapes = {s.shape for s in stacks}
    if len(shapes) != 1:
        raise ValueError(f"every fold's stack must have the same (K, H, W) shape, got {sorted(shapes)}")
    n_folds = len(stacks)
    n_members = stacks[0].shape[0]
    femur = _tables_array(femur_tables, n_folds, n_members, name="femur_tables")
    tibia = _tables_array(tibia_tables, n_folds, n_members, name="tibia_tables")
    if femur.shape != tibia.shape:
        raise ValueError(f"femur and tibia tables differ in shape: {femur.shape} vs {tibia.shape}")
    n_parts = femur.shape[1]
    if reference_mode:
        selected = [n_parts - 1]
    elif parts is None:
        selected = list(range(n_parts))
    else:
        selected = [int(p) for p in parts]
        if not selected or any(not 0 <= p < n_parts for p in selected):
            raise ValueError(f"parts must be non-empty indices in [0, {n_parts - 1}], got {parts!r}")
    n_stackers = n_folds * len(selected)

    positives = []
    for bone, tables in ((FEMUR, femur), (TIBIA, tibia)):
        count = np.zeros(stacks[0].shape[1:], dtype=np.uint16)
        for f, stack in enumerate(stacks):
            # Positives per pattern summed over the selected parts; one lookup per fold and bone.
            per_pattern = tables[f, selected].sum(axis=0).astype(np.uint16)
            count += per_pattern[vote_patterns(stack, bone)]
        positives.append(count)
    labels = combine_bones(2 * positives[0] > n_stackers, 2 * positives[1] > n_stackers)
    return NestedStackResult(labels, positives[0], positives[1], n_stackers)
