"""Comparing an ensemble's output with surgeon-approved annotations: overlap, joint error, angle agreement.

Django-free (numpy and :mod:`inference.core` only). The service in ``training/comparisons.py`` turns
each evaluated image into an :class:`ImageOutcome` per ensemble version and calls :func:`summarise`.

Conventions
-----------
* Label maps are ``(H, W)`` arrays indexed ``[row, col]``: 0 background, 1 femur, 2 tibia.
* Joints are ``(3, 2)`` float64 arrays per leg, hip, knee, ankle, in image ``(x, y)`` pixels.
* A difference is always ``predicted - reference``, the reference being the approved value, so a
  positive Bland–Altman bias means the ensemble reads the metric too high.

Formulas
--------
With ``d_i = p_i - r_i`` over the ``n`` legs where both values exist:
``MAE = mean |d_i|``; ``bias = mean d_i``; ``sd`` = sample standard deviation of ``d_i`` (``ddof=1``);
95 % limits of agreement ``bias ± 1.96 sd`` (Bland & Altman, Lancet 1986). The pooled IOU of a bone
is ``sum TP / (sum TP + sum FP + sum FN)`` over images, the per-image IOU ``TP / (TP + FP + FN)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inference.core.legs import FEMUR, TIBIA
from inference.core.metrics import ConfusionCounts, class_confusion, normalised_distances, pooled_iou

__all__ = [
    "BONES",
    "Agreement",
    "ImageOutcome",
    "JointErrors",
    "VersionSummary",
    "agreement",
    "bone_confusion",
    "joint_errors",
    "paired_metric_values",
    "summarise",
]

BONES: dict[str, int] = {"femur": FEMUR, "tibia": TIBIA}
LOA_Z = 1.96


@dataclass(frozen=True)
class Agreement:
    """Agreement of predicted with reference values of one metric (Bland–Altman).

    ``None`` where a statistic needs more values than there are (``mae``/``bias`` need one pair,
    ``sd`` and the limits two).
    """

    n: int
    mae: float | None
    bias: float | None
    sd: float | None
    loa_low: float | None
    loa_high: float | None
    pairs: tuple[tuple[float, float], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """``{"n", "mae", "bias", "sd", "loa_low", "loa_high", "pairs": [[predicted, reference], ...]}``."""
        return {"n": self.n, "mae": self.mae, "bias": self.bias, "sd": self.sd, "loa_low": self.loa_low,
                "loa_high": self.loa_high, "pairs": [list(pair) for pair in self.pairs]}


def agreement(predicted: ArrayLike, reference: ArrayLike) -> Agreement:
    """MAE, Bland–Altman bias, sd and 95 % limits of agreement of paired values.

    Parameters
    ----------
    predicted, reference : (n,) array_like of float
        Paired values (same unit); ``d = predicted - reference``.

    Returns
    -------
    Agreement

    Raises
    ------
    ValueError
        If the two inputs differ in length or hold non-finite values.

    Examples
    --------
    >>> a = agreement([1.0, 2.0, 3.0, 6.0], [0.0, 2.0, 5.0, 4.0])
    >>> a.mae, a.bias
    (1.25, 0.25)
    """
    p = np.asarray(predicted, dtype=np.float64).ravel()
    r = np.asarray(reference, dtype=np.float64).ravel()
    if p.shape != r.shape:
        raise ValueError(f"predicted and reference differ in length: {p.size} vs {r.size}")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(r))):
        raise ValueError("predicted and reference must be finite")
    n = int(p.size)
    pairs = tuple((float(a), float(b)) for a, b in zip(p, r, strict=True))
    if n == 0:
        return Agreement(0, None, None, None, None, None)
    d = p - r
    bias = float(d.mean())
    mae = float(np.abs(d).mean())
    if n < 2:
        return Agreement(n, mae, bias, None, None, None, pairs)
    sd = float(d.std(ddof=1))
    return Agreement(n, mae, bias, sd, bias - LOA_Z * sd, bias + LOA_Z * sd, pairs)


def bone_confusion(predicted_rc: ArrayLike, truth_rc: ArrayLike) -> dict[str, ConfusionCounts]:
    """Confusion counts of the femur and the tibia between two ``(H, W)`` label maps."""
    return {name: class_confusion(predicted_rc, truth_rc, label) for name, label in BONES.items()}


@dataclass(frozen=True)
class JointErrors:
    """Errors of the joints of the reference legs that a predicted leg was matched to.

    Attributes
    ----------
    distance_px : (n_joints,) float64 array
        Euclidean distance of each matched joint (hip, knee, ankle of each matched leg).
    ned : (n_joints,) float64 array
        The same distances over the NED normaliser of the reference leg
        (:func:`inference.core.metrics.normalised_distances`).
    missed_legs : int
        Reference legs without a predicted leg.
    """

    distance_px: NDArray[np.float64] = field(compare=False)
    ned: NDArray[np.float64] = field(compare=False)
    missed_legs: int = 0


def _check_legs(legs_xy: Sequence[ArrayLike], name: str) -> list[NDArray[np.float64]]:
    arrays = [np.asarray(leg, dtype=np.float64) for leg in legs_xy]
    for leg in arrays:
        if leg.shape != (3, 2) or not np.all(np.isfinite(leg)):
            raise ValueError(f"{name} must hold finite (3, 2) hip/knee/ankle arrays, got {leg.shape}")
    return arrays


def joint_errors(predicted_legs_xy: Sequence[ArrayLike], reference_legs_xy: Sequence[ArrayLike]) -> JointErrors:
    """Match reference legs to predicted legs and measure the joint errors.

    Parameters
    ----------
    predicted_legs_xy, reference_legs_xy : sequence of (3, 2) array_like
        Hip, knee, ankle of each leg in image ``(x, y)`` pixels.

    Returns
    -------
    JointErrors

    Notes
    -----
    Pairs are taken greedily by increasing mean joint distance, each leg used at most once (with at
    most two legs per image this is the optimal matching).
    """
    predicted = _check_legs(predicted_legs_xy, "predicted_legs_xy")
    reference = _check_legs(reference_legs_xy, "reference_legs_xy")
    candidates = sorted(
        (float(np.hypot(*(p - r).T).mean()), i, j)
        for i, p in enumerate(predicted) for j, r in enumerate(reference)
    )
    used_predicted: set[int] = set()
    matched: dict[int, int] = {}
    for _, i, j in candidates:
        if i not in used_predicted and j not in matched:
            used_predicted.add(i)
            matched[j] = i
    distances, neds = [], []
    for j in sorted(matched):
        result = normalised_distances(predicted[matched[j]], reference[j])
        distances.append(result.distance_px)
        neds.append(result.ned)
    if not distances:
        return JointErrors(np.empty(0), np.empty(0), len(reference))
    return JointErrors(np.concatenate(distances), np.concatenate(neds), len(reference) - len(matched))


def paired_metric_values(
    predicted_legs: Mapping[str, Mapping[str, float | None]],
    reference_legs: Mapping[str, Mapping[str, float | None]],
) -> dict[str, list[tuple[float, float]]]:
    """``(predicted, reference)`` value pairs per metric over the legs present in both.

    Parameters
    ----------
    predicted_legs, reference_legs : mapping leg key -> (metric name -> value or None)
        Legs keyed so that the same leg has the same key in both (the image side).

    Returns
    -------
    dict
        Metric name -> pairs, for the legs where both values are finite numbers.
    """
    pairs: dict[str, list[tuple[float, float]]] = {}
    for leg, reference in reference_legs.items():
        predicted = predicted_legs.get(leg)
        if predicted is None:
            continue
        for name, ref_value in reference.items():
            value = predicted.get(name)
            if value is None or ref_value is None or not (np.isfinite(value) and np.isfinite(ref_value)):
                continue
            pairs.setdefault(name, []).append((float(value), float(ref_value)))
    return pairs


@dataclass(frozen=True)
class ImageOutcome:
    """One ensemble version's result on one evaluated image, against the approved annotation."""

    image_id: int
    bones: Mapping[str, ConfusionCounts]
    joints: JointErrors
    metric_pairs: Mapping[str, Sequence[tuple[float, float]]]


def _mean_or_none(values: NDArray[np.float64]) -> float | None:
    return float(values.mean()) if values.size else None


def _median_or_none(values: NDArray[np.float64]) -> float | None:
    return float(np.median(values)) if values.size else None


@dataclass(frozen=True)
class VersionSummary:
    """All comparison statistics of one ensemble version over the evaluated images."""

    n_images: int
    pooled_iou: dict[str, float | None]
    mean_iou: dict[str, float | None]
    keypoints: dict[str, float | int | None]
    angles: dict[str, Agreement]
    per_image: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict (the ``metrics`` of an ``EnsembleComparison`` per version)."""
        return {"n_images": self.n_images, "pooled_iou": self.pooled_iou, "mean_iou": self.mean_iou,
                "keypoints": self.keypoints, "angles": {k: v.to_json() for k, v in self.angles.items()},
                "per_image": self.per_image}


def summarise(outcomes: Sequence[ImageOutcome]) -> VersionSummary:
    """Pool the per-image outcomes of one version: IOU per bone, joint error, angle agreement.

    Returns
    -------
    VersionSummary
        ``pooled_iou`` and ``mean_iou`` per bone (``None`` without images); ``keypoints`` with
        ``n_joints``, ``missed_legs``, ``error_px_mean``, ``error_px_median``, ``ned_mean``,
        ``ned_median``; ``angles`` per metric name; ``per_image`` rows
        ``{"image", "femur_iou", "tibia_iou", "error_px_mean", "ned_mean"}``.
    """
    per_image: list[dict[str, Any]] = []
    for outcome in outcomes:
        row: dict[str, Any] = {"image": outcome.image_id}
        row.update({f"{bone}_iou": outcome.bones[bone].iou for bone in BONES})
        row["error_px_mean"] = _mean_or_none(outcome.joints.distance_px)
        row["ned_mean"] = _mean_or_none(outcome.joints.ned)
        per_image.append(row)
    pooled = {bone: pooled_iou([o.bones[bone] for o in outcomes]) if outcomes else None for bone in BONES}
    mean = {bone: float(np.mean([o.bones[bone].iou for o in outcomes])) if outcomes else None for bone in BONES}
    distances = np.concatenate([o.joints.distance_px for o in outcomes]) if outcomes else np.empty(0)
    neds = np.concatenate([o.joints.ned for o in outcomes]) if outcomes else np.empty(0)
    keypoints: dict[str, float | int | None] = {
        "n_joints": int(distances.size),
        "missed_legs": sum(o.joints.missed_legs for o in outcomes),
        "error_px_mean": _mean_or_none(distances),
        "error_px_median": _median_or_none(distances),
        "ned_mean": _mean_or_none(neds),
        "ned_median": _median_or_none(neds),
    }
    pairs: dict[str, list[tuple[float, float]]] = {}
    for outcome in outcomes:
        for name, values in outcome.metric_pairs.items():
            pairs.setdefault(name, []).extend(values)
    angles = {name: agreement([p for p, _ in values], [r for _, r in values]) for name, values in sorted(pairs.items())}
    return VersionSummary(len(outcomes), pooled, mean, keypoints, angles, per_image)
