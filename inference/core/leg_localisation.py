"""Leg localisation, the pipeline's first stage (spec §2.4 step 1): which legs an image shows, where.

The localiser network (:mod:`inference.backends.leg_localiser`) sees the whole radiograph letterboxed
into a small fixed frame and returns four heatmaps, one per (patient side, landmark):
``R apex``, ``R ankle``, ``L apex``, ``L ankle`` — the femoral-head apex and the plafond centre of the
patient's right and left leg. This module turns those heatmaps into legs (Django- and torch-free):

* a leg is found when both its apex and its ankle peak reach :data:`PRESENCE_THRESHOLD` and the
  ankle lies below the apex by at least :data:`MIN_LEG_FRACTION` of the image height; when none does,
  the best one above :data:`LOW_PRESENCE_THRESHOLD` is kept, flagged ``leg_low_confidence``;
* its ``box`` runs from above the femoral head to below the plafond (:func:`leg_box`);
* its patient side is the heatmap's on a two-leg image, checked against the standard AP display
  (image-left = patient right) and, for DICOM, against ``PatientOrientation``; on a one-leg image
  it comes from the anatomy the network saw (head medial), checked against DICOM laterality;
* every doubt becomes a flag (``side_from_display_convention``, ``side_uncertain``,
  ``side_from_dicom_laterality``, ``no_leg_found``, ...), never a silent guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CHANNELS",
    "LocalisedLeg",
    "Localisation",
    "PRESENCE_THRESHOLD",
    "decode_heatmaps",
    "leg_box",
]

#: Heatmap channel order: (patient side, landmark).
CHANNELS: tuple[tuple[str, str], ...] = (("right", "apex"), ("right", "ankle"), ("left", "apex"), ("left", "ankle"))
PRESENCE_THRESHOLD = 0.3
#: When no leg reaches :data:`PRESENCE_THRESHOLD`, the best one above this is kept with a flag (a real
#: ankle-only CR peaked at 0.14; single-leg phantoms the localiser is unsure of at 0.22-0.49).
LOW_PRESENCE_THRESHOLD = 0.2
#: A leg shorter than this fraction of the image height is not a full-length leg.
MIN_LEG_FRACTION = 0.25
#: Box margins as fractions of the apex-ankle length: above the head apex, below the plafond, sideways.
BOX_MARGIN_TOP, BOX_MARGIN_BOTTOM, BOX_HALF_WIDTH = 0.06, 0.06, 0.11
#: A one-leg side whose other-side score is at least this fraction of its own is uncertain.
SIDE_MARGIN = 0.6

AnatomicalSide = Literal["right", "left"]


@dataclass(frozen=True)
class LocaliserSample:
    """One training image of the leg localiser (:mod:`inference.backends.leg_localiser`) and its legs' landmarks:
    ``{"right"|"left": (apex_xy, ankle_xy)}``."""

    name: str
    image: NDArray[np.uint8]
    legs: Mapping[str, tuple[tuple[float, float], tuple[float, float]]]
    group: str = ""


@dataclass(frozen=True)
class LocalisedLeg:
    """One leg found in an image, in original pixels."""

    anatomical_side: AnatomicalSide
    image_side: Literal["left", "right"]
    apex_xy: tuple[float, float]
    ankle_xy: tuple[float, float]
    box_xyxy: tuple[float, float, float, float]
    score: float
    #: Which leg it looks like in a standard AP display (medial side toward +x: "right"): what decides
    #: whether its crop is mirrored. It differs from ``anatomical_side`` in a mirrored (PA) display.
    appearance: AnatomicalSide | None = None

    @property
    def looks_like(self) -> AnatomicalSide:
        return self.appearance or self.anatomical_side

    def to_json(self) -> dict[str, Any]:
        return {"anatomical_side": self.anatomical_side, "image_side": self.image_side, "looks_like": self.looks_like,
                "apex": [round(v, 2) for v in self.apex_xy], "ankle": [round(v, 2) for v in self.ankle_xy],
                "box": [round(v, 2) for v in self.box_xyxy], "score": round(self.score, 4)}


@dataclass(frozen=True)
class Localisation:
    """Every leg found (ordered image-left first) and the flags of the decision."""

    legs: tuple[LocalisedLeg, ...]
    flags: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"legs": [leg.to_json() for leg in self.legs], "flags": list(self.flags)}


def leg_box(apex_xy: NDArray[np.float64], ankle_xy: NDArray[np.float64]) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` from above the femoral head to below the plafond, about a fifth of the length wide."""
    apex, ankle = np.asarray(apex_xy, float), np.asarray(ankle_xy, float)
    length = float(np.linalg.norm(ankle - apex))
    xs = (apex[0], ankle[0])
    return (min(xs) - BOX_HALF_WIDTH * length, apex[1] - BOX_MARGIN_TOP * length,
            max(xs) + BOX_HALF_WIDTH * length, ankle[1] + BOX_MARGIN_BOTTOM * length)


def _peak(heatmap: NDArray[np.float64]) -> tuple[float, float, float]:
    """``(score, x, y)`` of the maximum, refined by the 3 x 3 centroid, in heatmap cell units (centres at +0.5)."""
    row, col = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    r0, r1 = max(0, row - 1), min(heatmap.shape[0], row + 2)
    c0, c1 = max(0, col - 1), min(heatmap.shape[1], col + 2)
    window = np.clip(heatmap[r0:r1, c0:c1], 0.0, None)
    total = float(window.sum())
    if total <= 0:
        return float(heatmap[row, col]), col + 0.5, row + 0.5
    rr, cc = np.mgrid[r0:r1, c0:c1]
    return (float(heatmap[row, col]), float((window * cc).sum() / total) + 0.5,
            float((window * rr).sum() / total) + 0.5)


def decode_heatmaps(
    heatmaps: NDArray[np.float64],
    *,
    to_original: Any,
    image_width: int,
    image_height: int,
    dicom: Mapping[str, Any] | None = None,
) -> Localisation:
    """Legs from the ``(4, h, w)`` heatmaps (:data:`CHANNELS` order, values in [0, 1]).

    ``to_original`` maps ``(N, 2)`` heatmap-cell ``(x, y)`` to original pixels. ``dicom`` is the
    image's safe DICOM metadata (``laterality``/``image_laterality``, ``patient_orientation``).
    """
    if heatmaps.ndim != 3 or heatmaps.shape[0] != len(CHANNELS):
        raise ValueError(f"heatmaps must be ({len(CHANNELS)}, h, w), got {heatmaps.shape}")
    peaks = [_peak(h) for h in heatmaps]
    points = to_original(np.array([[p[1], p[2]] for p in peaks]))
    flags: list[str] = []
    candidates: dict[str, tuple[float, NDArray[np.float64], NDArray[np.float64]]] = {}
    appearance: dict[str, str] = {}  # anatomical side -> the leg it looks like, where they differ
    for threshold in (PRESENCE_THRESHOLD, LOW_PRESENCE_THRESHOLD):
        for side, (apex_i, ankle_i) in (("right", (0, 1)), ("left", (2, 3))):
            score = min(peaks[apex_i][0], peaks[ankle_i][0])
            apex, ankle = points[apex_i], points[ankle_i]
            if score < threshold:
                continue
            if ankle[1] - apex[1] < MIN_LEG_FRACTION * image_height:
                flags.append(f"{side}: leg too short for a full-length leg")
                continue
            candidates[side] = (score, apex, ankle)
        if candidates:
            break
    if candidates and max(c[0] for c in candidates.values()) < PRESENCE_THRESHOLD:  # second chance: the best only
        best = max(candidates, key=lambda side: candidates[side][0])
        candidates = {best: candidates[best]}
        flags.append("leg_low_confidence")

    if len(candidates) == 2:
        (_, right_apex, right_ankle), (_, left_apex, left_ankle) = candidates["right"], candidates["left"]
        right_x, left_x = 0.5 * (right_apex[0] + right_ankle[0]), 0.5 * (left_apex[0] + left_ankle[0])
        if abs(right_x - left_x) < 0.05 * image_width:  # both channels on one leg: keep the stronger
            weaker = min(candidates, key=lambda s: candidates[s][0])
            flags.append("one leg seen as both sides: side uncertain")
            candidates.pop(weaker)
            flags.append("side_uncertain")
        else:  # sides by position in a standard AP display (image-left = patient right), or the DICOM's
            flags.append("side_from_display_convention")
            image_left, image_right = sorted(candidates.values(), key=lambda c: c[1][0] + c[2][0])
            if right_x > left_x:
                flags.append("side_uncertain")  # the network read the anatomy the other way round
            if _dicom_rows_point_right(dicom):  # image-left is the patient's LEFT
                candidates = {"right": image_right, "left": image_left}
                flags.append("side_from_dicom_patient_orientation")
            else:
                candidates = {"right": image_left, "left": image_right}
    if len(candidates) == 1:
        side = next(iter(candidates))
        other = "left" if side == "right" else "right"
        own = candidates[side][0]
        other_score = min(peaks[0 if other == "right" else 2][0], peaks[1 if other == "right" else 3][0])
        tagged = _dicom_laterality(dicom)
        if tagged is not None:
            if tagged != side:
                flags.append(f"side_from_dicom_laterality (the image looked like a {side} leg)")
                candidates = {tagged: candidates[side]}
                appearance[tagged] = side
            else:
                flags.append("side_from_dicom_laterality")
        elif other_score >= SIDE_MARGIN * own:
            flags.append("side_uncertain")
    if not candidates:
        flags.append("no_leg_found")

    legs = []
    for side, (score, apex, ankle) in candidates.items():
        mid_x = 0.5 * (apex[0] + ankle[0])
        legs.append(LocalisedLeg(
            anatomical_side=side,  # type: ignore[arg-type]
            image_side="left" if mid_x < image_width / 2 else "right",
            apex_xy=(float(apex[0]), float(apex[1])), ankle_xy=(float(ankle[0]), float(ankle[1])),
            box_xyxy=leg_box(apex, ankle), score=float(score),
            appearance=appearance.get(side, side),  # type: ignore[arg-type]
        ))
    legs.sort(key=lambda leg: leg.apex_xy[0] + leg.ankle_xy[0])
    if len(legs) == 2:  # two legs: image sides by order; the image-left one looks like a right leg
        legs = [_with_image_side(legs[0], "left"), _with_image_side(legs[1], "right")]
    return Localisation(tuple(legs), tuple(dict.fromkeys(flags)))


def _with_image_side(leg: LocalisedLeg, image_side: Literal["left", "right"]) -> LocalisedLeg:
    return LocalisedLeg(leg.anatomical_side, image_side, leg.apex_xy, leg.ankle_xy, leg.box_xyxy, leg.score,
                        appearance="right" if image_side == "left" else "left")


def _dicom_laterality(dicom: Mapping[str, Any] | None) -> AnatomicalSide | None:
    for key in ("image_laterality", "laterality"):
        value = str((dicom or {}).get(key) or "").strip().upper()
        if value in ("R", "L"):
            return "right" if value == "R" else "left"
    return None


def _dicom_rows_point_right(dicom: Mapping[str, Any] | None) -> bool:
    """Whether PatientOrientation says the image's rows run toward the patient's RIGHT (a mirrored AP display)."""
    orientation = (dicom or {}).get("patient_orientation")
    if isinstance(orientation, str):
        orientation = orientation.split("\\")
    if not orientation:
        return False
    return str(orientation[0]).strip().upper().startswith("R")
