"""CORA points: the median shaft axes of the Monte-Carlo fits and their crossing.

The point is ``None`` when an axis is missing, the axes are within ``cora_point_min_deg`` of parallel,
or they cross outside the image.
"""

from __future__ import annotations

import numpy as np

from inference.core.alignment.sampling import _LegContext
from inference.core.geometry import Line, OlsBatch, intersect_lines


def _median_line(fit: OlsBatch) -> Line | None:
    ok = fit.valid & np.isfinite(fit.k) & np.isfinite(fit.b)
    if not ok.any():
        return None
    return Line.from_x_on_y(float(np.median(fit.k[ok])), float(np.median(fit.b[ok])))


def _cora_point(fit_a: OlsBatch, fit_b: OlsBatch, ctx: _LegContext, angle_deg: float) -> tuple[float, float] | None:
    """Crossing of the median proximal and distal lines (:func:`cora_crossing`)."""
    return cora_crossing(_median_line(fit_a), _median_line(fit_b), angle_deg, width=ctx.width, height=ctx.height,
                         min_deg=ctx.opts.cora_point_min_deg)


def cora_crossing(first: Line | None, second: Line | None, angle_deg: float, *, width: float, height: float,
                  min_deg: float) -> tuple[float, float] | None:
    """Crossing of two shaft axes; ``None`` when an axis is missing, the crossing lies outside the
    ``width`` x ``height`` image, or the axes are within ``min_deg`` of parallel (the crossing is then
    undetermined)."""
    if angle_deg < min_deg or first is None or second is None:
        return None
    pt = intersect_lines(first, second, parallel_tol=1e-6)
    if pt is None or not (0.0 <= pt[0] <= width and 0.0 <= pt[1] <= height):
        return None
    return float(pt[0]), float(pt[1])
