"""Joint-based quantities: the signed HKA deviation and MAD, and the medial direction.

The HKA deviation is negative for varus (knee lateral to the line H-A); MAD is positive when the
line H-A passes medial to the knee.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inference.core.geometry import GeometryError, Line, angle_between_deg


def hka_deviation_deg(
    hip_xy: ArrayLike, knee_xy: ArrayLike, ankle_xy: ArrayLike, *, medial_sign: int
) -> tuple[NDArray[np.float64] | float, NDArray[np.float64] | float]:
    """Signed HKA deviation and MAD (px) from joints; arrays broadcast over leading dimensions.

    Parameters
    ----------
    hip_xy, knee_xy, ankle_xy : array_like, shape (..., 2)
    medial_sign : {+1, -1}
        +1 when medial is +x.

    Returns
    -------
    deviation_deg : float or ndarray
        ``arccos`` angle between ``N - H`` and ``A - N``; negative when the knee lies lateral to the
        line H-A (varus), positive when medial (valgus).
    mad_px : float or ndarray
        Perpendicular distance of N from the line H-A, positive when the line passes medial to N.
    """
    h = np.asarray(hip_xy, dtype=np.float64)
    n = np.asarray(knee_xy, dtype=np.float64)
    a = np.asarray(ankle_xy, dtype=np.float64)
    delta = np.asarray(angle_between_deg(n - h, a - n))
    d = a - h
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    normal = np.stack([d[..., 1], -d[..., 0]], axis=-1)
    normal = normal * np.where(normal[..., 0] * medial_sign < 0, -1.0, 1.0)[..., None]
    medial_offset = np.sum((n - h) * normal, axis=-1)
    dev = np.where(medial_offset < 0, -delta, delta)
    mad = -medial_offset
    if np.ndim(dev) == 0:
        return float(dev), float(mad)
    return dev, mad


def _infer_medial_sign(hip: NDArray[np.float64], upper_axis: Line | None) -> int | None:
    """+1 when the femoral head lies at larger x than the proximal shaft axis (medial = +x)."""
    if upper_axis is None:
        return None
    try:
        x_axis = upper_axis.x_at(float(hip[1]))
    except GeometryError:
        return None
    if hip[0] == x_axis:
        return None
    return 1 if hip[0] > x_axis else -1
