"""Evaluation metrics (§6): segmentation overlap, key-point distances, HKA error.

Segmentation
------------
Per class ``c``, with ``P = [pred == c]`` and ``G = [truth == c]``: IOU ``|P∩G| / |P∪G|`` (0.0 when
the union is empty), precision ``|P∩G| / |P|``, recall ``|P∩G| / |G|``, F1 and the
Fowlkes–Mallows index ``sqrt(precision * recall)``; any ratio with a zero denominator is 0 ([D];
[C] divides by zero). Values are full-precision floats; :func:`reference_round` gives the 4-decimal
display of [C]. **Per-image** scores come from :func:`segmentation_scores`; the **pooled** IOU of a
set of images is ``TP / (TP + FP + FN)`` of the summed :class:`ConfusionCounts` (Table II cells).

Key points
----------
``NED_j = |p_hat_j - p_j| / s`` with ``s`` = max(w, h) of the ground-truth leg box ([D]); without
a box, the box of the leg's ground-truth points padded by 10 % of its width and height on each side;
as a last resort the ground-truth hip–ankle distance. ``PCK@t`` = fraction of joints with
``NED <= t``, for t in {0.05, 0.1, 0.2}.

HKA
---
``delta`` = angle from ``(N - H)`` to ``(A - N)`` in [0°, 180°]; its sign is negative (varus) when
the knee N lies lateral to the line H–A and positive (valgus) when medial ("medial" = toward the
other leg: +x for the image-left leg, −x for the image-right leg). ``HKA = 180 - |delta|``; the
error is ``|HKA_pred - HKA_gt|`` per leg (§6). This helper is deliberately local and tiny.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inference.core.legs import FEMUR, TIBIA, LegJoints

PCK_THRESHOLDS: tuple[float, ...] = (0.05, 0.1, 0.2)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def reference_round(value: float, decimals: int = 4) -> float:
    """Round for display as [C] does (4 decimals). Use only for reporting."""
    return round(float(value), decimals)


# ----------------------------------------------------------------------------------------------
# Segmentation
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfusionCounts:
    """Pixel confusion counts of a binary prediction; add them to pool over images."""

    tp: int
    fp: int
    fn: int
    tn: int

    def __add__(self, other: ConfusionCounts) -> ConfusionCounts:
        return ConfusionCounts(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    @property
    def iou(self) -> float:
        """``TP / (TP + FP + FN)``; 0.0 when the union is empty."""
        return _ratio(self.tp, self.tp + self.fp + self.fn)

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def fowlkes_mallows(self) -> float:
        return float(np.sqrt(self.precision * self.recall))


def confusion_counts(pred: ArrayLike, truth: ArrayLike) -> ConfusionCounts:
    """Confusion counts of two boolean masks of one shape."""
    p = np.asarray(pred, dtype=bool)
    g = np.asarray(truth, dtype=bool)
    if p.shape != g.shape:
        raise ValueError(f"pred and truth shapes differ: {p.shape} vs {g.shape}")
    tp = int(np.count_nonzero(p & g))
    fp = int(np.count_nonzero(p)) - tp
    fn = int(np.count_nonzero(g)) - tp
    return ConfusionCounts(tp, fp, fn, int(p.size) - tp - fp - fn)


@dataclass(frozen=True)
class ClassScores:
    """Overlap scores of one class on one image (full-precision floats)."""

    label: int
    iou: float
    precision: float
    recall: float
    f1: float
    fowlkes_mallows: float
    counts: ConfusionCounts


def class_confusion(pred_labels: ArrayLike, truth_labels: ArrayLike, label: int) -> ConfusionCounts:
    """Confusion counts of class ``label`` between two ``(H, W)`` label maps."""
    p = np.asarray(pred_labels)
    g = np.asarray(truth_labels)
    if p.shape != g.shape or p.ndim != 2:
        raise ValueError(f"label maps must be (H, W) of one shape, got {p.shape} and {g.shape}")
    return confusion_counts(p == label, g == label)


def segmentation_scores(
    pred_labels: ArrayLike, truth_labels: ArrayLike, *, labels: Sequence[int] = (FEMUR, TIBIA)
) -> dict[int, ClassScores]:
    """Per-class IOU, precision, recall, F1 and Fowlkes–Mallows of one image.

    Parameters
    ----------
    pred_labels, truth_labels : (H, W) integer arrays
    labels : sequence of int
        Classes to score (default femur and tibia).

    Returns
    -------
    dict
        ``{label: ClassScores}``.
    """
    out = {}
    for label in labels:
        c = class_confusion(pred_labels, truth_labels, label)
        out[int(label)] = ClassScores(
            int(label), c.iou, c.precision, c.recall, c.f1, c.fowlkes_mallows, c
        )
    return out


def iou(pred_labels: ArrayLike, truth_labels: ArrayLike, label: int) -> float:
    """Per-image IOU of class ``label`` (0.0 if the union is empty)."""
    return class_confusion(pred_labels, truth_labels, label).iou


def box_iou(a_xyxy: Sequence[float], b_xyxy: Sequence[float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes (0 when they do not overlap)."""
    ax0, ay0, ax1, ay1 = (float(v) for v in a_xyxy)
    bx0, by0, bx1, by1 = (float(v) for v in b_xyxy)
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return _ratio(inter, union)


def pooled_iou(counts: Sequence[ConfusionCounts]) -> float:
    """Pooled IOU ``sum TP / (sum TP + sum FP + sum FN)`` over images."""
    total = ConfusionCounts(0, 0, 0, 0)
    for c in counts:
        total = total + c
    return total.iou


# ----------------------------------------------------------------------------------------------
# Key points
# ----------------------------------------------------------------------------------------------


def _joints_array(joints: LegJoints | ArrayLike, name: str) -> NDArray[np.float64]:
    arr = joints.as_array() if isinstance(joints, LegJoints) else np.asarray(joints, dtype=np.float64)
    if arr.shape != (3, 2):
        raise ValueError(f"{name} must be a (3, 2) array hip, knee, ankle, got {arr.shape}")
    return arr


Normaliser = Literal["auto", "box", "points_box", "hip_ankle"]


@dataclass(frozen=True)
class NedResult:
    """Normalised distances of one leg.

    Attributes
    ----------
    ned : (3,) float64 array
        Hip, knee, ankle (NaN where the prediction is missing / non-finite).
    distance_px : (3,) float64 array
    scale_px : float
        Normaliser ``s``.
    scale_source : str
        ``"box"``, ``"points_box"`` or ``"hip_ankle"``.
    """

    ned: NDArray[np.float64]
    distance_px: NDArray[np.float64]
    scale_px: float
    scale_source: str


def ned_scale(
    gt_joints: LegJoints | ArrayLike,
    *,
    gt_box_xyxy: ArrayLike | None = None,
    normaliser: Normaliser = "auto",
    pad_frac: float = 0.10,
) -> tuple[float, str]:
    """Return the NED normaliser ``s`` (px) and its source.

    ``"auto"``: ``max(w, h)`` of ``gt_box_xyxy`` if given; else of the GT points' box padded by
    ``pad_frac`` of its width/height on each side; else (degenerate box) the hip–ankle distance.

    Raises
    ------
    ValueError
        If the chosen normaliser is not positive.
    """
    gt = _joints_array(gt_joints, "gt_joints")
    candidates: list[str]
    if normaliser == "auto":
        candidates = (["box"] if gt_box_xyxy is not None else []) + ["points_box", "hip_ankle"]
    elif normaliser in ("box", "points_box", "hip_ankle"):
        candidates = [normaliser]
    else:
        raise ValueError(f"unknown normaliser {normaliser!r}")
    for source in candidates:
        if source == "box":
            if gt_box_xyxy is None:
                raise ValueError("normaliser 'box' needs gt_box_xyxy")
            x0, y0, x1, y1 = np.asarray(gt_box_xyxy, dtype=np.float64).reshape(4)
            s = max(abs(x1 - x0), abs(y1 - y0))
        elif source == "points_box":
            extent = gt.max(axis=0) - gt.min(axis=0)
            s = float(np.max(extent * (1.0 + 2.0 * pad_frac)))
        else:
            s = float(np.hypot(*(gt[2] - gt[0])))
        if np.isfinite(s) and s > 0:
            return float(s), source
    raise ValueError("no positive NED normaliser could be formed")


def normalised_distances(
    pred_joints: LegJoints | ArrayLike,
    gt_joints: LegJoints | ArrayLike,
    *,
    gt_box_xyxy: ArrayLike | None = None,
    normaliser: Normaliser = "auto",
    pad_frac: float = 0.10,
) -> NedResult:
    """Normalised Euclidean distance of each joint of one leg (§6, [D] normaliser).

    Parameters
    ----------
    pred_joints, gt_joints : LegJoints or (3, 2) array_like
        Hip, knee, ankle in image ``(x, y)``.
    gt_box_xyxy : (4,) array_like, optional
        Ground-truth leg box ``(x0, y0, x1, y1)``.
    normaliser : {"auto", "box", "points_box", "hip_ankle"}
    pad_frac : float
        Padding of the points box per side (0.10).

    Returns
    -------
    NedResult
    """
    pred = _joints_array(pred_joints, "pred_joints")
    gt = _joints_array(gt_joints, "gt_joints")
    scale, source = ned_scale(gt, gt_box_xyxy=gt_box_xyxy, normaliser=normaliser, pad_frac=pad_frac)
    dist = np.hypot(*(pred - gt).T)
    return NedResult(dist / scale, dist, scale, source)


def pck(ned_values: ArrayLike, thresholds: Sequence[float] = PCK_THRESHOLDS) -> dict[float, float]:
    """Fraction of joints with ``NED <= t`` for each threshold.

    Missing predictions (NaN) count as misses. Returns ``{t: fraction}``; an empty input raises.
    """
    values = np.asarray(ned_values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("ned_values is empty")
    with np.errstate(invalid="ignore"):
        return {float(t): float(np.mean(values <= t)) for t in thresholds}


# ----------------------------------------------------------------------------------------------
# HKA
# ----------------------------------------------------------------------------------------------


def _medial_sign(image_side: str | None, medial_sign: float | None) -> float | None:
    if medial_sign is not None:
        if medial_sign not in (1, -1):
            raise ValueError(f"medial_sign must be +1 or -1, got {medial_sign!r}")
        return float(medial_sign)
    if image_side == "left":
        return 1.0
    if image_side == "right":
        return -1.0
    return None


def hka_deviation_deg(
    joints: LegJoints | ArrayLike, *, medial_sign: float | None = None
) -> float:
    """Signed HKA deviation (degrees) from hip, knee and ankle: varus negative, valgus positive.

    Parameters
    ----------
    joints : LegJoints or (3, 2) array_like
    medial_sign : {+1, -1}, optional
        Direction of "medial" along image x; default from ``joints.image_side`` (image-left leg:
        +1, image-right leg: -1).

    Returns
    -------
    float
        ``±delta`` with ``delta`` the angle from ``(N - H)`` to ``(A - N)`` in [0, 180].

    Raises
    ------
    ValueError
        If the medial direction is unknown or a segment has zero length.
    """
    arr = _joints_array(joints, "joints")
    side = joints.image_side if isinstance(joints, LegJoints) else None
    sign = _medial_sign(side, medial_sign)
    if sign is None:
        raise ValueError("medial direction unknown: give image_side or medial_sign")
    hip, knee, ankle = arr
    femur, tibia = knee - hip, ankle - knee
    nf, nt = np.hypot(*femur), np.hypot(*tibia)
    if nf == 0 or nt == 0:
        raise ValueError("hip, knee and ankle must be distinct")
    delta = float(np.degrees(np.arccos(np.clip(femur @ tibia / (nf * nt), -1.0, 1.0))))
    axis = ankle - hip
    rel = knee - hip
    # Knee offset perpendicular to H–A, projected on x: > 0 means medial of the line.
    perp_x = rel[0] - (rel @ axis) / (axis @ axis) * axis[0]
    return delta if perp_x * sign > 0 else -delta


@dataclass(frozen=True)
class HkaError:
    """HKA comparison of one leg.

    ``abs_error_deg = |HKA_pred - HKA_gt|`` with ``HKA = 180 - |delta|`` (§6);
    ``deviation_abs_error_deg = |dev_pred - dev_gt|`` of the signed deviations (NaN when the
    medial direction is unknown).
    """

    hka_pred_deg: float
    hka_gt_deg: float
    abs_error_deg: float
    deviation_abs_error_deg: float


def hka_abs_error(
    pred_joints: LegJoints | ArrayLike,
    gt_joints: LegJoints | ArrayLike,
    *,
    medial_sign: float | None = None,
) -> HkaError:
    """HKA absolute error of one leg from key points only (§6, [P] Fig. 8)."""
    side = next(
        (j.image_side for j in (gt_joints, pred_joints) if isinstance(j, LegJoints) and j.image_side),
        None,
    )
    sign = _medial_sign(side, medial_sign)
    s = 1.0 if sign is None else sign
    dev_pred = hka_deviation_deg(_joints_array(pred_joints, "pred_joints"), medial_sign=s)
    dev_gt = hka_deviation_deg(_joints_array(gt_joints, "gt_joints"), medial_sign=s)
    hka_pred, hka_gt = 180.0 - abs(dev_pred), 180.0 - abs(dev_gt)
    dev_err = abs(dev_pred - dev_gt) if sign is not None else float("nan")
    return HkaError(hka_pred, hka_gt, abs(hka_pred - hka_gt), dev_err)
