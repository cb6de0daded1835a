"""Legs whose hip or ankle lies outside the image: measure what is in view, never what is not (issue 24, item 5).

Many long-leg films cut the feet or the hip (cassette size, collimation, patient height). A leg's joints
are still placed on such a film (the localiser's ankle then sits on the image's lower edge), and before this
stage every leg got an HKA measured to an ankle that was not in the image: on 20 held-out children's EOS films
cut just above the ankles, every leg found got one.

A joint is taken to be **outside the image** when it lies within :data:`JOINT_EDGE_FRACTION` of the leg's
length of the image's edge or beyond it (on a cut film the localiser puts the ankle on the edge), or when its
bone's outline reaches the edge (:data:`EDGE_TOLERANCE_FRACTION`; the femoral head cut at the top). Measured
with the shipped starter on the 101 held-out EOS films (fold 0; `/tmp`-free script in docs/accuracy.md):
whole films, the ankle joint lies 1.5 % of the leg's length or more above the lower edge (0 of 197 legs
flagged); the same films cut 4 % of the leg's length above the plafond, 62 of the 74 legs found are flagged
(their ankle within 0.1 %); the other 12 had their ankle placed 10-30 % of the leg's length up the tibia, a
localiser error that this rule does not see (a tibia/femur ratio rule would, but children with mesomelic
dysplasia have short tibiae).

Every metric that needs the missing anatomy is then ``None`` with the reason in ``not_measurable``, the joint is
left out of the JSON's ``joints`` (architecture.md §6), and one flag says what was not measured; the angles of
the anatomy in view (e.g. mLDFA, aLDFA, JLCA, NSA with the ankle cut) are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from inference.core.alignment import LegAlignment

__all__ = ["DEPENDS_ON", "EDGE_TOLERANCE_FRACTION", "HEAD_CUT_FRACTION", "JOINT_EDGE_FRACTION", "joints_outside_image", "outside_image_reason",
           "without_joints_outside_image"]

#: The metrics that need each joint (the mechanical axes run through it, or the bone end near it must be seen).
DEPENDS_ON: Mapping[str, tuple[str, ...]] = {
    "ankle": ("hka_deviation_deg", "HKA", "MAD", "MPTA", "mLDTA", "tibial_cora_deg", "tibia_length", "leg_length"),
    "hip": ("hka_deviation_deg", "HKA", "MAD", "NSA", "mLPFA", "mLDFA", "AMA", "femoral_cora_deg", "femur_length",
            "leg_length"),
}
#: How close to the image's edge (as a fraction of the hip-ankle distance, at least 1.5 px) a bone's outline
#: counts as running out of the image.
EDGE_TOLERANCE_FRACTION = 0.004
#: How close to the edge a joint counts as outside (the localiser's ankle sits on the edge of a cut film).
JOINT_EDGE_FRACTION = 0.01
#: How close to the upper edge the femur's outline may reach before the femoral head counts as cut: the members
#: stop short of the edge of a cut film (median 3 % of the leg's length), a whole film's femur starts 3.4 % or more
#: below it.
HEAD_CUT_FRACTION = 0.02
_MIN_TOLERANCE_PX = 1.5
_WORDS = {"hka_deviation_deg": "HKA", "HKA": None, "tibial_cora_deg": "tibial CORA", "femoral_cora_deg": "femoral CORA",
          "tibia_length": "tibia length", "femur_length": "femur length", "leg_length": "leg length"}


def outside_image_reason(joint: str) -> str:
    """``"ankle outside the image"``: the reason of every metric that needs the joint."""
    return f"{joint} outside the image"


def joints_outside_image(femur_polygons: Iterable[NDArray[np.float64]], tibia_polygons: Iterable[NDArray[np.float64]],
                         *, hip_xy: NDArray[np.float64], ankle_xy: NDArray[np.float64],
                         height: int) -> tuple[str, ...]:
    """``("hip",)``, ``("ankle",)``, both or neither: the joints of one leg that lie outside an image ``height``
    rows high, judged from the leg's femur and tibia outlines (image pixels) and its joints."""
    length = float(np.linalg.norm(np.subtract(ankle_xy, hip_xy)))
    outline_margin = max(_MIN_TOLERANCE_PX, EDGE_TOLERANCE_FRACTION * length)
    joint_margin = max(_MIN_TOLERANCE_PX, JOINT_EDGE_FRACTION * length)
    outside = []
    femur_top = min((float(np.min(p[:, 1])) for p in femur_polygons if len(p)), default=np.inf)
    if femur_top <= max(outline_margin, HEAD_CUT_FRACTION * length) or hip_xy[1] <= joint_margin:
        outside.append("hip")
    tibia_bottom = max((float(np.max(p[:, 1])) for p in tibia_polygons if len(p)), default=-np.inf)
    if tibia_bottom >= height - outline_margin or ankle_xy[1] >= height - joint_margin:
        outside.append("ankle")
    return tuple(outside)


def without_joints_outside_image(leg: LegAlignment, outside: tuple[str, ...]) -> LegAlignment:
    """``leg`` with every metric that needs a joint in ``outside`` set to None, the reasons in ``not_measurable``
    and one flag per joint naming what was not measured."""
    if not outside:
        return leg
    metrics = dict(leg.metrics)
    reasons: dict[str, str] = dict(leg.not_measurable)
    flags = list(leg.flags)
    for joint in outside:
        names = DEPENDS_ON[joint]
        for name in names:
            metrics[name] = None
            reasons.setdefault(name, outside_image_reason(joint))
        words = [w for w in (_WORDS.get(n, n) for n in names) if w]
        flags.append(f"{outside_image_reason(joint)}: {', '.join(words)} not measured")
    length_landmarks = leg.length_landmarks
    if "hip" in outside:
        length_landmarks = replace(length_landmarks, femoral_head_apex=None)
    return replace(leg, metrics=metrics, not_measurable=reasons, flags=tuple(flags),
                   outside_image=tuple(dict.fromkeys((*leg.outside_image, *outside))),
                   length_landmarks=length_landmarks)
