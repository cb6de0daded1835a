"""How a person reads alignment values: one wording for every page, file and export.

The browser has the same functions in ``frontend/src/core/clinicalText.ts``; both are checked against
the shared cases in ``frontend/src/core/clinicalText.cases.json`` (pytest and Vitest), so the review
queue, the editor, the report (HTML and PDF), the CSV exports and the timeline say the same thing.

* **HKA** (issue 16, item 5). ``hka_deviation_deg`` is signed, varus negative, valgus positive
  (architecture.md §4); the hip-knee-ankle angle is ``180 - |deviation|``. A bare "HKA 171.0°" does
  not say which way the knee points, and a bare "+9.0°" reads as an angle, so both the angle and the
  deviation with its direction are shown: ``"HKA 171.0° (9.0° valgus)"``. A deviation that rounds to
  zero is ``"(straight)"``.
* **Sides** (item 4). A person reads the patient's side: ``"Right leg"``; the image side is added
  only as a labelled hint (``"Right leg (image left)"``). Flags stored with the image side prefix of
  the review queue (``"left: MPTA: ..."``) are rewritten with the patient side where it is known.
* **Judgements** (item 6): ``low``/``high`` (``varus``/``valgus`` for HKA), ``normal``, with
  ``", borderline"`` when the 95 % interval crosses a limit, ``"—"`` without a range.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "OUTSIDE_INTENDED_USE",
    "fixed",
    "format_hka",
    "hka_angle_deg",
    "hka_direction",
    "hka_text",
    "judgement_text",
    "leg_side_title",
    "length_text",
    "lld_text",
    "outside_intended_use",
    "patient_side_flag",
    "value_text",
]

OUTSIDE_INTENDED_USE = "outside_intended_use"


def fixed(value: float, digits: int = 1) -> str:
    """``value`` with ``digits`` decimals, halves rounded away from zero.

    Python's ``format`` rounds halves to even and JavaScript's ``toFixed`` does not; this rule is the
    same in both languages (``fixed`` in clinicalText.ts), so ``1.25`` is ``"1.3"`` everywhere.
    """
    scale = 10 ** digits
    magnitude = math.floor(abs(float(value)) * scale + 0.5) / scale
    text = f"{magnitude:.{digits}f}"
    return f"-{text}" if value < 0 and magnitude != 0 else text


def hka_angle_deg(deviation_deg: float) -> float:
    """The hip-knee-ankle angle, ``180 - |deviation|`` (180° = straight)."""
    return 180.0 - abs(float(deviation_deg))


def hka_direction(deviation_deg: float, digits: int = 1) -> str:
    """``"varus"`` (negative), ``"valgus"`` (positive) or ``"straight"`` when it rounds to zero."""
    if float(fixed(abs(float(deviation_deg)), digits)) == 0:
        return "straight"
    return "varus" if deviation_deg < 0 else "valgus"


def hka_text(deviation_deg: float, digits: int = 1) -> str:
    """``"171.0° (9.0° valgus)"``: the angle, then the deviation with its direction."""
    direction = hka_direction(deviation_deg, digits)
    angle = f"{fixed(hka_angle_deg(deviation_deg), digits)}°"
    if direction == "straight":
        return f"{angle} (straight)"
    return f"{angle} ({fixed(abs(float(deviation_deg)), digits)}° {direction})"


def hka_interval_text(low_deg: float, high_deg: float, digits: int = 1) -> str:
    """A 95 % interval of the HKA deviation in the form the value is printed in (issue 27, item 8).

    ``"176.2° to 177.9° (2.1-3.8° varus)"`` when both ends lie on one side of straight; ``"0.5° varus to 0.8°
    valgus"`` when the interval crosses it. The deviation's own signs (``"-3.8 to -2.1"``) read as nonsense
    beside ``"HKA 176.9°"``.
    """
    low, high = sorted((float(low_deg), float(high_deg)))
    if low * high > 0:
        direction = "varus" if high <= 0 else "valgus"
        near, far = sorted((abs(low), abs(high)))
        angles = sorted((hka_angle_deg(low), hka_angle_deg(high)))
        return (f"{fixed(angles[0], digits)}° to {fixed(angles[1], digits)}° "
                f"({fixed(near, digits)}-{fixed(far, digits)}° {direction})")

    def side(value: float) -> str:
        direction = hka_direction(value, digits)
        return "straight" if direction == "straight" else f"{fixed(abs(value), digits)}° {direction}"

    return f"{side(low)} to {side(high)}"


def format_hka(deviation_deg: float, digits: int = 1) -> str:
    """``"HKA 171.0° (9.0° valgus)"``."""
    return f"HKA {hka_text(deviation_deg, digits)}"


def judgement_text(metric: str, status: str, crosses_boundary: bool = False) -> str:
    """The word for a classification: ``"high"``, ``"varus"``, ``"normal, borderline"``, ``"—"``.

    ``status`` is ``"low"``, ``"high"``, ``"normal"``, or anything else for no range
    (``"no_reference"``, ``"unknown"``).
    """
    if status in ("low", "high"):
        word = {"low": "varus", "high": "valgus"}[status] if metric == "hka_deviation_deg" else status
    elif status == "normal":
        word = "normal"
    else:
        return "—"
    return f"{word}, borderline" if crosses_boundary else word


def leg_side_title(anatomical_side: str | None, image_side: str | None, *, with_image_side: bool = True) -> str:
    """``"Right leg (image left)"``; without a patient side ``"Leg on the image left"``."""
    if anatomical_side in ("right", "left"):
        title = f"{anatomical_side.capitalize()} leg"
        return f"{title} (image {image_side})" if with_image_side and image_side in ("left", "right") else title
    if image_side in ("left", "right"):
        return f"Leg on the image {image_side}"
    return "Leg"


def length_text(value: float, unit: str) -> str:
    """``"812.4 mm"`` or ``"4012 px"`` (pixels are whole numbers)."""
    return f"{fixed(value, 0)} px" if unit == "px" else f"{fixed(value, 1)} {unit}"


def lld_text(right_minus_left: float, unit: str) -> str:
    """Leg-length difference, right minus left: ``"8.0 mm, right longer"`` (``", equal"`` at zero)."""
    magnitude = length_text(abs(float(right_minus_left)), unit)
    if float(fixed(abs(float(right_minus_left)), 1 if unit != "px" else 0)) == 0:
        return f"{magnitude}, equal"
    return f"{magnitude}, {'right' if right_minus_left > 0 else 'left'} longer"


def value_text(metric: str, value: float, unit: str) -> str:
    """A metric's value as a person reads it: HKA with its direction, lengths with their unit."""
    if metric == "hka_deviation_deg":
        return hka_text(value)
    if unit in ("mm", "px"):
        return length_text(value, unit)
    return f"{fixed(value, 1)}°"


_SIDE_PREFIX = re.compile(r"^(left|right|image-left|image-right)\s*:\s*(.*)$", re.DOTALL)


_FLAG_WORDS: dict[str, str] = {
    "side_from_display_convention": "sides read from the standard AP display (patient's right on the image left): check the side marker",
    "side_from_dicom_patient_orientation": "sides read from the DICOM patient orientation",
    "side_from_dicom_laterality": "side read from the DICOM laterality tag",
    "side_uncertain": "patient side uncertain: check the side marker",
    "leg_low_confidence": "a leg was found with low confidence: check that it is a leg",
}
"""The leg localiser's flags in words (the code stays in the stored result)."""
_FLAG_CODE = re.compile(r"^[a-z_]+")


def _flag_words(flag: str) -> str:
    """A known code in words; a note after it (``"side_from_dicom_laterality (the image looked ...)"``) is kept."""
    code = _FLAG_CODE.match(flag)
    words = _FLAG_WORDS.get(code.group(0)) if code else None
    return flag if words is None else words + flag[len(code.group(0)):]


def patient_side_flag(flag: str, legs: Iterable[Mapping[str, Any]]) -> str:
    """A flag text with its image-side prefix (``"left: ..."``) said as the patient's side, and the leg
    localiser's codes in words.

    ``legs`` are the alignment's legs (``image_side``, ``anatomical_side``). ``"left: MPTA: ..."``
    on a leg whose patient side is right becomes ``"right leg (image left): MPTA: ..."``; a prefix
    without a known patient side becomes ``"leg on the image left: ..."``. Other flags are unchanged.
    """
    match = _SIDE_PREFIX.match(flag)
    if not match:
        return _flag_words(flag)
    image_side = match.group(1).removeprefix("image-")
    anatomical = next((leg.get("anatomical_side") for leg in legs if leg.get("image_side") == image_side), None)
    return f"{leg_side_title(anatomical, image_side).lower()}: {match.group(2)}"


def outside_intended_use(flags: Iterable[str]) -> str | None:
    """The first "outside intended use" flag among ``flags`` (e.g. an ankle film), else ``None``."""
    return next((str(f) for f in flags if OUTSIDE_INTENDED_USE in str(f)), None)
