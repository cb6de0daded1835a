"""One labelled image that member models train on: the type the training data loaders produce
(:mod:`training.core.datasets`) and every backend's ``train`` takes (:mod:`inference.backends`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["TrainingSample"]


@dataclass(frozen=True)
class TrainingSample:
    """One training image.

    Attributes
    ----------
    name : str
        File stem.
    image : (H, W) uint8 ndarray
        Grey pixels, bone bright, original resolution.
    label_map : (H, W) uint8 ndarray
        0 background, 1 femur, 2 tibia.
    joints_xy : (n_legs, 3, 2) float64 ndarray
        Hip, knee, ankle of each leg in image ``(x, y)``, legs ordered left to right in the image.
        NaN where unknown (e.g. ``joints_from="none"``, or when the joints could not be derived).
    group : str
        Patient code; folds never split a group.
    """

    name: str
    image: NDArray[np.uint8]
    label_map: NDArray[np.uint8]
    joints_xy: NDArray[np.float64]
    group: str = ""

    def __post_init__(self) -> None:
        if self.image.ndim != 2 or self.image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W) uint8, got {self.image.shape} {self.image.dtype}")
        if self.label_map.shape != self.image.shape or self.label_map.dtype != np.uint8:
            raise ValueError(
                f"label_map must be (H, W) uint8 like the image {self.image.shape}, "
                f"got {self.label_map.shape} {self.label_map.dtype}"
            )
        joints = np.asarray(self.joints_xy, dtype=np.float64)
        if joints.ndim != 3 or joints.shape[1:] != (3, 2):
            raise ValueError(f"joints_xy must be (n_legs, 3, 2), got {joints.shape}")
        object.__setattr__(self, "joints_xy", joints)

    @property
    def n_legs(self) -> int:
        """Number of legs (first axis of ``joints_xy``)."""
        return int(self.joints_xy.shape[0])
