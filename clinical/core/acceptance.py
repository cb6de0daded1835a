"""Which failures make a prediction unsafe to accept as it is (approving is safe: issue 16, item 7).

A reviewer may accept a prediction with one click only when nothing below applies; otherwise they correct
it, reject it, or override with a reason, which the review event and every dataset snapshot holding the
revision record. The other plausibility flags (femoral head fit, asymmetry, laterality) stay prompts that
raise the review priority: skeletal dysplasia produces real asymmetry and abnormal heads.

Blocking
--------
* no leg aligned;
* a leg without a usable femur or tibia outline (the alignment's "too few pixels" flags);
* ``|hka_deviation_deg|`` above :data:`HKA_DEVIATION_LIMIT_DEG` (beyond any anatomy: the worst varus and
  valgus deformities operated on are 30-40°);
* the plausibility codes in :data:`BLOCKING_PLAUSIBILITY_CODES`: joints out of order along the leg, the
  knee centre outside the ends of the bones;
* a joint angle outside :data:`ANGLE_LIMITS_DEG` (issue 27, item 3): the adult normal range widened by 15°
  on each side (25° for the neck-shaft angle, which children and a projected anteverted neck read high),
  so a left mLDTA of 67.5° (normal 86-92°, plafond line visibly tilted) can no longer be approved with one
  click, while the deformities of skeletal dysplasia that are real are accepted with a reason;
* the same joint angle more than :data:`ANGLE_ASYMMETRY_LIMIT_DEG` apart between the two legs of one film.

Legs are named by the patient's side when the alignment knows it, else by the side of the image they lie on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from clinical.core.plausibility import PlausibilityFlag

__all__ = ["ANGLE_ASYMMETRY_LIMIT_DEG", "ANGLE_LIMITS_DEG", "BLOCKING_PLAUSIBILITY_CODES", "HKA_DEVIATION_LIMIT_DEG",
           "acceptance_blockers"]

HKA_DEVIATION_LIMIT_DEG = 45.0
#: Joint angles beyond which a prediction needs a correction or a reason: (lowest, highest) in degrees.
ANGLE_LIMITS_DEG: Mapping[str, tuple[float, float]] = {
    "mLDFA": (70.0, 105.0), "MPTA": (70.0, 105.0), "mLDTA": (71.0, 107.0), "mLPFA": (70.0, 110.0),
    "aLDFA": (64.0, 98.0), "JLCA": (-15.0, 17.0), "NSA": (100.0, 160.0),
}
#: The most one joint angle may differ between the two legs of one film before it needs a correction or a reason.
ANGLE_ASYMMETRY_LIMIT_DEG = 15.0
BLOCKING_PLAUSIBILITY_CODES: frozenset[str] = frozenset({"joint_order", "knee_outside_bones"})
_MISSING_BONE_PREFIXES = ("femur: ", "tibia: ")


def _leg_name(leg: Mapping[str, Any]) -> str:
    side = leg.get("anatomical_side")
    if side in ("right", "left"):
        return f"{side} leg"
    image_side = leg.get("image_side")
    return f"leg on the image's {image_side}" if image_side else "leg"


def acceptance_blockers(alignment: Mapping[str, Any] | None,
                        plausibility: Sequence[PlausibilityFlag] = ()) -> list[str]:
    """Why a prediction with this alignment must not be accepted as it is; empty when it may be.

    Parameters
    ----------
    alignment : mapping or None
        Alignment result JSON (architecture.md §6) of the prediction.
    plausibility : sequence of PlausibilityFlag
        :func:`clinical.core.plausibility.plausibility_checks` of the same alignment and document.

    Returns
    -------
    list of str
        One sentence per failure, in a fixed order (legs first, then the plausibility checks).
    """
    legs = list((alignment or {}).get("legs") or [])
    if not legs:
        return ["No leg was aligned."]
    names = {leg.get("image_side"): _leg_name(leg) for leg in legs}
    blockers: list[str] = []
    for leg in legs:
        name = _leg_name(leg)
        for flag in leg.get("flags") or []:
            if str(flag).startswith(_MISSING_BONE_PREFIXES) and "pixels" in str(flag):
                bone = str(flag).split(":", 1)[0]
                blockers.append(f"{name.capitalize()}: no usable {bone} outline ({flag}).")
        hka = ((leg.get("metrics") or {}).get("hka_deviation_deg") or {}).get("value")
        if hka is not None and (not math.isfinite(hka) or abs(hka) > HKA_DEVIATION_LIMIT_DEG):
            blockers.append(f"{name.capitalize()}: HKA deviation {hka:+.1f}° is beyond any anatomy "
                            f"(limit ±{HKA_DEVIATION_LIMIT_DEG:g}°).")
        blockers += _angle_limit_blockers(name, leg)
    blockers += _asymmetry_blockers(legs)
    for flag in plausibility:
        if flag.code in BLOCKING_PLAUSIBILITY_CODES:
            where = names.get(flag.leg, "image") if flag.leg is not None else "image"
            blockers.append(f"{where.capitalize()}: {flag.message}.")
    return blockers


def _angle(leg: Mapping[str, Any], name: str) -> float | None:
    value = ((leg.get("metrics") or {}).get(name) or {}).get("value")
    return None if value is None else float(value)


def _angle_limit_blockers(name: str, leg: Mapping[str, Any]) -> list[str]:
    blockers = []
    for metric, (low, high) in ANGLE_LIMITS_DEG.items():
        value = _angle(leg, metric)
        if value is not None and not low <= value <= high:
            blockers.append(f"{name.capitalize()}: {metric} {value:.1f}° is outside physiological limits "
                            f"({low:g}-{high:g}°).")
    return blockers


def _asymmetry_blockers(legs: Sequence[Mapping[str, Any]]) -> list[str]:
    if len(legs) != 2:
        return []
    blockers = []
    for metric in ANGLE_LIMITS_DEG:
        values = [_angle(leg, metric) for leg in legs]
        if None in values or abs(values[0] - values[1]) <= ANGLE_ASYMMETRY_LIMIT_DEG:  # type: ignore[operator]
            continue
        names = " and ".join(f"{_leg_name(leg)} {value:.1f}°" for leg, value in zip(legs, values, strict=True))
        blockers.append(f"{metric} differs by {abs(values[0] - values[1]):.1f}° between the legs ({names}; "  # type: ignore[operator]
                        f"limit {ANGLE_ASYMMETRY_LIMIT_DEG:g}°).")
    return blockers
