"""Leg and joint records shared by the key-point ensemble, pruning, the knee update and alignment.

Conventions (the project's single statement of them; every core module refers here)
---------------------------------------------------------------------------------
* Coordinates are image pixels ``(x, y)``: x is the column, growing to the right; y is the row,
  growing downward; the origin is the top-left corner of the top-left pixel, so the centre of pixel
  ``[row, col]`` is ``(col + 0.5, row + 0.5)``. Arrays of points are ``(N, 2)`` float64 in ``(x, y)``.
  Masks are ``(H, W)`` arrays indexed ``[row, col]``; convert only through :func:`xy_to_rc` and
  :func:`rc_to_xy`.
* Mask labels: 0 background, 1 femur, 2 tibia (:data:`BACKGROUND`, :data:`FEMUR`, :data:`TIBIA`).
* Joints per leg, in this order: 0 hip (femoral-head centre), 1 knee (tibial-plateau centre),
  2 ankle (tibial-plafond centre).
* ``image_side`` is where the leg lies in the image (``"left"`` / ``"right"``); ``anatomical_side``
  is the patient side (``"right"`` / ``"left"`` / ``None`` when unknown). On a standard AP view the
  image-left leg is the patient's right.
* Angles are in degrees and named ``*_deg``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from annotations.core.mask_labels import BACKGROUND, FEMUR, TIBIA

JOINT_NAMES: tuple[str, str, str] = ("hip", "knee", "ankle")

ImageSide = Literal["left", "right"]
AnatomicalSide = Literal["right", "left"]


def xy_to_rc(points_xy: NDArray[np.float64]) -> NDArray[np.intp]:
    """Convert ``(N, 2)`` image ``(x, y)`` points to ``(N, 2)`` integer ``(row, col)`` pixel indices.

    A point inside pixel ``[r, c]`` (``c <= x < c + 1``, ``r <= y < r + 1``) maps to ``(r, c)``.
    """
    points_xy = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    return np.floor(points_xy[:, ::-1]).astype(np.intp)


def rc_to_xy(rows: NDArray[np.integer], cols: NDArray[np.integer]) -> NDArray[np.float64]:
    """Return the ``(N, 2)`` ``(x, y)`` centres of the pixels ``[rows[i], cols[i]]``."""
    return np.column_stack(
        [np.asarray(cols, dtype=np.float64) + 0.5, np.asarray(rows, dtype=np.float64) + 0.5]
    )


@dataclass(frozen=True)
class LegJoints:
    """The three joint centres of one leg, in image ``(x, y)`` pixels.

    ``variance_xy`` optionally holds per-joint ``(3, 2)`` variances (px²) of the estimate, as the
    key-point ensemble reports them; ``None`` for annotated (exact) joints.
    """

    hip_xy: NDArray[np.float64]
    knee_xy: NDArray[np.float64]
    ankle_xy: NDArray[np.float64]
    image_side: ImageSide | None = None
    anatomical_side: AnatomicalSide | None = None
    variance_xy: NDArray[np.float64] | None = field(default=None, compare=False)

    @classmethod
    def from_array(
        cls,
        joints_xy: NDArray[np.float64],
        *,
        image_side: ImageSide | None = None,
        anatomical_side: AnatomicalSide | None = None,
        variance_xy: NDArray[np.float64] | None = None,
    ) -> LegJoints:
        """Build from a ``(3, 2)`` array ordered hip, knee, ankle."""
        joints_xy = np.asarray(joints_xy, dtype=np.float64)
        if joints_xy.shape != (3, 2) or not np.all(np.isfinite(joints_xy)):
            raise ValueError(f"joints_xy must be a finite (3, 2) array, got {joints_xy.shape}")
        return cls(
            joints_xy[0].copy(),
            joints_xy[1].copy(),
            joints_xy[2].copy(),
            image_side,
            anatomical_side,
            variance_xy,
        )

    def as_array(self) -> NDArray[np.float64]:
        """Return the ``(3, 2)`` array hip, knee, ankle."""
        return np.vstack([self.hip_xy, self.knee_xy, self.ankle_xy]).astype(np.float64)
