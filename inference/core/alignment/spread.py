"""Metric values with their spread (§5.3 [D]).

Monte-Carlo metrics report the median over valid draws with mean, SD (ddof=1), 2.5th and 97.5th
percentiles and the count; exact landmark and joint metrics have SD 0 unless the leg carries joint
variances, which give a spread from Gaussian joint draws.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from inference.core.alignment.records import MetricValue
from inference.core.alignment.sampling import _LegContext


def _mc_metric(values: NDArray[np.float64], n_represented: int, *, unit: str = "deg") -> MetricValue | None:
    """Median and spread of the finite draws; ``None`` when there is none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    if v.size == 1 and n_represented > 1:
        # |S| <= n_samples: every draw is the whole set; one computation stands for all of them.
        val = float(v[0])
        return MetricValue(val, 0.0, val, val, val, n_represented, unit, "monte_carlo")
    p2, med, p97 = np.percentile(v, [2.5, 50.0, 97.5])
    sd = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return MetricValue(float(med), sd, float(p2), float(p97), float(v.mean()), int(v.size), unit, "monte_carlo")


def _fixed_metric(value: float, draws: NDArray[np.float64] | None, *, unit: str, method: str) -> MetricValue:
    """An exact (landmark / joint) metric; with joint draws, the spread comes from them."""
    if draws is None:
        return MetricValue(float(value), 0.0, float(value), float(value), float(value), 1, unit, method)
    d = np.asarray(draws, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return MetricValue(float(value), 0.0, float(value), float(value), float(value), 1, unit, method)
    p2, p97 = np.percentile(d, [2.5, 97.5])
    return MetricValue(float(value), float(d.std(ddof=1)), float(p2), float(p97), float(d.mean()), int(d.size), unit, method + "+joint_variance")


def _joint_draws(ctx: _LegContext) -> NDArray[np.float64] | None:
    var = ctx.joints.variance_xy
    if var is None:
        return None
    var = np.asarray(var, dtype=np.float64)
    if var.shape != (3, 2) or not np.all(np.isfinite(var)) or np.any(var < 0) or not np.any(var > 0):
        return None
    rng = np.random.default_rng([ctx.opts.seed, ctx.image_key, ctx.leg_index, 0, 0])
    noise = rng.standard_normal((ctx.opts.n_draws, 3, 2)) * np.sqrt(var)[None]
    return ctx.joints.as_array()[None] + noise
