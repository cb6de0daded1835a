"""Which bone a SAM click or box means: femur above the knee, tibia below it (issue 26, item 2).

The bone of a decoded outline was guessed from where the returned mask lay (its centre of mass in the upper or
lower half of the image), which is wrong whenever the mask is (a click inside a child's left femur came back
labelled "tibia") and on any film whose knees are not at mid-height. A person who clicks inside a bone means
the bone under the click, so the label comes from where the click falls relative to the knee of the leg it falls
on, as the image's prediction (or its annotation) placed them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["bone_at"]


def _leg_distance(point: np.ndarray, joints: Mapping[str, Sequence[float]]) -> float:
    """Horizontal distance of ``point`` from the leg's hip-knee-ankle polyline at the point's height."""
    chain = [np.asarray(joints[name], dtype=np.float64) for name in ("hip", "knee", "ankle") if name in joints]
    if len(chain) == 1:
        return abs(float(point[0] - chain[0][0]))
    xs = [c[0] for c in chain]
    ys = [c[1] for c in chain]
    order = np.argsort(ys)
    return abs(float(point[0] - np.interp(point[1], np.asarray(ys)[order], np.asarray(xs)[order])))


def bone_at(point_xy: Sequence[float], legs: Sequence[Mapping[str, Any]]) -> str | None:
    """``"femur"`` when ``point_xy`` lies above the knee of the leg it is nearest to, ``"tibia"`` below it; ``None``
    without a leg that has a knee.

    ``legs`` are alignment-JSON legs (their ``joints``; a joint outside the image may be missing).
    """
    point = np.asarray(point_xy, dtype=np.float64).reshape(2)
    candidates = [leg["joints"] for leg in legs if "knee" in (leg.get("joints") or {})]
    if not candidates:
        return None
    joints = min(candidates, key=lambda j: _leg_distance(point, j))
    return "femur" if point[1] < float(joints["knee"][1]) else "tibia"
