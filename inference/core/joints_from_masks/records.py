"""Result records of the joint derivation: the hip circle, one leg's joints, every leg's joints."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from inference.core.legs import ImageSide


@dataclass(frozen=True)
class HipCircle:
    """A circle fitted to the femoral-head outline.

    Attributes
    ----------
    centre_xy : (2,) float64 ndarray
    radius_px : float
    rms_residual_px : float
        RMS of ``|p - c| - r`` over the inliers.
    n_inliers : int
    arc_deg : float
        Angular span covered by the inliers (360 minus the largest angular gap).
    """

    centre_xy: NDArray[np.float64]
    radius_px: float
    rms_residual_px: float
    n_inliers: int
    arc_deg: float


@dataclass(frozen=True)
class LegJointDerivation:
    """Joints of one leg with their quality figures.

    Attributes
    ----------
    joints_xy : (3, 2) float64 ndarray
        Hip, knee, ankle; NaN where not valid.
    raw_joints_xy : (3, 2) float64 ndarray
        The computed values before validation (NaN only where nothing could be computed).
    valid : (3,) bool ndarray
    residuals_px : (3,) float64 ndarray
        Hip: RMS circle residual; knee: plateau flatness about the rim chord; ankle: RMS plafond
        profile residual (NaN where not computed).
    image_side : {"left", "right"}
    medial_sign : int
        +1 when medial is +x, -1 when -x.
    box_xyxy : (4,) float64 ndarray
        Tight box of the leg's bone pixels (pixel edges), NaN when the leg has no bone.
    hip_circle : HipCircle or None
    plateau_corners_xy : (2, 2) float64 ndarray or None
        Medial and lateral plateau corners.
    plafond_ends_xy : (2, 2) float64 ndarray or None
        Lateral and medial ends of the plafond.
    flags : tuple of str
    """

    joints_xy: NDArray[np.float64]
    raw_joints_xy: NDArray[np.float64]
    valid: NDArray[np.bool_]
    residuals_px: NDArray[np.float64]
    image_side: ImageSide
    medial_sign: int
    box_xyxy: NDArray[np.float64]
    hip_circle: HipCircle | None
    plateau_corners_xy: NDArray[np.float64] | None
    plafond_ends_xy: NDArray[np.float64] | None
    flags: tuple[str, ...]


@dataclass(frozen=True)
class JointDerivation:
    """Joints of every leg of a label map, ordered left to right in the image.

    Attributes
    ----------
    legs : tuple of LegJointDerivation
    x_mid : float or None
        The leg boundary used (None for one leg).
    split_source : {"given", "gap", "two_means", "single"}
    """

    legs: tuple[LegJointDerivation, ...]
    x_mid: float | None
    split_source: str

    @property
    def n_legs(self) -> int:
        return len(self.legs)

    @property
    def joints_xy(self) -> NDArray[np.float64]:
        """``(n_legs, 3, 2)`` hip, knee, ankle; NaN where not valid."""
        if not self.legs:
            return np.zeros((0, 3, 2))
        return np.stack([leg.joints_xy for leg in self.legs])

    @property
    def valid(self) -> NDArray[np.bool_]:
        """``(n_legs, 3)`` validity of each joint."""
        if not self.legs:
            return np.zeros((0, 3), dtype=bool)
        return np.stack([leg.valid for leg in self.legs])

    @property
    def residuals_px(self) -> NDArray[np.float64]:
        """``(n_legs, 3)`` per-joint residuals (see :class:`LegJointDerivation`)."""
        if not self.legs:
            return np.zeros((0, 3))
        return np.stack([leg.residuals_px for leg in self.legs])

    @property
    def leg_boxes_xyxy(self) -> NDArray[np.float64]:
        """``(n_legs, 4)`` tight bone boxes ``(x0, y0, x1, y1)`` on pixel edges."""
        if not self.legs:
            return np.zeros((0, 4))
        return np.stack([leg.box_xyxy for leg in self.legs])

    @property
    def all_valid(self) -> bool:
        return bool(self.legs) and bool(self.valid.all())
