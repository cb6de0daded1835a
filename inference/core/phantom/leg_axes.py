"""Directions of a phantom leg: mechanical axes and joint lines from its angles."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq

from inference.core.geometry import rotate_deg
from inference.core.phantom.params import LegParams


def _rot_toward(v: NDArray, angle_deg: float, side: NDArray) -> NDArray:
    """``v`` rotated by ``angle_deg`` in whichever sense ends up on the ``side`` half-plane."""
    a = rotate_deg(v, angle_deg)
    b = rotate_deg(v, -angle_deg)
    return a if float(a @ side) >= float(b @ side) else b


def _rot_signed(v: NDArray, angle_deg: float, side: NDArray) -> NDArray:
    """Rotate ``v`` by ``|angle_deg|`` toward ``side`` for positive angles, away for negative ones."""
    sense = 1.0 if float(rotate_deg(v, 1.0) @ side) > float(rotate_deg(v, -1.0) @ side) else -1.0
    return rotate_deg(v, sense * angle_deg)


def _perp(v: NDArray) -> NDArray:
    return np.array([-v[1], v[0]])


def _leg_directions(p: LegParams, mech_tilt_deg: float, m: int) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Unit directions of one leg: femoral mechanical axis (H -> N), distal femoral joint line
    (lateral), plateau (lateral) and tibial mechanical axis (N -> A)."""
    lat = np.array([-m, 0.0])
    alpha = math.radians(mech_tilt_deg)
    u_fm = np.array([m * math.sin(alpha), math.cos(alpha)])  # positive tilt: knee medial of hip
    j_f = _rot_toward(-u_fm, p.mldfa_deg, lat)  # at mLDFA against H - N
    cands = [rotate_deg(j_f, p.jlca_deg), rotate_deg(j_f, -p.jlca_deg)]
    # Positive JLCA opens the joint laterally: the plateau's lateral end drops away from the femur.
    p_lat = max(cands, key=lambda v: v[1]) if p.jlca_deg > 0 else min(cands, key=lambda v: v[1])
    u_tm = _rot_toward(-p_lat, p.mpta_deg, np.array([0.0, 1.0]))  # at MPTA against the plateau
    return u_fm, j_f, p_lat, u_tm


def _tilt_for_ankle(p: LegParams, m: int, medial_offset_mm: float) -> float | None:
    """Femoral mechanical tilt that puts the ankle ``medial_offset_mm`` medial of the hip."""

    def f(a: float) -> float:
        u_fm, _, _, u_tm = _leg_directions(p, a, m)
        return m * (p.femur_length_mm * u_fm[0] + p.tibia_length_mm * u_tm[0]) - medial_offset_mm

    lo, hi = -6.0, 12.0
    if f(lo) * f(hi) > 0:
        return None
    return float(brentq(f, lo, hi, xtol=1e-9))
