"""Monte-Carlo fits of the shaft axes, the femoral neck and the CORA angles.

Every draw is fitted at once, on coordinates centred on a reference point for conditioning (the
knee for the femur, the tibia reference point for the tibia). Shaft lines are ``x = k y + b``, by
OLS x-on-y or PCA (``shaft_fit``; OLS in ``reference_mode``). The neck axis is the growing neck
(§5.6 [D]) and the NSA is directed, or in ``reference_mode`` the fixed nearest 15 % with the obtuse
NSA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from inference.core.alignment.records import AlignmentOptions
from inference.core.geometry import (
    OlsBatch,
    acute_angle_between_deg,
    angle_between_deg,
    fit_lines_pca,
    pca_from_moments,
)


@dataclass(frozen=True, eq=False)
class _FemurDraws:
    lower: OlsBatch
    upper: OlsBatch
    neck_point: NDArray[np.float64]  # (B, 2) image coordinates
    neck_dir: NDArray[np.float64]  # (B, 2) unit, toward the hip
    nsa: NDArray[np.float64]  # (B,)
    cora: NDArray[np.float64]  # (B,)
    unstable: NDArray[np.bool_]  # (B,) stop at the first step
    low_elongation: NDArray[np.bool_]  # (B,)
    q_stop: NDArray[np.float64]  # (B,)


@dataclass(frozen=True, eq=False)
class _TibiaDraws:
    upper: OlsBatch
    lower: OlsBatch
    cora: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class _Samples:
    """Centred sample coordinates ``(B, K)`` with their products, shared by several masked fits."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    xx: NDArray[np.float64]
    xy: NDArray[np.float64]
    yy: NDArray[np.float64]

    @classmethod
    def of(cls, x: NDArray[np.float64], y: NDArray[np.float64]) -> _Samples:
        return cls(x, y, x * x, x * y, y * y)


def _quantiles(d: NDArray[np.float64], qs: Sequence[float]) -> NDArray[np.float64]:
    """Linear-interpolation quantiles along axis 1 with one partition: shape ``(len(qs), B)``."""
    k = d.shape[1]
    pos = np.asarray(qs, dtype=np.float64) * (k - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, k - 1)
    part = np.partition(d, sorted(set(lo.tolist()) | set(hi.tolist())), axis=1)
    frac = (pos - lo)[:, None]
    return part[:, lo].T + frac * (part[:, hi].T - part[:, lo].T)


def _masked_fit(s: _Samples, mask: NDArray[np.bool_], method: str) -> OlsBatch:
    """Per-row line ``x = k*y + b`` through the masked samples (OLS x-on-y or PCA), from moment sums."""
    w = mask.astype(np.float64)
    n = w.sum(axis=1)
    sx = np.einsum("ij,ij->i", w, s.x)
    sy = np.einsum("ij,ij->i", w, s.y)
    syy = np.einsum("ij,ij->i", w, s.yy)
    sxy = np.einsum("ij,ij->i", w, s.xy)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = sx / n, sy / n
        cyy = syy / n - my * my
        cxy = sxy / n - mx * my
        if method == "pca":
            sxx = np.einsum("ij,ij->i", w, s.xx)
            cxx = sxx / n - mx * mx
            theta = 0.5 * np.arctan2(2.0 * cxy, cxx - cyy)
            dx, dy = np.cos(theta), np.sin(theta)
            valid = (n >= 2) & (np.abs(dy) > 1e-9) & (cxx + cyy > 1e-12)
            k = np.where(valid, dx / np.where(valid, dy, 1.0), np.nan)
        else:
            valid = (n >= 2) & (cyy > 1e-12)
            k = np.where(valid, cxy / np.where(valid, cyy, 1.0), np.nan)
    b = np.where(valid, mx - k * my, np.nan)
    return OlsBatch(k, b, valid)


def _femur_draws(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    hip: NDArray[np.float64],
    knee: NDArray[np.float64],
    opts: AlignmentOptions,
) -> _FemurDraws:
    """Shaft fits, femoral CORA and NSA for every draw (``x``, ``y`` ``(B, K)`` image coordinates)."""
    origin = knee
    s = _Samples.of(x - origin[0], y - origin[1])
    hc = hip - origin
    d_n = np.sqrt(s.xx + s.yy)
    lo, hi = opts.femur_upper_range
    q_low, q_u0, q_u1 = _quantiles(d_n, [opts.femur_lower_frac, lo, hi])
    method = "ols" if opts.reference_mode else opts.shaft_fit
    lower = _masked_fit(s, d_n <= q_low[:, None], method)
    upper = _masked_fit(s, (d_n > q_u0[:, None]) & (d_n <= q_u1[:, None]), method)
    cora = np.asarray(acute_angle_between_deg(lower.directions_down(), upper.directions_down()), dtype=np.float64)

    dx, dy = s.x - hc[0], s.y - hc[1]
    d_h = np.sqrt(dx * dx + dy * dy)
    if opts.reference_mode:
        neck_point, neck_dir, nsa, unstable, low_el, q_stop = _neck_reference(s, d_h, hc, upper, opts)
    else:
        neck_point, neck_dir, unstable, low_el, q_stop = _neck_growing(dx, dy, d_h, hc, upper, opts)
        nsa = _directed_nsa(neck_point, neck_dir, hc, upper)
    return _FemurDraws(
        lower=_shift_ols(lower, origin),
        upper=_shift_ols(upper, origin),
        neck_point=neck_point + origin,
        neck_dir=neck_dir,
        nsa=nsa,
        cora=cora,
        unstable=unstable,
        low_elongation=low_el,
        q_stop=q_stop,
    )


def _shift_ols(fit: OlsBatch, origin: NDArray[np.float64]) -> OlsBatch:
    """Convert ``x' = k y' + b'`` in coordinates centred on ``origin`` back to image coordinates."""
    return OlsBatch(fit.k, fit.b + origin[0] - fit.k * origin[1], fit.valid)


def _neck_growing(
    dx: NDArray[np.float64],
    dy: NDArray[np.float64],
    d_h: NDArray[np.float64],
    hc: NDArray[np.float64],
    upper: OlsBatch,
    opts: AlignmentOptions,
) -> tuple[NDArray, NDArray, NDArray, NDArray, NDArray]:
    """The spec's growing neck procedure (§5.6 [D]) for all draws at once.

    ``dx, dy`` are sample coordinates relative to the hip; ``hc`` is the hip and ``upper`` the upper
    shaft lines, both in the knee-centred frame. Points are sorted by distance to the hip; the PCA
    line of every prefix comes from cumulative moment sums, and each step's newly added points are a
    contiguous slice of the sorted order. Returns knee-centred neck points, unit neck directions
    (toward the hip), the first-step flags, the low-elongation flags and the stop quantile.
    """
    b_count, k_count = d_h.shape
    levels = np.arange(opts.neck_q0, opts.neck_qmax + 0.5 * opts.neck_dq, opts.neck_dq)
    levels = levels[levels <= opts.neck_qmax + 1e-9]
    # Keep the nearest points up to q_max plus a margin for ties at the last quantile.
    m = min(k_count, int(math.ceil(levels[-1] * (k_count - 1))) + 2 + int(math.ceil(0.02 * k_count)))
    if m < k_count:
        part = np.argpartition(d_h, m - 1, axis=1)[:, :m]
        d_part = np.take_along_axis(d_h, part, axis=1)
    else:
        part = np.broadcast_to(np.arange(k_count), (b_count, k_count))
        d_part = d_h
    order = np.argsort(d_part, axis=1)
    ds = np.take_along_axis(d_part, order, axis=1)
    sidx = np.take_along_axis(part, order, axis=1)
    sx = np.take_along_axis(dx, sidx, axis=1)
    sy = np.take_along_axis(dy, sidx, axis=1)

    # Quantile values at every level (linear interpolation on the full sorted order; positions lie
    # inside the kept prefix) and the counts of points <= each value (ties included).
    pos = levels * (k_count - 1)
    i0 = np.floor(pos).astype(np.intp)
    frac = pos - i0
    i1 = np.minimum(i0 + 1, m - 1)
    qv = ds[:, i0] + frac * (ds[:, i1] - ds[:, i0])  # (B, L)
    counts = np.empty(qv.shape, dtype=np.intp)
    for j in range(levels.size):
        counts[:, j] = (ds <= qv[:, j : j + 1]).sum(axis=1)

    zeros = np.zeros((b_count, 1))

    def csum(a: NDArray) -> NDArray:
        return np.concatenate([zeros, np.cumsum(a, axis=1)], axis=1)

    def gather(c: NDArray) -> NDArray:
        return np.take_along_axis(c, counts, axis=1)  # (B, L)

    pca = pca_from_moments(
        counts, gather(csum(sx)), gather(csum(sy)), gather(csum(sx * sx)), gather(csum(sx * sy)), gather(csum(sy * sy))
    )
    # Distance of the sorted points to each draw's upper-shaft line, in hip-centred coordinates.
    k_u = np.nan_to_num(upper.k)
    b_u = np.nan_to_num(upper.b + upper.k * hc[1] - hc[0])
    cu = csum(np.abs(sx - (k_u[:, None] * sy + b_u[:, None])) / np.sqrt(1.0 + k_u[:, None] ** 2))

    n_levels = levels.size
    # A near-round set (the femoral head alone) has no defined direction: the stop test only starts
    # once the previous neck line is elongated (lambda1 / lambda2 >= neck_min_elongation).
    elongated = pca.lambda1 >= opts.neck_min_elongation * pca.lambda2
    cond = np.zeros((b_count, n_levels), dtype=bool)
    rows = np.arange(b_count)
    for j in range(1, n_levels):
        c0, c1 = counts[:, j - 1], counts[:, j]
        n_new = c1 - c0
        width = int(n_new.max())
        if width <= 0:
            continue
        mean_u = (cu[rows, c1] - cu[rows, c0]) / np.maximum(n_new, 1)
        idx = c0[:, None] + np.arange(width)[None, :]
        valid = idx < c1[:, None]
        idx = np.minimum(idx, m - 1)
        wx = np.take_along_axis(sx, idx, axis=1) - pca.mean_xy[:, j - 1, 0][:, None]
        wy = np.take_along_axis(sy, idx, axis=1) - pca.mean_xy[:, j - 1, 1][:, None]
        dvec = pca.direction_xy[:, j - 1, :]
        dist_l = np.abs(wx * dvec[:, 1][:, None] - wy * dvec[:, 0][:, None])
        mean_l = (dist_l * valid).sum(axis=1) / np.maximum(n_new, 1)
        cond[:, j] = (n_new > 0) & (mean_u < mean_l) & elongated[:, j - 1]
    any_stop = cond.any(axis=1)
    j_stop = np.where(any_stop, np.argmax(cond, axis=1), n_levels - 1)
    j_axis = np.maximum(j_stop - 1, 0)
    neck_mean = pca.mean_xy[rows, j_axis] + hc
    neck_dir = pca.direction_xy[rows, j_axis]
    # Direct the axis toward the hip: from the mean, the hip lies along +dir.
    towards_hip = np.sum((hc[None, :] - neck_mean) * neck_dir, axis=1)
    neck_dir = neck_dir * np.where(towards_hip < 0, -1.0, 1.0)[:, None]
    low_el = ~elongated[rows, j_axis]
    ok = pca.valid[rows, j_axis] & upper.valid
    neck_mean[~ok] = np.nan
    return neck_mean, neck_dir, (j_stop == 1) & ok, low_el & ok, levels[j_stop]


def _neck_reference(
    s: _Samples,
    d_h: NDArray[np.float64],
    hc: NDArray[np.float64],
    upper: OlsBatch,
    opts: AlignmentOptions,
) -> tuple[NDArray, NDArray, NDArray, NDArray, NDArray, NDArray]:
    """Reference neck: PCA of the fixed nearest ``reference_neck_frac`` and the obtuse NSA fold."""
    (q,) = _quantiles(d_h, [opts.reference_neck_frac])
    mask = d_h <= q[:, None]
    pca = fit_lines_pca(np.stack([s.x, s.y], axis=-1), mask)
    neck_dir = pca.direction_xy
    towards_hip = np.sum((hc[None, :] - pca.mean_xy) * neck_dir, axis=1)
    neck_dir = neck_dir * np.where(towards_hip < 0, -1.0, 1.0)[:, None]
    acute = np.asarray(acute_angle_between_deg(neck_dir, upper.directions_down()), dtype=np.float64)
    ok = pca.valid & upper.valid
    nsa = np.where(ok, 180.0 - acute, np.nan)
    b_count = d_h.shape[0]
    false = np.zeros(b_count, dtype=bool)
    q_stop = np.full(b_count, opts.reference_neck_frac)
    return pca.mean_xy, neck_dir, nsa, false, false, q_stop


def _directed_nsa(
    neck_point: NDArray[np.float64], neck_dir: NDArray[np.float64], hc: NDArray[np.float64], upper: OlsBatch
) -> NDArray[np.float64]:
    """``arccos(u_neck . u_shaft)`` at the crossing X of the neck axis and the upper shaft line.

    Coordinates are knee-centred (the knee is the origin), so ``u_shaft`` points from X toward 0.
    """
    k, b = upper.k, upper.b
    # Neck: q(t) = P + t d. Shaft: x = k y + b. Solve P_x + t d_x = k (P_y + t d_y) + b.
    den = neck_dir[:, 0] - k * neck_dir[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (k * neck_point[:, 1] + b - neck_point[:, 0]) / den
    x_pt = neck_point + t[:, None] * neck_dir
    u_neck = hc[None, :] - x_pt
    u_shaft = upper.directions_down()
    toward_knee = np.sum(-x_pt * u_shaft, axis=1)
    u_shaft = u_shaft * np.where(toward_knee < 0, -1.0, 1.0)[:, None]
    with np.errstate(invalid="ignore"):
        nsa = np.asarray(angle_between_deg(u_neck, u_shaft), dtype=np.float64)
    bad = ~np.isfinite(t) | (np.abs(den) < 1e-9) | ~upper.valid
    return np.where(bad, np.nan, nsa)


def _tibia_draws(
    x: NDArray[np.float64], y: NDArray[np.float64], ref_xy: NDArray[np.float64], opts: AlignmentOptions
) -> _TibiaDraws:
    """Proximal / distal tibial shaft fits and the tibial CORA angle for every draw."""
    s = _Samples.of(x - ref_xy[0], y - ref_xy[1])
    d = np.sqrt(s.xx + s.yy)
    q_up, q_low = _quantiles(d, [opts.upper_frac, opts.lower_start])
    method = "ols" if opts.reference_mode else opts.shaft_fit
    upper = _masked_fit(s, d <= q_up[:, None], method)
    lower = _masked_fit(s, d > q_low[:, None], method)
    cora = np.asarray(acute_angle_between_deg(upper.directions_down(), lower.directions_down()), dtype=np.float64)
    return _TibiaDraws(_shift_ols(upper, ref_xy), _shift_ols(lower, ref_xy), cora)
