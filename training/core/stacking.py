"""Logistic stacking of segmentation members, fitted on vote-pattern counts (§3.3, §3.5, §3.6, §7).

The reduction
-------------
The stacker of bone ``c`` sees, per pixel, the K binary votes ``x_k = [pred_k == c]`` and the target
``y = [truth == c]``. The features take at most ``2**K`` distinct values, so all training pixels
reduce **exactly** to at most ``2**(K+1)`` weighted rows: one per (vote pattern, label) pair, with
the pixel count as ``sample_weight``. scikit-learn's L2-penalised logistic loss is

    (1 / S) * sum_i s_i * log(1 + exp(-y'_i (beta_0 + x_i . beta))) + ||beta||^2 / (2 * C * S),

with ``S = sum_i s_i`` (``s_i = 1`` for a per-pixel fit), so the weighted fit has the same
objective, the same optimum and the same stopping scale as the full-pixel fit. Coefficients agree to
solver tolerance (tested) while the fit costs microseconds instead of minutes.

Counts layout
-------------
``counts[i, y]`` is the number of pixels with vote pattern ``i`` (``sum_k 2**k * x_k``, member order
= coefficient order) and label ``y`` (0 negative, 1 positive). Per image, both bones are kept as a
``(2, 2**K, 2)`` array (index 0 femur, 1 tibia). Counts add over images.

Nested scheme ([C] ``logisticsStackingForMany``)
-------------------------------------------------
Per fold ``f``: assign each out-of-fold image a part ``p`` in ``0..P-1``; for each part fit a
stacker on the other parts' images and evaluate it on part ``p``'s images (held out). With F = P = 4
that is 16 stackers per bone and 16 pooled IOUs per method, the cells of Table II.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sklearn
from numpy.typing import ArrayLike, NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from inference.core.legs import FEMUR, TIBIA
from inference.core.segmentation_ensemble import (
    BONE_NAMES,
    BONES,
    DEFAULT_MODEL_ORDER,
    bone_label,
    logistic_lookup_table,
    pattern_bits,
    vote_patterns,
)
from training.core.report import STACKING, IouRecord, majority_name

logger = logging.getLogger(__name__)

STACKER_FORMAT_VERSION = 1



# ----------------------------------------------------------------------------------------------
# Pattern counts
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# Stacker
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stacker:
    """A fitted binary logistic stacker for one bone.

    Attributes
    ----------
    bone : str
        ``"femur"`` or ``"tibia"``.
    model_order : tuple of str
        Member names in coefficient order.
    coefficients : tuple of float
        ``beta_1 .. beta_K``.
    intercept : float
        ``beta_0``.
    fold, part : int or None
        Position in the nested scheme (None for a stacker fitted outside it).
    n_train_pixels, n_train_positive : int
        Training pixel counts (all, and with ``truth == bone``).
    C, max_iter, tol : float, int, float
        Logistic-regression settings used.
    fit_intercept : bool
        False for the no-intercept model of [P] (then ``intercept`` is 0).
    threshold : float
        Probability above which a pixel is the bone: 0.5 in the paper; fitted for IOU by
        ``fit_stacker(threshold="iou")``.
    n_iter : int
        Solver iterations (``n_iter_``).
    sklearn_version, numpy_version : str
        Library versions at fit time.
    """

    bone: str
    model_order: tuple[str, ...]
    coefficients: tuple[float, ...]
    intercept: float
    fold: int | None = None
    part: int | None = None
    n_train_pixels: int = 0
    n_train_positive: int = 0
    C: float = 1.0
    max_iter: int = 1000
    tol: float = 1e-6
    fit_intercept: bool = True
    threshold: float = 0.5
    n_iter: int = 0
    sklearn_version: str = field(default=sklearn.__version__)
    numpy_version: str = field(default=np.__version__)

    def __post_init__(self) -> None:
        bone_label(self.bone)
        if len(self.coefficients) != len(self.model_order):
            raise ValueError(
                f"{len(self.coefficients)} coefficients for {len(self.model_order)} members"
            )
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must lie in (0, 1), got {self.threshold}")

    @property
    def n_members(self) -> int:
        """Number of members K."""
        return len(self.model_order)

    @property
    def label(self) -> int:
        """Mask label of the bone (1 femur, 2 tibia)."""
        return bone_label(self.bone)

    def lookup_table(self) -> NDArray[np.bool_]:
        """Return the ``(2**K,)`` boolean table: pattern -> positive (probability > ``threshold``)."""
        return logistic_lookup_table(self.coefficients, self.intercept, self.threshold)

    def pattern_probabilities(self) -> NDArray[np.float64]:
        """Return the ``(2**K,)`` positive-class probabilities of every vote pattern."""
        decision = pattern_bits(self.n_members).astype(np.float64) @ np.asarray(self.coefficients)
        return 1.0 / (1.0 + np.exp(-(decision + self.intercept)))

    def predict(self, member_label_maps: ArrayLike) -> NDArray[np.bool_]:
        """Binary ``(H, W)`` mask of this bone from a ``(K, H, W)`` member stack."""
        maps = np.asarray(member_label_maps)
        if maps.ndim != 3 or maps.shape[0] != self.n_members:
            raise ValueError(f"expected a ({self.n_members}, H, W) stack, got {maps.shape}")
        return self.lookup_table()[vote_patterns(maps, self.bone)]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary (the storage format, §3.5 [D])."""
        return {
            "format_version": STACKER_FORMAT_VERSION,
            "kind": "logistic_stacker",
            "bone": self.bone,
            "model_order": list(self.model_order),
            "coefficients": [float(c) for c in self.coefficients],
            "intercept": float(self.intercept),
            "fold": self.fold,
            "part": self.part,
            "n_train_pixels": int(self.n_train_pixels),
            "n_train_positive": int(self.n_train_positive),
            "C": float(self.C),
            "max_iter": int(self.max_iter),
            "tol": float(self.tol),
            "fit_intercept": bool(self.fit_intercept),
            "threshold": float(self.threshold),
            "n_iter": int(self.n_iter),
            "sklearn_version": self.sklearn_version,
            "numpy_version": self.numpy_version,
        }

    def to_json(self) -> str:
        """Serialise to a JSON string (floats round-trip exactly). Never pickle."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stacker:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        ValueError
            On an unknown format version or kind, or inconsistent fields.
        """
        if data.get("kind") != "logistic_stacker":
            raise ValueError(f"not a logistic stacker record: kind={data.get('kind')!r}")
        if data.get("format_version") != STACKER_FORMAT_VERSION:
            raise ValueError(f"unsupported stacker format_version {data.get('format_version')!r}")
        return cls(
            bone=str(data["bone"]),
            model_order=tuple(str(m) for m in data["model_order"]),
            coefficients=tuple(float(c) for c in data["coefficients"]),
            intercept=float(data["intercept"]),
            fold=None if data.get("fold") is None else int(data["fold"]),
            part=None if data.get("part") is None else int(data["part"]),
            n_train_pixels=int(data.get("n_train_pixels", 0)),
            n_train_positive=int(data.get("n_train_positive", 0)),
            C=float(data.get("C", 1.0)),
            max_iter=int(data.get("max_iter", 1000)),
            tol=float(data.get("tol", 1e-6)),
            fit_intercept=bool(data.get("fit_intercept", True)),
            threshold=float(data.get("threshold", 0.5)),
            n_iter=int(data.get("n_iter", 0)),
            sklearn_version=str(data.get("sklearn_version", "")),
            numpy_version=str(data.get("numpy_version", "")),
        )

    @classmethod
    def from_json(cls, text: str) -> Stacker:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


def fit_stacker(
    counts: ArrayLike,
    *,
    bone: int | str,
    model_order: Sequence[str] | None = None,
    fold: int | None = None,
    part: int | None = None,
    C: float = 1.0,
    max_iter: int = 1000,
    tol: float = 1e-6,
    fit_intercept: bool = True,
    threshold: float | str = 0.5,
) -> Stacker:
    """Fit a logistic stacker on vote-pattern counts.

    Parameters
    ----------
    counts : (2**K, 2) int array
        Pixel counts per (pattern, label), e.g. from :func:`vote_pattern_counts`.
    bone : int or str
        Which bone the counts describe.
    model_order : sequence of K str, optional
        Member names; default :data:`DEFAULT_MODEL_ORDER` when K = 6, else ``member0..``.
    fold, part : int, optional
        Position in the nested scheme, stored with the stacker.
    C, max_iter, tol : float, int, float
        ``LogisticRegression`` settings; the defaults are [C]'s (L2, lbfgs, intercept).
    fit_intercept : bool
        True ([C]); False gives the no-intercept model written in [P].
    threshold : float or "iou"
        The decision probability: 0.5 ([P], [C]), or ``"iou"``: the cut-off on the fitted
        probabilities that maximises the pooled IOU of the training counts ([D], see
        :func:`iou_threshold`).

    Returns
    -------
    Stacker

    Raises
    ------
    ValueError
        If the counts hold only one class (nothing to fit).

    Notes
    -----
    Rows with zero count are dropped (weight 0 contributes nothing to the objective); the fit is
    ``LogisticRegression(C=C, solver="lbfgs", fit_intercept=True, max_iter=max_iter, tol=tol)``
    with ``sample_weight`` = counts, identical in objective to the per-pixel fit.
    """
    arr = _check_counts(counts)
    n_members = int(round(np.log2(arr.shape[0])))
    if model_order is None:
        model_order = (
            DEFAULT_MODEL_ORDER if n_members == len(DEFAULT_MODEL_ORDER) else
            tuple(f"member{k}" for k in range(n_members))
        )
    order = tuple(str(m) for m in model_order)
    if len(order) != n_members:
        raise ValueError(f"model_order has {len(order)} names for K = {n_members} members")
    n_negative, n_positive = int(arr[:, 0].sum()), int(arr[:, 1].sum())
    if n_negative == 0 or n_positive == 0:
        raise ValueError(
            f"cannot fit a {BONE_NAMES[bone_label(bone)]} stacker: the training pixels hold only "
            f"one class ({n_positive} positive, {n_negative} negative)"
        )
    bits = pattern_bits(n_members).astype(np.float64)
    pattern_idx, label = np.nonzero(arr)
    X = bits[pattern_idx]
    y = label.astype(np.int64)
    weight = arr[pattern_idx, label].astype(np.float64)
    model = LogisticRegression(
        C=C, solver="lbfgs", fit_intercept=fit_intercept, max_iter=max_iter, tol=tol
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y, sample_weight=weight)
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            logger.warning("stacker %s fold=%s part=%s: %s", bone, fold, part, w.message)
        else:
            warnings.warn(w.message, w.category, stacklevel=2)
    stacker = Stacker(
        bone=BONE_NAMES[bone_label(bone)],
        model_order=order,
        coefficients=tuple(float(c) for c in model.coef_[0]),
        intercept=float(np.ravel(model.intercept_)[0]) if fit_intercept else 0.0,
        fold=fold,
        part=part,
        n_train_pixels=n_negative + n_positive,
        n_train_positive=n_positive,
        C=float(C),
        max_iter=int(max_iter),
        tol=float(tol),
        fit_intercept=bool(fit_intercept),
        n_iter=int(np.max(model.n_iter_)),
    )
    chosen = iou_threshold(stacker.pattern_probabilities(), arr) if threshold == "iou" else float(threshold)
    return replace(stacker, threshold=chosen)


def iou_threshold(probabilities: ArrayLike, counts: ArrayLike) -> float:
    """The decision probability that maximises the pooled IOU of a pattern rule on ``counts`` ([D]).

    The paper labels a pixel positive when the stacker's probability exceeds 0.5, which maximises
    pixel accuracy; Table II reports IOU, where background pixels count for nothing. Taking the
    patterns in decreasing probability, the IOU-optimal positive set is the best prefix: a pattern
    is worth including iff its precision exceeds the IOU reached, which is below 0.5 for imperfect
    members. Patterns of equal probability go in together. The returned threshold lies halfway
    (in probability) between the last pattern taken and the first left out, so that
    ``probability > threshold`` reproduces the chosen set.

    Parameters
    ----------
    probabilities : (2**K,) array
        The stacker's probability of every vote pattern.
    counts : (2**K, 2) int array
        Training pixel counts per (pattern, label).
    """
    prob = np.asarray(probabilities, dtype=np.float64)
    arr = _check_counts(counts)
    levels = np.unique(prob)[::-1]  # distinct probabilities, highest first
    total_positive = float(arr[:, 1].sum())
    best_iou, best_k = -1.0, 1
    for k, level in enumerate(levels, start=1):
        chosen = prob >= level
        iou = float(arr[chosen, 1].sum()) / (float(arr[chosen, 0].sum()) + total_positive)
        if iou > best_iou:
            best_iou, best_k = iou, k
    lowest_taken = levels[best_k - 1]
    next_level = levels[best_k] if best_k < len(levels) else 0.0
    return float(np.clip((lowest_taken + next_level) / 2.0, 1e-12, 1.0 - 1e-12))


# ----------------------------------------------------------------------------------------------
# Parts and the nested scheme
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# Held-out evaluation
# ----------------------------------------------------------------------------------------------


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
