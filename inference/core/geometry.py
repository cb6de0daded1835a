"""Lines, line fits, intersections and angles for the alignment derivation.

Coordinates follow :mod:`inference.core.legs`: image ``(x, y)`` pixels, x to the right, y downward,
origin at the top-left pixel corner; arrays of points are ``(N, 2)`` float64 (batched: ``(B, N, 2)``).

Angle conventions (the single statement of them; every alignment angle refers here)
----------------------------------------------------------------------------------
* A :class:`Line` is a point plus a **unit direction**. A line has no orientation of its own; the
  direction only matters where a function says so.
* :func:`angle_between_deg` is the **directed** angle ``arccos(u . v)`` between two vectors, in
  ``[0, 180]`` degrees. Clinical angles (HKA, mLDFA, MPTA, NSA, ...) are directed angles between
  vectors whose orientation (proximal / distal / medial / lateral) the caller fixes.
* :func:`acute_angle_between_deg` is the angle between two **undirected** lines,
  ``arccos(|u . v|)``, in ``[0, 90]`` degrees (CORA-type angles).
* :func:`signed_angle_deg` is the signed angle that rotates ``u`` onto ``v``, in ``(-180, 180]``
  degrees, ``atan2(u_x v_y - u_y v_x, u . v)``. Because y points **down**, a positive angle is a
  **clockwise** turn on screen: ``signed_angle_deg((1, 0), (0, 1)) == +90`` (right -> down).
  :func:`rotate_deg` uses the same sense, so ``rotate_deg(u, signed_angle_deg(u, v))`` is parallel
  to ``v``.
* Lines in the reference code are ``x = k * y + b`` (x regressed on y; well conditioned for
  near-vertical bones). :meth:`Line.from_x_on_y` converts; the direction ``(k, 1)`` then points
  **down** (toward larger y).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "GeometryError",
    "Line",
    "OlsBatch",
    "PcaBatch",
    "PcaFit",
    "RansacFit",
    "acute_angle_between_deg",
    "angle_between_deg",
    "fit_line_ols_x_on_y",
    "fit_line_pca",
    "fit_line_ransac",
    "fit_lines_ols_x_on_y",
    "fit_lines_pca",
    "intersect_lines",
    "intersect_x_on_y",
    "pca_from_moments",
    "rotate_deg",
    "signed_angle_deg",
    "unit",
]


class GeometryError(ValueError):
    """A geometric construction is impossible for the given input (too few points, parallel lines)."""


def _check_points(points_xy: ArrayLike, *, name: str = "points_xy", min_points: int = 1) -> NDArray[np.float64]:
    """Return ``points_xy`` as a finite ``(N, 2)`` float64 array or raise ``ValueError``."""
    arr = np.asarray(points_xy, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {arr.shape}")
    if arr.shape[0] < min_points:
        raise GeometryError(f"{name} needs at least {min_points} points, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")
    return arr


def _check_vector(v: ArrayLike, *, name: str) -> NDArray[np.float64]:
    arr = np.asarray(v, dtype=np.float64)
    if arr.shape[-1:] != (2,):
        raise ValueError(f"{name} must have a trailing dimension of 2, got {arr.shape}")
    return arr


def unit(v: ArrayLike) -> NDArray[np.float64]:
    """Return ``v / |v|`` along the last axis (``(..., 2)``); raise ``GeometryError`` on a zero vector."""
    arr = _check_vector(v, name="v")
    norm = np.linalg.norm(arr, axis=-1, keepdims=True)
    if np.any(norm == 0) or not np.all(np.isfinite(norm)):
        raise GeometryError("cannot normalise a zero or non-finite vector")
    return arr / norm


def rotate_deg(v: ArrayLike, angle_deg: ArrayLike) -> NDArray[np.float64]:
    """Rotate ``(..., 2)`` vectors by ``angle_deg``, positive = clockwise on screen (y down).

    Notes
    -----
    ``(x, y) -> (x cos a - y sin a, x sin a + y cos a)``; with y pointing down this turns
    ``(1, 0)`` toward ``(0, 1)`` for ``a = +90``.
    """
    arr = _check_vector(v, name="v")
    a = np.deg2rad(np.asarray(angle_deg, dtype=np.float64))
    c, s = np.cos(a), np.sin(a)
    x, y = arr[..., 0], arr[..., 1]
    return np.stack([x * c - y * s, x * s + y * c], axis=-1)


def angle_between_deg(u: ArrayLike, v: ArrayLike) -> NDArray[np.float64] | float:
    """Directed angle between vectors, ``arccos(u_hat . v_hat)`` in ``[0, 180]`` degrees.

    Parameters
    ----------
    u, v : array_like, shape (..., 2)
        Vectors (need not be unit); broadcast against each other.

    Returns
    -------
    float or ndarray, shape (...)
        NaN where either vector is zero.
    """
    a = _check_vector(u, name="u")
    b = _check_vector(v, name="v")
    na = np.linalg.norm(a, axis=-1)
    nb = np.linalg.norm(b, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.sum(a * b, axis=-1) / (na * nb)
    out = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return float(out) if np.ndim(out) == 0 else out


def acute_angle_between_deg(u: ArrayLike, v: ArrayLike) -> NDArray[np.float64] | float:
    """Angle between two undirected lines with directions ``u`` and ``v``: ``arccos|u_hat . v_hat|``.

    Returns values in ``[0, 90]`` degrees (NaN for zero vectors); shapes as :func:`angle_between_deg`.
    """
    a = _check_vector(u, name="u")
    b = _check_vector(v, name="v")
    na = np.linalg.norm(a, axis=-1)
    nb = np.linalg.norm(b, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.abs(np.sum(a * b, axis=-1)) / (na * nb)
    out = np.degrees(np.arccos(np.clip(cos, 0.0, 1.0)))
    return float(out) if np.ndim(out) == 0 else out


def signed_angle_deg(u: ArrayLike, v: ArrayLike) -> NDArray[np.float64] | float:
    """Signed angle rotating ``u`` onto ``v`` in ``(-180, 180]`` degrees; positive = clockwise on screen.

    Notes
    -----
    ``atan2(u_x v_y - u_y v_x, u . v)``. With y pointing down, ``signed_angle_deg((1, 0), (0, 1))``
    is ``+90`` and ``signed_angle_deg((0, 1), (1, 0))`` is ``-90``.
    """
    a = _check_vector(u, name="u")
    b = _check_vector(v, name="v")
    cross = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    dot = np.sum(a * b, axis=-1)
    out = np.degrees(np.arctan2(cross, dot))
    out = np.where(out <= -180.0, 180.0, out)
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True, eq=False)
class Line:
    """An infinite line through ``point_xy`` with unit direction ``direction_xy`` (both shape ``(2,)``)."""

    point_xy: NDArray[np.float64]
    direction_xy: NDArray[np.float64]

    def __post_init__(self) -> None:
        p = np.asarray(self.point_xy, dtype=np.float64).reshape(2)
        d = unit(np.asarray(self.direction_xy, dtype=np.float64).reshape(2))
        if not np.all(np.isfinite(p)):
            raise ValueError("Line point must be finite")
        object.__setattr__(self, "point_xy", p)
        object.__setattr__(self, "direction_xy", d)

    @classmethod
    def through(cls, p_xy: ArrayLike, q_xy: ArrayLike) -> Line:
        """Line through ``p`` and ``q``, directed from ``p`` to ``q``."""
        p = np.asarray(p_xy, dtype=np.float64).reshape(2)
        q = np.asarray(q_xy, dtype=np.float64).reshape(2)
        return cls(p, q - p)

    @classmethod
    def from_x_on_y(cls, k: float, b: float) -> Line:
        """Line ``x = k*y + b``, through ``(b, 0)`` with direction ``(k, 1)`` (pointing down)."""
        return cls(np.array([b, 0.0]), np.array([k, 1.0]))

    def oriented(self, toward_xy: ArrayLike) -> Line:
        """The same line with its direction flipped, if needed, so that ``direction . toward >= 0``."""
        t = np.asarray(toward_xy, dtype=np.float64).reshape(2)
        if float(self.direction_xy @ t) < 0:
            return Line(self.point_xy, -self.direction_xy)
        return self

    @property
    def normal_xy(self) -> NDArray[np.float64]:
        """Unit normal ``rotate_deg(direction, -90)`` (to the left on screen when facing along the line)."""
        d = self.direction_xy
        return np.array([d[1], -d[0]])

    def signed_distance(self, points_xy: ArrayLike) -> NDArray[np.float64]:
        """Signed perpendicular distances ``(N,)`` of ``(N, 2)`` points; positive on the :attr:`normal_xy` side."""
        pts = _check_points(points_xy, name="points_xy")
        return (pts - self.point_xy) @ self.normal_xy

    def distance(self, points_xy: ArrayLike) -> NDArray[np.float64]:
        """Perpendicular distances ``(N,)`` of ``(N, 2)`` points to the line."""
        return np.abs(self.signed_distance(points_xy))

    def x_at(self, y: float) -> float:
        """x of the line at row ``y``; raise ``GeometryError`` for a horizontal line."""
        d = self.direction_xy
        if abs(d[1]) < 1e-12:
            raise GeometryError("horizontal line has no unique x at a given y")
        return float(self.point_xy[0] + (y - self.point_xy[1]) * d[0] / d[1])


def intersect_lines(a: Line, b: Line, *, parallel_tol: float = 1e-12) -> NDArray[np.float64] | None:
    """Intersection ``(2,)`` of two lines, or ``None`` when ``|sin(angle)| <= parallel_tol``.

    Notes
    -----
    Solves ``p_a + s d_a = p_b + t d_b`` with Cramer's rule.
    """
    da, db = a.direction_xy, b.direction_xy
    den = da[0] * db[1] - da[1] * db[0]
    if abs(den) <= parallel_tol:
        return None
    w = b.point_xy - a.point_xy
    s = (w[0] * db[1] - w[1] * db[0]) / den
    return a.point_xy + s * da


def intersect_x_on_y(
    k1: ArrayLike, b1: ArrayLike, k2: ArrayLike, b2: ArrayLike, *, parallel_tol: float = 1e-6
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Batched intersection of lines ``x = k1*y + b1`` and ``x = k2*y + b2``.

    Returns
    -------
    points_xy : ndarray, shape (..., 2)
        ``y* = (b2 - b1) / (k1 - k2)``, ``x* = k1*y* + b1``; NaN where parallel.
    valid : ndarray of bool, shape (...)
        False where ``|k1 - k2| <= parallel_tol`` (the reference code's parallel test).
    """
    k1a, b1a, k2a, b2a = (np.asarray(v, dtype=np.float64) for v in (k1, b1, k2, b2))
    dk = k1a - k2a
    valid = np.abs(dk) > parallel_tol
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(valid, (b2a - b1a) / np.where(valid, dk, 1.0), np.nan)
    x = k1a * y + b1a
    return np.stack([x, y], axis=-1), valid


# --------------------------------------------------------------------------------------------------
# Single fits


def fit_line_ols_x_on_y(points_xy: ArrayLike) -> Line:
    """Least-squares line ``x = k*y + b`` (x regressed on y), returned as a :class:`Line`.

    Raises
    ------
    GeometryError
        Fewer than two distinct y values.
    """
    pts = _check_points(points_xy, min_points=2)
    batch = fit_lines_ols_x_on_y(pts[None])
    if not batch.valid[0]:
        raise GeometryError("OLS x-on-y needs at least two distinct y values")
    return Line.from_x_on_y(float(batch.k[0]), float(batch.b[0]))


@dataclass(frozen=True, eq=False)
class PcaFit:
    """Total-least-squares (PCA) line and its covariance eigenvalues ``eigenvalues[0] >= eigenvalues[1]``."""

    line: Line
    eigenvalues: NDArray[np.float64]

    @property
    def elongation(self) -> float:
        """``lambda_1 / lambda_2`` (``inf`` for collinear points)."""
        l1, l2 = self.eigenvalues
        return float("inf") if l2 <= 0 else float(l1 / l2)


def fit_line_pca(points_xy: ArrayLike) -> PcaFit:
    """PCA line: through the centroid along the first principal direction (``(mean, direction)`` form).

    Raises
    ------
    GeometryError
        Fewer than two distinct points.
    """
    pts = _check_points(points_xy, min_points=2)
    mean = pts.mean(axis=0)
    c = pts - mean
    sxx, sxy, syy = (c[:, 0] ** 2).mean(), (c[:, 0] * c[:, 1]).mean(), (c[:, 1] ** 2).mean()
    if sxx + syy <= 0:
        raise GeometryError("PCA needs at least two distinct points")
    theta, l1, l2 = _eig2(sxx, sxy, syy)
    return PcaFit(Line(mean, np.array([np.cos(theta), np.sin(theta)])), np.array([l1, l2]))


def _eig2(sxx: ArrayLike, sxy: ArrayLike, syy: ArrayLike) -> tuple[NDArray, NDArray, NDArray]:
    """Principal angle and eigenvalues of the symmetric 2x2 matrices ``[[sxx, sxy], [sxy, syy]]``."""
    sxx, sxy, syy = (np.asarray(v, dtype=np.float64) for v in (sxx, sxy, syy))
    theta = 0.5 * np.arctan2(2.0 * sxy, sxx - syy)
    half_tr = 0.5 * (sxx + syy)
    rad = np.hypot(0.5 * (sxx - syy), sxy)
    return theta, half_tr + rad, np.maximum(half_tr - rad, 0.0)


# --------------------------------------------------------------------------------------------------
# Batched fits (Monte Carlo: one fit per draw, all draws at once)


@dataclass(frozen=True, eq=False)
class OlsBatch:
    """Batched ``x = k*y + b`` fits: ``k``, ``b`` and ``valid`` have shape ``(B,)``; invalid entries are NaN."""

    k: NDArray[np.float64]
    b: NDArray[np.float64]
    valid: NDArray[np.bool_]

    def directions_down(self) -> NDArray[np.float64]:
        """Unit directions ``(B, 2)`` of the lines, pointing down (toward larger y)."""
        d = np.stack([self.k, np.ones_like(self.k)], axis=-1)
        return d / np.linalg.norm(d, axis=-1, keepdims=True)


def fit_lines_ols_x_on_y(
    points_xy: ArrayLike, mask: ArrayLike | None = None, *, origin_xy: ArrayLike | None = None
) -> OlsBatch:
    """Fit ``x = k*y + b`` to every batch row at once.

    Parameters
    ----------
    points_xy : array_like, shape (B, N, 2)
        Points per row.
    mask : array_like of bool, shape (B, N), optional
        Which points take part in each row's fit (default: all).
    origin_xy : array_like, shape (2,), optional
        Coordinates are centred on this point before forming sums (numerical conditioning); the
        returned ``k, b`` are in image coordinates. Default: the mean of all points.

    Returns
    -------
    OlsBatch
        ``valid`` is False where a row has fewer than two distinct y among its masked points.

    Notes
    -----
    ``k = S_xy / S_yy`` and ``b = x_mean - k*y_mean``, with centred sums over the masked points.
    """
    pts = np.asarray(points_xy, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[-1] != 2:
        raise ValueError(f"points_xy must have shape (B, N, 2), got {pts.shape}")
    o = pts.reshape(-1, 2).mean(axis=0) if origin_xy is None else np.asarray(origin_xy, float).reshape(2)
    x = pts[..., 0] - o[0]
    y = pts[..., 1] - o[1]
    w = np.ones(x.shape, dtype=np.float64) if mask is None else np.asarray(mask, dtype=np.float64)
    n = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = (w * x).sum(axis=1) / n
        ym = (w * y).sum(axis=1) / n
        dy = y - ym[:, None]
        syy = (w * dy * dy).sum(axis=1)
        sxy = (w * dy * (x - xm[:, None])).sum(axis=1)
        scale = np.maximum(n, 1.0)
        valid = (n >= 2) & (syy / scale > 1e-12)
        k = np.where(valid, sxy / np.where(valid, syy, 1.0), np.nan)
    b_centred = xm - k * ym
    b = b_centred + o[0] - k * o[1]
    return OlsBatch(k, np.where(valid, b, np.nan), valid)


@dataclass(frozen=True, eq=False)
class PcaBatch:
    """Batched PCA lines: ``mean_xy`` ``(B, 2)``, unit ``direction_xy`` ``(B, 2)``, eigenvalues ``(B,)``."""

    mean_xy: NDArray[np.float64]
    direction_xy: NDArray[np.float64]
    lambda1: NDArray[np.float64]
    lambda2: NDArray[np.float64]
    valid: NDArray[np.bool_]


def pca_from_moments(
    n: ArrayLike, sx: ArrayLike, sy: ArrayLike, sxx: ArrayLike, sxy: ArrayLike, syy: ArrayLike
) -> PcaBatch:
    """PCA lines from raw moment sums (``n``, ``sum x``, ``sum y``, ``sum x^2``, ``sum xy``, ``sum y^2``).

    All inputs broadcast to a common shape ``S``; outputs have shape ``S`` (``S + (2,)`` for vectors).
    Use coordinates centred near the points to keep the sums well conditioned.
    """
    n, sx, sy, sxx, sxy, syy = (np.asarray(v, dtype=np.float64) for v in (n, sx, sy, sxx, sxy, syy))
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = sx / n, sy / n
        cxx = sxx / n - mx * mx
        cxy = sxy / n - mx * my
        cyy = syy / n - my * my
    theta, l1, l2 = _eig2(cxx, cxy, cyy)
    valid = (n >= 2) & np.isfinite(theta) & (l1 > 1e-12)
    direction = np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    return PcaBatch(np.stack([mx, my], axis=-1), direction, l1, l2, valid)


def fit_lines_pca(points_xy: ArrayLike, mask: ArrayLike | None = None) -> PcaBatch:
    """PCA line per batch row of ``(B, N, 2)`` points, optionally restricted by a ``(B, N)`` mask."""
    pts = np.asarray(points_xy, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[-1] != 2:
        raise ValueError(f"points_xy must have shape (B, N, 2), got {pts.shape}")
    o = pts.reshape(-1, 2).mean(axis=0)
    x = pts[..., 0] - o[0]
    y = pts[..., 1] - o[1]
    w = np.ones(x.shape) if mask is None else np.asarray(mask, dtype=np.float64)
    fit = pca_from_moments(
        w.sum(1), (w * x).sum(1), (w * y).sum(1), (w * x * x).sum(1), (w * x * y).sum(1), (w * y * y).sum(1)
    )
    return PcaBatch(fit.mean_xy + o, fit.direction_xy, fit.lambda1, fit.lambda2, fit.valid)


# --------------------------------------------------------------------------------------------------
# RANSAC


@dataclass(frozen=True, eq=False)
class RansacFit:
    """RANSAC result: the refitted ``line``, the ``(N,)`` boolean ``inliers`` and the trial count."""

    line: Line
    inliers: NDArray[np.bool_]
    n_trials: int


def fit_line_ransac(
    points_xy: ArrayLike,
    *,
    residual_threshold: float,
    max_trials: int = 100,
    seed: int = 42,
    residual: str = "perpendicular",
) -> RansacFit:
    """Robust line fit by RANSAC with all trials evaluated at once.

    Parameters
    ----------
    points_xy : array_like, shape (N, 2)
        At least two distinct points.
    residual_threshold : float
        A point is an inlier of a candidate line when its residual is ``<= residual_threshold`` px.
    max_trials : int
        Number of random two-point candidates (all drawn up front from ``numpy.random.default_rng(seed)``).
    seed : int
        RNG seed; the result is deterministic for a given input and seed.
    residual : {"perpendicular", "y_on_x"}
        ``"perpendicular"`` (default): orthogonal distance, refit by PCA (total least squares) on the
        inliers. ``"y_on_x"``: absolute vertical residual of ``y = s*x + c`` and an OLS y-on-x refit,
        as the reference code's scikit-learn ``RANSACRegressor`` does (poor for steep lines).

    Returns
    -------
    RansacFit

    Raises
    ------
    GeometryError
        Fewer than two distinct points, or every candidate degenerate.

    Notes
    -----
    The candidate with most inliers wins; ties go to the smaller summed inlier residual.
    """
    pts = _check_points(points_xy, min_points=2)
    if residual not in ("perpendicular", "y_on_x"):
        raise ValueError(f"unknown residual {residual!r}")
    if residual_threshold <= 0:
        raise ValueError("residual_threshold must be positive")
    n = pts.shape[0]
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, size=max_trials)
    j = (i + rng.integers(1, n, size=max_trials)) % n  # j != i
    p, q = pts[i], pts[j]
    d = q - p
    if residual == "perpendicular":
        norm = np.linalg.norm(d, axis=1)
        ok = norm > 0
        nrm = np.stack([d[:, 1], -d[:, 0]], axis=1) / np.where(ok, norm, 1.0)[:, None]
        res = np.abs((pts[None, :, :] - p[:, None, :]) @ nrm[:, :, None])[..., 0]  # (T, N)
    else:
        ok = np.abs(d[:, 0]) > 0
        s = d[:, 1] / np.where(ok, d[:, 0], 1.0)
        c = p[:, 1] - s * p[:, 0]
        res = np.abs(pts[None, :, 1] - (s[:, None] * pts[None, :, 0] + c[:, None]))
    if not np.any(ok):
        raise GeometryError("all RANSAC candidates are degenerate")
    inl = (res <= residual_threshold) & ok[:, None]
    count = inl.sum(axis=1)
    cost = np.where(inl, res, 0.0).sum(axis=1)
    order = np.lexsort((cost, -count))
    best = inl[order[0]]
    chosen = pts[best]
    if residual == "perpendicular":
        if chosen.shape[0] < 2 or np.ptp(chosen, axis=0).max() == 0:
            line = Line(p[order[0]], d[order[0]])
        else:
            line = fit_line_pca(chosen).line
    else:
        xs, ys = chosen[:, 0], chosen[:, 1]
        if chosen.shape[0] < 2 or np.ptp(xs) == 0:
            line = Line(p[order[0]], d[order[0]])
        else:
            s1, c1 = np.polyfit(xs, ys, 1)
            line = Line(np.array([0.0, c1]), np.array([1.0, s1]))
    return RansacFit(line, best, int(max_trials))
