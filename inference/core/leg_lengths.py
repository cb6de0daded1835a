"""Leg lengths and their landmarks, per leg, from the final femur mask and the joints (Django/torch-free).

Landmarks (architecture.md §6, ``legs[].landmarks``), as leg-length tools and the EOS data define them:

* ``femoral_head_apex``: the most proximal point of the femoral head: the mean column of the top
  femur row within a head radius of the hip centre (the greater trochanter is excluded even when it
  rises above the head);
* ``medial_knee_joint_line`` / ``lateral_knee_joint_line``: the lowest points of the medial and
  lateral femoral condyles, the ends of the distal femoral joint line;
* the plafond centre is the ankle joint itself.

Lengths (``{"value", "unit"}``; mm with a pixel spacing, px otherwise): ``leg_length`` =
|apex - plafond centre|; ``femur_length`` = |apex - midpoint of the condyles|; ``tibia_length`` =
|knee (tibial plateau centre) - plafond centre|. ``lld`` per image = right ``leg_length`` minus left,
only when both legs have one and their patient sides are known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["LENGTH_METRICS", "LengthLandmarks", "femoral_head_apex_xy", "leg_length_discrepancy",
           "leg_length_values"]

LENGTH_METRICS: tuple[str, ...] = ("leg_length", "femur_length", "tibia_length")


@dataclass(frozen=True)
class LengthLandmarks:
    """The leg-length landmarks of one leg in image ``(x, y)``; ``None`` when not found."""

    femoral_head_apex: NDArray[np.float64] | None = None
    medial_knee_joint_line: NDArray[np.float64] | None = None
    lateral_knee_joint_line: NDArray[np.float64] | None = None

    def to_json(self) -> dict[str, list[float] | None]:
        return {name: None if (point := getattr(self, name)) is None else [round(float(v), 3) for v in point]
                for name in ("femoral_head_apex", "medial_knee_joint_line", "lateral_knee_joint_line")}


def femoral_head_apex_xy(femur_mask: NDArray[np.bool_], col_lo: int, hip_xy: NDArray[np.float64],
                         head_radius_px: float | None) -> NDArray[np.float64] | None:
    """Top of the femur within a head radius of the hip centre (``femur_mask`` columns start at ``col_lo``).

    Without a measured head radius the window's half-width is 1/25 of the femur's height (about a head
    radius in adults and children).
    """
    rows_any = np.flatnonzero(femur_mask.any(axis=1))
    if not len(rows_any):
        return None
    radius = head_radius_px or (rows_any[-1] - rows_any[0] + 1) / 25.0
    lo = max(0, int(np.floor(hip_xy[0] - radius)) - col_lo)
    hi = min(femur_mask.shape[1], int(np.ceil(hip_xy[0] + radius)) - col_lo + 1)
    if hi <= lo:
        return None
    window = femur_mask[: int(np.ceil(hip_xy[1])) + 1, lo:hi]  # above the hip centre only
    rows = np.flatnonzero(window.any(axis=1))
    if not len(rows):
        return None
    top = rows[0]
    return np.array([col_lo + lo + float(np.flatnonzero(window[top]).mean()) + 0.5, top + 0.5])


def leg_length_values(landmarks: LengthLandmarks, knee_xy: NDArray[np.float64], ankle_xy: NDArray[np.float64]
                      ) -> dict[str, float | None]:
    """The three lengths in pixels (``None`` where a landmark is missing)."""
    apex = landmarks.femoral_head_apex
    condyles = (None if landmarks.medial_knee_joint_line is None or landmarks.lateral_knee_joint_line is None
                else 0.5 * (landmarks.medial_knee_joint_line + landmarks.lateral_knee_joint_line))
    return {
        "leg_length": None if apex is None else float(np.linalg.norm(ankle_xy - apex)),
        "femur_length": None if apex is None or condyles is None else float(np.linalg.norm(condyles - apex)),
        "tibia_length": float(np.linalg.norm(ankle_xy - knee_xy)),
    }


def leg_length_discrepancy(legs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``{"value", "unit"}`` = right minus left ``leg_length`` of alignment-JSON legs, or ``None``."""
    by_side = {leg.get("anatomical_side"): (leg.get("metrics") or {}).get("leg_length") for leg in legs}
    right, left = by_side.get("right"), by_side.get("left")
    if not right or not left or right.get("value") is None or left.get("value") is None:
        return None
    if right.get("unit") != left.get("unit"):
        return None
    return {"value": round(float(right["value"]) - float(left["value"]), 3), "unit": right["unit"]}
