"""Circle fits for the femoral head: algebraic (Kåsa), geometric least squares and RANSAC.

Points are ``(N, 2)`` image ``(x, y)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares

from inference.core.joints_from_masks.records import HipCircle


def _check_points(
    points_xy: NDArray[np.float64], *, name: str = "points_xy", min_points: int = 1
) -> NDArray[np.float64]:
    pts = np.asarray(points_xy, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"{name} must be an (N, 2) array of (x, y), got shape {pts.shape}")
    if len(pts) < min_points:
        raise ValueError(f"{name} needs at least {min_points} points, got {len(pts)}")
    if not np.all(np.isfinite(pts)):
        raise ValueError(f"{name} contains non-finite values")
    return pts


def fit_circle_algebraic(points_xy: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """Kåsa algebraic circle fit.

    Parameters
    ----------
    points_xy : (N, 2) float64 ndarray
        N >= 3 points in image ``(x, y)``.

    Returns
    -------
    centre_xy : (2,) float64 ndarray
    radius : float

    Raises
    ------
    ValueError
        Fewer than 3 points or collinear points.

    Notes
    -----
    Solves ``x² + y² + D x + E y + F = 0`` in the least-squares sense (on centred coordinates);
    centre ``(-D/2, -E/2)``, radius ``sqrt(D²/4 + E²/4 - F)``. Exact for points on a circle.
    """
    pts = _check_points(points_xy, min_points=3)
    mean = pts.mean(axis=0)
    q = pts - mean
    a = np.column_stack([q, np.ones(len(q))])
    rhs = -(q**2).sum(axis=1)
    sol, _, rank, _ = np.linalg.lstsq(a, rhs, rcond=None)
    if rank < 3:
        raise ValueError("points are collinear; no circle")
    d, e, f = sol
    r2 = 0.25 * (d * d + e * e) - f
    if not r2 > 0:
        raise ValueError("degenerate circle fit")
    return mean + np.array([-0.5 * d, -0.5 * e]), float(np.sqrt(r2))


def _fit_circle_geometric(
    pts: NDArray[np.float64], c0: NDArray[np.float64], r0: float
) -> tuple[NDArray[np.float64], float]:
    def resid(p: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.hypot(pts[:, 0] - p[0], pts[:, 1] - p[1]) - p[2]

    def jac(p: NDArray[np.float64]) -> NDArray[np.float64]:
        d = np.maximum(np.hypot(pts[:, 0] - p[0], pts[:, 1] - p[1]), 1e-12)
        return np.column_stack([-(pts[:, 0] - p[0]) / d, -(pts[:, 1] - p[1]) / d, -np.ones(len(pts))])

    sol = least_squares(resid, np.array([c0[0], c0[1], r0]), jac=jac, method="lm")
    return sol.x[:2].copy(), float(abs(sol.x[2]))


def _arc_span_deg(pts: NDArray[np.float64], centre: NDArray[np.float64]) -> float:
    if len(pts) < 2:
        return 0.0
    ang = np.sort(np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0]))
    gaps = np.diff(np.concatenate([ang, ang[:1] + 2 * np.pi]))
    return float(np.degrees(2 * np.pi - gaps.max()))


def fit_circle_ransac(
    points_xy: NDArray[np.float64],
    *,
    radius_range: tuple[float, float],
    inlier_tol: float,
    n_trials: int = 600,
    seed: int = 0,
) -> HipCircle | None:
    """Robust circle: RANSAC over circumcircles, then geometric least squares on the inliers.

    Parameters
    ----------
    points_xy : (N, 2) float64 ndarray
        Candidate boundary points.
    radius_range : (float, float)
        Accepted radii ``[r_min, r_max]`` (px) for hypotheses.
    inlier_tol : float
        A point is an inlier when ``||p - c| - r| <= inlier_tol``.
    n_trials : int
        Number of random 3-point hypotheses (all drawn at once, vectorised).
    seed : int
        Seed of the sampler (the result is deterministic).

    Returns
    -------
    HipCircle or None
        None when fewer than 3 points or no hypothesis has a radius in range.

    Notes
    -----
    Score = number of inliers. The best hypothesis' inliers are refined by an orthogonal-distance
    fit (Levenberg-Marquardt from the Kåsa estimate), re-selecting inliers twice.
    """
    pts = _check_points(points_xy, min_points=1)
    n = len(pts)
    if n < 3:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_trials, 3))  # repeated indices give d = 0 and are dropped
    a, b, c = pts[idx[:, 0]], pts[idx[:, 1]], pts[idx[:, 2]]
    # Circumcircle of each triple.
    d = 2.0 * (a[:, 0] * (b[:, 1] - c[:, 1]) + b[:, 0] * (c[:, 1] - a[:, 1]) + c[:, 0] * (a[:, 1] - b[:, 1]))
    ok = np.abs(d) > 1e-9
    d = np.where(ok, d, 1.0)
    a2, b2, c2 = (a**2).sum(1), (b**2).sum(1), (c**2).sum(1)
    ux = (a2 * (b[:, 1] - c[:, 1]) + b2 * (c[:, 1] - a[:, 1]) + c2 * (a[:, 1] - b[:, 1])) / d
    uy = (a2 * (c[:, 0] - b[:, 0]) + b2 * (a[:, 0] - c[:, 0]) + c2 * (b[:, 0] - a[:, 0])) / d
    rr = np.hypot(a[:, 0] - ux, a[:, 1] - uy)
    ok &= (rr >= radius_range[0]) & (rr <= radius_range[1])
    if not ok.any():
        return None
    ux, uy, rr = ux[ok], uy[ok], rr[ok]
    res = np.abs(np.hypot(pts[None, :, 0] - ux[:, None], pts[None, :, 1] - uy[:, None]) - rr[:, None])
    score = (res <= inlier_tol).sum(axis=1)
    best = int(np.argmax(score))
    inl = res[best] <= inlier_tol
    centre, radius = np.array([ux[best], uy[best]]), float(rr[best])
    for _ in range(3):
        if inl.sum() < 3:
            break
        try:
            c0, r_init = fit_circle_algebraic(pts[inl])
        except ValueError:
            c0, r_init = centre, radius
        centre, radius = _fit_circle_geometric(pts[inl], c0, r_init)
        inl = np.abs(np.hypot(pts[:, 0] - centre[0], pts[:, 1] - centre[1]) - radius) <= inlier_tol
    r_in = np.hypot(pts[inl, 0] - centre[0], pts[inl, 1] - centre[1]) - radius
    rms = float(np.sqrt(np.mean(r_in**2))) if inl.any() else float("nan")
    return HipCircle(centre, radius, rms, int(inl.sum()), _arc_span_deg(pts[inl], centre))
