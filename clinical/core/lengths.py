"""Lengths in millimetres only when the scale is known, in pixels with a notice otherwise.

A long-leg radiograph has no intrinsic scale: DICOM ``PixelSpacing`` is the spacing at the patient
(calibrated by the modality), ``ImagerPixelSpacing`` the spacing at the detector, which overstates
anatomy by the unknown geometric magnification (typically 5-20 % on long-leg films); a ruler or a
calibration object of known size drawn by a user gives the spacing in the plane of that object.
:class:`Scale` records which one an image has; :func:`present_lengths` turns an alignment result
(architecture.md §6) into the lengths every output shows:

* per leg: ``MAD`` (signed, positive medial), ``femur_length`` (``|H - N|``), ``tibia_length``
  (``|N - A|``) and ``limb_length`` (their sum) — the mechanical lengths between joint centres;
* ``leg_length`` (femoral-head apex to plafond centre) when the alignment reports it (issue 14; older
  alignments do not), and the alignment's own ``femur_length``/``tibia_length`` in place of the
  joint-centre distances when it has them;
* per image with two legs: ``leg_length_difference`` = right minus left (anatomical sides when
  known, otherwise image-left minus image-right) of ``leg_length`` when both legs have one, else of
  ``limb_length``, with the longer side named.

Millimetres appear only when ``Scale.pixel_spacing_mm`` is set and the status is ``"calibrated"`` or
``"detector_plane"`` (the latter always carries its notice); otherwise every length is in pixels and
``notice`` says why. Angles are never touched here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "LENGTH_METRICS",
    "LengthValue",
    "LegLengths",
    "PresentedLengths",
    "Scale",
    "ScaleStatus",
    "mad_px",
    "present_lengths",
    "spacing_from_reference_length",
]

ScaleStatus = Literal["calibrated", "detector_plane", "uncalibrated"]
LENGTH_METRICS: tuple[str, ...] = ("MAD", "femur_length", "tibia_length", "limb_length", "leg_length")

UNCALIBRATED_NOTICE = "Image not calibrated: lengths are in pixels, not millimetres. Angles are unaffected."
DETECTOR_PLANE_NOTICE = (
    "Scale from DICOM ImagerPixelSpacing (detector plane): magnification unknown, so millimetres overstate "
    "anatomical lengths (typically by 5–20 %). Calibrate with a ruler or calibration object for true lengths."
)


@dataclass(frozen=True)
class Scale:
    """How an image's scale is known.

    ``method`` is ``dicom_pixel_spacing``, ``dicom_imager_pixel_spacing``, ``ruler``,
    ``calibration_object`` or ``none``; ``status`` says whether lengths may be shown in mm.
    """

    pixel_spacing_mm: float | None
    status: ScaleStatus
    method: str

    def __post_init__(self) -> None:
        if self.status != "uncalibrated" and not (
            self.pixel_spacing_mm is not None and math.isfinite(self.pixel_spacing_mm) and self.pixel_spacing_mm > 0
        ):
            raise ValueError(f"a {self.status} scale needs a positive pixel spacing")

    @property
    def shows_mm(self) -> bool:
        return self.status != "uncalibrated"

    @property
    def unit(self) -> str:
        return "mm" if self.shows_mm else "px"

    @property
    def notice(self) -> str | None:
        return {"uncalibrated": UNCALIBRATED_NOTICE, "detector_plane": DETECTOR_PLANE_NOTICE}.get(self.status)

    def from_px(self, value_px: float) -> float:
        """``value_px`` in this scale's unit (mm when calibrated, else unchanged px)."""
        return value_px * self.pixel_spacing_mm if self.shows_mm else value_px  # type: ignore[operator]


@dataclass(frozen=True)
class LengthValue:
    """A length in the unit the scale allows, with its pixel value always kept.

    ``sd``/``p2_5``/``p97_5`` (same unit) are the Monte-Carlo spread where the alignment gave one.
    """

    value: float
    unit: str
    value_px: float
    sd: float | None = None
    p2_5: float | None = None
    p97_5: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": round(self.value, 3), "unit": self.unit, "value_px": round(self.value_px, 3)}
        for name in ("sd", "p2_5", "p97_5"):
            value = getattr(self, name)
            if value is not None:
                out[name] = round(value, 3)
        return out


@dataclass(frozen=True)
class LegLengths:
    """The lengths of one leg; ``None`` where the alignment could not give one."""

    image_side: str | None
    anatomical_side: str | None
    lengths: Mapping[str, LengthValue | None]


@dataclass(frozen=True)
class PresentedLengths:
    """Every length of one image in one unit, plus the notice to show next to them."""

    scale: Scale
    legs: tuple[LegLengths, ...]
    leg_length_difference: LengthValue | None
    longer_side: str | None

    @property
    def unit(self) -> str:
        return self.scale.unit

    @property
    def notice(self) -> str | None:
        return self.scale.notice

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "calibration_status": self.scale.status,
            "calibration_method": self.scale.method,
            "notice": self.notice,
            "legs": [
                {
                    "image_side": leg.image_side,
                    "anatomical_side": leg.anatomical_side,
                    **{name: (None if value is None else value.to_json()) for name, value in leg.lengths.items()},
                }
                for leg in self.legs
            ],
            "leg_length_difference": None if self.leg_length_difference is None else {
                **self.leg_length_difference.to_json(), "longer_side": self.longer_side,
            },
        }


def spacing_from_reference_length(points_xy: Sequence[Sequence[float]], *, length_mm: float,
                                  min_length_px: float = 10.0) -> float:
    """Pixel spacing (mm per px) from two points a known distance apart.

    Parameters
    ----------
    points_xy : sequence of two (x, y) points
        The ends of a ruler segment, or two opposite edges of a calibration object, in image pixels.
    length_mm : float
        The true distance between them.
    min_length_px : float
        Shorter segments are refused: a 1 px placement error on them exceeds 10 %.

    Returns
    -------
    float
        ``length_mm / |p1 - p0|``.

    Raises
    ------
    ValueError
        Not two finite points, a non-positive length, or a segment shorter than ``min_length_px``.
    """
    pts = np.asarray(points_xy, dtype=np.float64)
    if pts.shape != (2, 2) or not np.all(np.isfinite(pts)):
        raise ValueError("points must be two finite [x, y] points")
    if not (math.isfinite(length_mm) and length_mm > 0):
        raise ValueError("length_mm must be a positive number")
    distance_px = float(np.linalg.norm(pts[1] - pts[0]))
    if distance_px < min_length_px:
        raise ValueError(f"the two points are {distance_px:.1f} px apart; draw at least {min_length_px:g} px")
    return float(length_mm) / distance_px


def _px_per_unit(metric: Mapping[str, Any], alignment_spacing_mm: float | None) -> float | None:
    """Pixels per unit of an alignment length entry (1 for px; ``None`` when it cannot be known)."""
    if metric.get("unit") != "mm":
        return 1.0
    value, value_px = metric.get("value"), metric.get("value_px")
    if value_px is not None and value:
        return float(value_px) / float(value)
    return 1.0 / alignment_spacing_mm if alignment_spacing_mm else None


def mad_px(metric: Mapping[str, Any] | None, *, alignment_spacing_mm: float | None) -> float | None:
    """The MAD of an alignment metric entry in pixels, whatever unit the alignment used.

    ``value_px`` wins; a value in mm without it is divided by the alignment's own spacing.
    """
    if not metric or metric.get("value") is None:
        return None
    if metric.get("value_px") is not None:
        return float(metric["value_px"])
    factor = _px_per_unit(metric, alignment_spacing_mm)
    return None if factor is None else float(metric["value"]) * factor


def _mad_length(metric: Mapping[str, Any] | None, scale: Scale,
                alignment_spacing_mm: float | None) -> LengthValue | None:
    value_px = mad_px(metric, alignment_spacing_mm=alignment_spacing_mm)
    if metric is None or value_px is None:
        return None
    factor = _px_per_unit(metric, alignment_spacing_mm)
    spread = {
        name: scale.from_px(float(metric[name]) * factor)  # type: ignore[operator]
        for name in ("sd", "p2_5", "p97_5") if metric.get(name) is not None and factor is not None
    }
    return LengthValue(scale.from_px(value_px), scale.unit, value_px, **spread)


def _distance(a: Sequence[float] | None, b: Sequence[float] | None) -> float | None:
    if a is None or b is None:
        return None
    return float(math.dist((float(a[0]), float(a[1])), (float(b[0]), float(b[1]))))


def _length(value_px: float | None, scale: Scale) -> LengthValue | None:
    if value_px is None:
        return None
    return LengthValue(scale.from_px(value_px), scale.unit, value_px)


def _alignment_length_px(metric: Any, alignment_spacing_mm: float | None) -> float | None:
    """A length the alignment itself reports (``{"value", "unit"}``, issue 14), in pixels."""
    if not isinstance(metric, Mapping) or metric.get("value") is None:
        return None
    factor = _px_per_unit(metric, alignment_spacing_mm)
    return None if factor is None else float(metric["value"]) * factor


def _leg_lengths(leg: Mapping[str, Any], scale: Scale, alignment_spacing_mm: float | None) -> LegLengths:
    joints = leg.get("joints") or {}
    metrics = leg.get("metrics") or {}
    femur = _distance(joints.get("hip"), joints.get("knee"))
    tibia = _distance(joints.get("knee"), joints.get("ankle"))
    limb = None if femur is None or tibia is None else femur + tibia  # mechanical: hip-knee-ankle centres
    # Femur and tibia as the alignment reports them when it does (newer alignments: femoral-head apex to
    # the condyles' midpoint, plateau centre to plafond centre), so the report says what the editor says;
    # else the joint-centre distances |H-N| and |N-A|.
    femur = _alignment_length_px(metrics.get("femur_length"), alignment_spacing_mm) or femur
    tibia = _alignment_length_px(metrics.get("tibia_length"), alignment_spacing_mm) or tibia
    lengths: dict[str, LengthValue | None] = {
        "MAD": _mad_length(metrics.get("MAD"), scale, alignment_spacing_mm),
        "femur_length": _length(femur, scale),
        "tibia_length": _length(tibia, scale),
        "limb_length": _length(limb, scale),
    }
    leg_length = _alignment_length_px(metrics.get("leg_length"), alignment_spacing_mm)
    if leg_length is not None:  # femoral-head apex to plafond centre (issue 14); absent in older alignments
        lengths["leg_length"] = _length(leg_length, scale)
    return LegLengths(image_side=leg.get("image_side"), anatomical_side=leg.get("anatomical_side"), lengths=lengths)


def _side_name(leg: LegLengths) -> str:
    return leg.anatomical_side or f"image-{leg.image_side}"


def present_lengths(alignment: Mapping[str, Any], *, scale: Scale) -> PresentedLengths:
    """The lengths of an alignment result in mm when ``scale`` allows it, otherwise in px.

    Parameters
    ----------
    alignment : mapping
        Alignment result JSON (architecture.md §6). Its own ``pixel_spacing_mm`` is used only to
        recover pixel values of an MAD reported in mm without ``value_px``.
    scale : Scale
        The image's scale as known now (a later calibration applies to older alignments).

    Returns
    -------
    PresentedLengths
    """
    alignment_spacing = alignment.get("pixel_spacing_mm")
    legs = tuple(_leg_lengths(leg, scale, alignment_spacing) for leg in alignment.get("legs") or [])
    difference, longer = None, None
    # The leg length (head apex to plafond) when both legs have it, else the mechanical limb length.
    measure = "leg_length" if legs and all(leg.lengths.get("leg_length") is not None for leg in legs) else "limb_length"
    limbs = [(leg, leg.lengths[measure]) for leg in legs]
    if len(limbs) == 2 and all(limb is not None for _, limb in limbs):
        by_side = {leg.anatomical_side: limb for leg, limb in limbs}
        if set(by_side) == {"right", "left"}:
            first, second = (by_side["right"], "right"), (by_side["left"], "left")
        else:  # image-left minus image-right
            first, second = (limbs[0][1], _side_name(limbs[0][0])), (limbs[1][1], _side_name(limbs[1][0]))
        diff_px = first[0].value_px - second[0].value_px  # type: ignore[union-attr]
        difference = _length(diff_px, scale)
        longer = None if diff_px == 0 else (first[1] if diff_px > 0 else second[1])
    return PresentedLengths(scale=scale, legs=legs, leg_length_difference=difference, longer_side=longer)
