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
  knee centre outside the ends of the bones.

Legs are named by the patient's side when the alignment knows it, else by the side of the image they lie on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from clinical.core.plausibility import PlausibilityFlag

__all__ = ["BLOCKING_PLAUSIBILITY_CODES", "HKA_DEVIATION_LIMIT_DEG", "acceptance_blockers"]

HKA_DEVIATION_LIMIT_DEG = 45.0
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
    for flag in plausibility:
        if flag.code in BLOCKING_PLAUSIBILITY_CODES:
            where = names.get(flag.leg, "image") if flag.leg is not None else "image"
            blockers.append(f"{where.capitalize()}: {flag.message}.")
    return blockers
