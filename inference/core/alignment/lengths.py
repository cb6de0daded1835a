"""Length landmarks of a leg and its lengths after a new femoral-head apex."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from inference.core.alignment.records import LegAlignment
from inference.core.alignment.sampling import _BoneMask, _LegContext
from inference.core.alignment.spread import _fixed_metric
from inference.core.leg_lengths import LENGTH_METRICS, LengthLandmarks, femoral_head_apex_xy, leg_length_values


def with_femoral_head_apex(leg: LegAlignment, apex_xy: NDArray[np.float64], *,
                           pixel_spacing_mm: float | None) -> LegAlignment:
    """``leg`` with its femoral-head apex replaced (e.g. by the leg localiser's) and its lengths recomputed."""
    landmarks = replace(leg.length_landmarks, femoral_head_apex=np.asarray(apex_xy, dtype=np.float64))
    metrics = dict(leg.metrics)
    flags = [f for f in leg.flags if not f.startswith(tuple(f"{name}:" for name in LENGTH_METRICS))]
    for name, value_px in leg_length_values(landmarks, leg.joints.knee_xy, leg.joints.ankle_xy).items():
        if value_px is None:
            metrics[name] = None
            flags.append(f"{name}: femoral-head apex or condyles not found")
            continue
        length = _fixed_metric(value_px * (pixel_spacing_mm or 1.0), None, unit="mm" if pixel_spacing_mm else "px",
                               method="landmarks")
        metrics[name] = replace(length, value_px=value_px)
    return replace(leg, metrics=metrics, length_landmarks=landmarks, flags=tuple(flags))


def _length_landmarks(femur: _BoneMask, ctx: _LegContext, condyles: NDArray[np.float64] | None,
                      medial_sign: int | None, head_radius: float | None) -> LengthLandmarks:
    """Femoral-head apex and the condyles as medial / lateral ends of the knee joint line."""
    apex = None
    if femur.count >= ctx.opts.min_pixels:
        apex = femoral_head_apex_xy(femur.mask, femur.col_lo, ctx.joints.hip_xy, head_radius)
    if condyles is None or medial_sign is None:
        return LengthLandmarks(femoral_head_apex=apex)
    return LengthLandmarks(femoral_head_apex=apex, medial_knee_joint_line=np.asarray(condyles[0], float),
                           lateral_knee_joint_line=np.asarray(condyles[1], float))
