"""Anatomical plausibility checks of an alignment (and its LabelMe document) before review.

Each check returns :class:`PlausibilityFlag` records (a code, a message, the image side of the leg);
no flag means the check passed or could not run (missing outlines are reported by the alignment's
own flags). Flags are prompts for the reviewer, not diagnoses: skeletal dysplasia produces real
asymmetry and abnormal femoral heads, so thresholds are generous (:class:`PlausibilityThresholds`).

Checks
------
* ``joint_order``: hip above knee above ankle (image y grows downward).
* ``knee_outside_bones``: the knee centre must lie in the bounding box of the distal end of the femur
  and the proximal end of the tibia (the last/first ``end_band_fraction`` of each bone's height),
  grown by ``knee_margin_fraction`` of the leg length.
* ``femoral_head_fit`` / ``hip_off_head_centre`` / ``femoral_head_arc_short``: a circle is fitted
  (algebraic least squares, then iterative trimming of the neck and trochanter points) to the femur
  outline within ``head_search_fraction`` of the femur length around the hip point. The outline
  should be round there (RMS residual / radius), the hip point should be at the circle's centre,
  and the circular part should span most of the head (``head_min_arc_deg``; an intact head outline
  spans 280-300° around the neck opening on the phantoms, a flattened one breaks into shorter arcs).
  The alignment JSON does not carry a head fit, so it is always computed here from the polygon.
* ``length_asymmetry`` / ``angle_asymmetry``: with two legs, femur and tibia mechanical lengths may
  differ by ``length_ratio_tolerance`` and the angles in :data:`SYMMETRY_METRICS` by
  ``angle_difference_deg``.
* ``laterality_mismatch`` / ``laterality_leg_count``: a laterality tag (DICOM ``ImageLaterality`` /
  ``Laterality``: ``R``, ``L``, ``B``, or a user's ``right``/``left``/``both``) against the legs found.

Coordinates are image ``(x, y)`` pixels, y down (:mod:`inference.core.legs`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "SYMMETRY_METRICS",
    "CircleFit",
    "PlausibilityFlag",
    "PlausibilityThresholds",
    "bone_polygons_by_leg",
    "check_femoral_head",
    "check_joint_order",
    "check_knee_within_bones",
    "check_laterality",
    "check_symmetry",
    "fit_circle",
    "plausibility_checks",
]

SYMMETRY_METRICS: tuple[str, ...] = ("hka_deviation_deg", "mLDFA", "MPTA", "mLDTA", "NSA")


@dataclass(frozen=True)
class PlausibilityFlag:
    """One failed check; ``leg`` is the leg's image side (``None`` for image-level checks)."""

    code: str
    message: str
    leg: str | None = None

    def as_text(self) -> str:
        """``"<image side>: <code>: <message>"``, the review queue's flag style."""
        return f"{self.leg or 'image'}: {self.code}: {self.message}"


@dataclass(frozen=True)
class PlausibilityThresholds:
    """Limits of the checks (fractions are of the named length)."""

    end_band_fraction: float = 0.15
    knee_margin_fraction: float = 0.02
    head_search_fraction: float = 0.12
    head_residual_fraction: float = 0.05
    head_centre_offset_fraction: float = 0.25
    head_min_arc_deg: float = 200.0
    length_ratio_tolerance: float = 0.10
    angle_difference_deg: float = 10.0


@dataclass(frozen=True)
class CircleFit:
    """A fitted circle, the points kept, their RMS radial residual and the arc they span."""

    centre_xy: NDArray[np.float64]
    radius: float
    rms_residual: float
    inliers_xy: NDArray[np.float64]
    arc_deg: float


def _joints(leg: Mapping[str, Any]) -> dict[str, NDArray[np.float64]] | None:
    joints = leg.get("joints") or {}
    try:
        return {name: np.asarray(joints[name], dtype=np.float64).reshape(2) for name in ("hip", "knee", "ankle")}
    except (KeyError, TypeError, ValueError):
        return None


def _polygon_area(poly_xy: NDArray[np.float64]) -> float:
    x, y = poly_xy[:, 0], poly_xy[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def bone_polygons_by_leg(document: Mapping[str, Any],
                         legs: Sequence[Mapping[str, Any]]) -> list[dict[str, NDArray[np.float64]]]:
    """Femur and tibia polygons of each leg (the largest of each bone nearest the leg's joints).

    A polygon belongs to the leg whose mean joint x is nearest to the polygon's mean x. Returns one
    dict per leg (``{"femur": (N, 2), "tibia": (M, 2)}``, keys missing when there is none).
    """
    centres = []
    for leg in legs:
        joints = _joints(leg)
        centres.append(None if joints is None else float(np.mean([p[0] for p in joints.values()])))
    out: list[dict[str, NDArray[np.float64]]] = [{} for _ in legs]
    for shape in document.get("shapes") or []:
        label = str(shape.get("label", "")).strip().lower()
        if label not in ("femur", "tibia") or shape.get("shape_type", "polygon") != "polygon":
            continue
        poly = np.asarray(shape.get("points") or [], dtype=np.float64)
        if poly.ndim != 2 or poly.shape[0] < 3 or poly.shape[1] != 2 or not np.all(np.isfinite(poly)):
            continue
        candidates = [(abs(c - float(poly[:, 0].mean())), i) for i, c in enumerate(centres) if c is not None]
        if not candidates:
            continue
        _, index = min(candidates)
        current = out[index].get(label)
        if current is None or _polygon_area(poly) > _polygon_area(current):
            out[index][label] = poly
    return out


def check_joint_order(leg: Mapping[str, Any]) -> list[PlausibilityFlag]:
    """Flag a leg whose hip is not above its knee, or whose knee is not above its ankle."""
    joints = _joints(leg)
    if joints is None:
        return []
    hip_y, knee_y, ankle_y = (float(joints[n][1]) for n in ("hip", "knee", "ankle"))
    if hip_y < knee_y < ankle_y:
        return []
    return [PlausibilityFlag(
        "joint_order",
        f"joints out of order along the leg (y: hip {hip_y:.0f}, knee {knee_y:.0f}, ankle {ankle_y:.0f} px; "
        "expected hip < knee < ankle)",
        leg.get("image_side"),
    )]


def _end_points(poly_xy: NDArray[np.float64], *, fraction: float, distal: bool) -> NDArray[np.float64]:
    y = poly_xy[:, 1]
    height = float(y.max() - y.min())
    if distal:
        return poly_xy[y >= y.max() - fraction * height]
    return poly_xy[y <= y.min() + fraction * height]


def check_knee_within_bones(leg: Mapping[str, Any], bones: Mapping[str, NDArray[np.float64]],
                            thresholds: PlausibilityThresholds = PlausibilityThresholds()) -> list[PlausibilityFlag]:
    """Flag a knee centre outside the distal-femur / proximal-tibia region (see the module docstring)."""
    joints = _joints(leg)
    if joints is None or "femur" not in bones or "tibia" not in bones:
        return []
    region = np.vstack([
        _end_points(bones["femur"], fraction=thresholds.end_band_fraction, distal=True),
        _end_points(bones["tibia"], fraction=thresholds.end_band_fraction, distal=False),
    ])
    margin = thresholds.knee_margin_fraction * float(np.linalg.norm(joints["ankle"] - joints["hip"]))
    low, high = region.min(axis=0) - margin, region.max(axis=0) + margin
    knee = joints["knee"]
    outside = np.maximum(low - knee, 0.0) + np.maximum(knee - high, 0.0)
    distance = float(np.linalg.norm(outside))
    if distance == 0.0:
        return []
    return [PlausibilityFlag(
        "knee_outside_bones",
        f"knee centre ({knee[0]:.0f}, {knee[1]:.0f}) lies {distance:.0f} px outside the distal femur / "
        "proximal tibia region",
        leg.get("image_side"),
    )]


def _densify(poly_xy: NDArray[np.float64], *, step: float) -> NDArray[np.float64]:
    """Points every ``step`` px along the closed polygon boundary (vertices included)."""
    closed = np.vstack([poly_xy, poly_xy[:1]])
    pieces = []
    for a, b in zip(closed[:-1], closed[1:]):
        n = max(1, int(math.ceil(float(np.linalg.norm(b - a)) / step)))
        t = np.arange(n, dtype=np.float64)[:, None] / n
        pieces.append(a + t * (b - a))
    return np.vstack(pieces)


def _kasa(points_xy: NDArray[np.float64]) -> tuple[NDArray[np.float64], float] | None:
    """Algebraic circle fit ``x² + y² + D x + E y + F = 0`` (Kåsa 1976); ``None`` when degenerate."""
    x, y = points_xy[:, 0], points_xy[:, 1]
    a = np.column_stack([x, y, np.ones_like(x)])
    rhs = -(x * x + y * y)
    (d, e, f), *_ = np.linalg.lstsq(a, rhs, rcond=None)
    centre = np.array([-d / 2.0, -e / 2.0])
    r2 = float(centre @ centre - f)
    if not (r2 > 0 and np.all(np.isfinite(centre))):
        return None
    return centre, math.sqrt(r2)


def _arc_deg(points_xy: NDArray[np.float64], centre_xy: NDArray[np.float64]) -> float:
    """Angle covered by the points around the centre: 360° minus the largest empty gap."""
    angles = np.sort(np.degrees(np.arctan2(points_xy[:, 1] - centre_xy[1], points_xy[:, 0] - centre_xy[0])))
    gaps = np.diff(np.concatenate([angles, angles[:1] + 360.0]))
    return float(360.0 - gaps.max())


def fit_circle(points_xy: NDArray[np.float64], *, iterations: int = 10, min_points: int = 8) -> CircleFit | None:
    """Robust circle fit: algebraic fit, then refits on the points within 2.5 times the inliers' median
    residual (at least 1.5 px) until the inlier set is stable.

    Parameters
    ----------
    points_xy : ndarray, shape (N, 2)
        Boundary points, possibly with non-circular parts (neck, trochanter).
    iterations : int
        Maximum number of trimming rounds.
    min_points : int
        Fewer inliers than this give ``None``.

    Returns
    -------
    CircleFit or None
    """
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] < min_points:
        return None
    mask = np.ones(pts.shape[0], dtype=bool)
    fit = _kasa(pts)
    for _ in range(iterations):
        if fit is None:
            return None
        centre, radius = fit
        residual = np.abs(np.linalg.norm(pts - centre, axis=1) - radius)
        new_mask = residual <= max(1.5, 2.5 * float(np.median(residual[mask])))
        if new_mask.sum() < min_points:
            return None
        if np.array_equal(new_mask, mask):
            break
        mask = new_mask
        fit = _kasa(pts[mask])
    keep = pts[mask]
    if fit is None:
        return None
    centre, radius = fit
    rms = float(np.sqrt(np.mean((np.linalg.norm(keep - centre, axis=1) - radius) ** 2)))
    return CircleFit(centre, radius, rms, keep, _arc_deg(keep, centre))


def check_femoral_head(leg: Mapping[str, Any], bones: Mapping[str, NDArray[np.float64]],
                       thresholds: PlausibilityThresholds = PlausibilityThresholds()) -> list[PlausibilityFlag]:
    """Fit the femoral-head circle around the hip point and flag a poor fit or an off-centre hip."""
    joints = _joints(leg)
    if joints is None or "femur" not in bones:
        return []
    side = leg.get("image_side")
    hip = joints["hip"]
    femur_length = float(np.linalg.norm(joints["knee"] - hip))
    search = thresholds.head_search_fraction * femur_length
    boundary = _densify(bones["femur"], step=max(0.5, search / 100.0))
    near = boundary[np.linalg.norm(boundary - hip, axis=1) <= search]
    fit = fit_circle(near)
    if fit is None:
        return [PlausibilityFlag("femoral_head_arc_short",
                                 "no circular femoral-head outline found around the hip point", side)]
    flags = []
    if fit.rms_residual > thresholds.head_residual_fraction * fit.radius:
        flags.append(PlausibilityFlag(
            "femoral_head_fit",
            f"femoral head outline is not round: RMS residual {fit.rms_residual:.1f} px = "
            f"{100 * fit.rms_residual / fit.radius:.0f}% of the {fit.radius:.0f} px radius",
            side,
        ))
    offset = float(np.linalg.norm(fit.centre_xy - hip))
    if offset > thresholds.head_centre_offset_fraction * fit.radius:
        flags.append(PlausibilityFlag(
            "hip_off_head_centre",
            f"hip point is {offset:.0f} px ({offset / fit.radius:.1f} radii) from the centre of the "
            "femoral-head circle",
            side,
        ))
    if fit.arc_deg < thresholds.head_min_arc_deg:
        flags.append(PlausibilityFlag(
            "femoral_head_arc_short",
            f"the circular part of the femoral head spans only {fit.arc_deg:.0f}°",
            side,
        ))
    return flags


def _metric_value(leg: Mapping[str, Any], name: str) -> float | None:
    entry = (leg.get("metrics") or {}).get(name)
    return None if not entry or entry.get("value") is None else float(entry["value"])


def check_symmetry(legs: Sequence[Mapping[str, Any]],
                   thresholds: PlausibilityThresholds = PlausibilityThresholds()) -> list[PlausibilityFlag]:
    """Flag bone-length ratios and angle differences between two legs beyond the thresholds."""
    if len(legs) != 2:
        return []
    joints = [_joints(leg) for leg in legs]
    flags = []
    if all(j is not None for j in joints):
        for bone, (a, b) in (("femur", ("hip", "knee")), ("tibia", ("knee", "ankle"))):
            lengths = [float(np.linalg.norm(j[b] - j[a])) for j in joints]  # type: ignore[index]
            if min(lengths) <= 0:
                continue
            ratio = max(lengths) / min(lengths)
            if ratio - 1.0 > thresholds.length_ratio_tolerance:
                flags.append(PlausibilityFlag(
                    "length_asymmetry",
                    f"{bone} lengths differ by {100 * (ratio - 1):.0f}% between the legs "
                    f"({lengths[0]:.0f} vs {lengths[1]:.0f} px)",
                ))
    for name in SYMMETRY_METRICS:
        values = [_metric_value(leg, name) for leg in legs]
        if None in values:
            continue
        difference = abs(values[0] - values[1])  # type: ignore[operator]
        if difference > thresholds.angle_difference_deg:
            flags.append(PlausibilityFlag(
                "angle_asymmetry",
                f"{name} differs by {difference:.1f}° between the legs ({values[0]:.1f}° vs {values[1]:.1f}°)",
            ))
    return flags


_LATERALITY = {"r": "right", "right": "right", "l": "left", "left": "left", "b": "both", "both": "both"}


def check_laterality(legs: Sequence[Mapping[str, Any]], laterality: str | None) -> list[PlausibilityFlag]:
    """Compare a laterality tag (``R``/``L``/``B`` or ``right``/``left``/``both``) with the legs found."""
    tag = _LATERALITY.get((laterality or "").strip().lower())
    if tag is None or not legs:
        return []
    if tag == "both":
        if len(legs) == 1:
            return [PlausibilityFlag("laterality_leg_count", "laterality tag says both legs but one leg was found")]
        return []
    if len(legs) == 2:
        return [PlausibilityFlag("laterality_leg_count", f"laterality tag says {tag} but two legs were found")]
    detected = legs[0].get("anatomical_side")
    if detected is None or detected == tag:
        return []
    inferred = any(str(f).startswith("anatomical_side_inferred") for f in legs[0].get("flags") or [])
    how = "inferred from the anatomy" if inferred else "detected"
    return [PlausibilityFlag("laterality_mismatch", f"laterality tag says {tag} but the {how} side is {detected}",
                             legs[0].get("image_side"))]


def plausibility_checks(
    alignment: Mapping[str, Any],
    *,
    document: Mapping[str, Any] | None = None,
    laterality: str | None = None,
    thresholds: PlausibilityThresholds = PlausibilityThresholds(),
) -> list[PlausibilityFlag]:
    """Every check on an alignment result (and its LabelMe document when given), in a fixed order.

    Parameters
    ----------
    alignment : mapping
        Alignment result JSON (architecture.md §6).
    document : mapping, optional
        The LabelMe document the alignment came from; without it the outline checks are skipped.
    laterality : str, optional
        DICOM or user laterality tag.
    thresholds : PlausibilityThresholds
        Limits of the checks.

    Returns
    -------
    list of PlausibilityFlag
    """
    legs = list(alignment.get("legs") or [])
    bones = bone_polygons_by_leg(document, legs) if document is not None else [{} for _ in legs]
    flags: list[PlausibilityFlag] = []
    for leg, leg_bones in zip(legs, bones):
        flags += check_joint_order(leg)
        flags += check_knee_within_bones(leg, leg_bones, thresholds)
        flags += check_femoral_head(leg, leg_bones, thresholds)
    flags += check_symmetry(legs, thresholds)
    flags += check_laterality(legs, laterality)
    return flags
