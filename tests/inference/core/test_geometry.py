"""Geometry primitives: hand-computed angles, the sign convention, fits and intersections."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inference.core.geometry import (
    GeometryError,
    Line,
    acute_angle_between_deg,
    angle_between_deg,
    fit_line_ols_x_on_y,
    fit_line_pca,
    fit_line_ransac,
    fit_lines_ols_x_on_y,
    fit_lines_pca,
    intersect_lines,
    intersect_x_on_y,
    pca_from_moments,
    rotate_deg,
    signed_angle_deg,
    unit,
)


# -- angle conventions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("u", "v", "expected"),
    [
        ((1, 0), (1, 0), 0.0),
        ((1, 0), (0, 1), 90.0),
        ((1, 0), (-1, 0), 180.0),
        ((1, 0), (1, 1), 45.0),
        ((0, 2), (0, -5), 180.0),
        ((1, math.sqrt(3)), (1, 0), 60.0),
    ],
)
def test_directed_angle_hand_cases(u, v, expected) -> None:
    assert angle_between_deg(u, v) == pytest.approx(expected, abs=1e-9)


def test_acute_angle_folds_direction() -> None:
    assert acute_angle_between_deg((1, 0), (-1, 0)) == pytest.approx(0.0, abs=1e-9)
    assert acute_angle_between_deg((1, 0), (-1, 1)) == pytest.approx(45.0)
    assert acute_angle_between_deg((0, 1), (1, 0)) == pytest.approx(90.0)
    # 150 degrees between the directed vectors is 30 degrees between the undirected lines.
    assert acute_angle_between_deg((1, 0), (-math.sqrt(3), 1)) == pytest.approx(30.0)


def test_signed_angle_is_clockwise_on_screen() -> None:
    # y points down: right -> down is a clockwise quarter turn on screen, +90.
    assert signed_angle_deg((1, 0), (0, 1)) == pytest.approx(90.0)
    assert signed_angle_deg((0, 1), (1, 0)) == pytest.approx(-90.0)
    assert signed_angle_deg((1, 0), (-1, 0)) == pytest.approx(180.0)  # (-180, 180]
    # Mirroring (x -> -x) flips the sign and keeps the magnitude.
    u, v = np.array([0.3, 1.0]), np.array([-0.2, 1.0])
    mirror = np.array([-1.0, 1.0])
    assert signed_angle_deg(u * mirror, v * mirror) == pytest.approx(-signed_angle_deg(u, v))


def test_rotate_matches_signed_angle() -> None:
    np.testing.assert_allclose(rotate_deg((1, 0), 90), [0, 1], atol=1e-12)
    rng = np.random.default_rng(0)
    u = rng.normal(size=(20, 2))
    a = rng.uniform(-179, 179, size=20)
    v = rotate_deg(u, a)
    np.testing.assert_allclose(signed_angle_deg(u, v), a, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), np.linalg.norm(u, axis=1))


def test_batched_angles_and_zero_vector() -> None:
    out = angle_between_deg(np.array([[1, 0], [0, 1]]), np.array([[0, 1], [0, 1]]))
    np.testing.assert_allclose(out, [90.0, 0.0])
    assert math.isnan(angle_between_deg((0, 0), (1, 0)))
    with pytest.raises(GeometryError):
        unit((0.0, 0.0))
    with pytest.raises(ValueError):
        angle_between_deg((1, 0, 0), (1, 0, 0))


# -- lines -----------------------------------------------------------------------------------------


def test_line_is_point_plus_unit_direction() -> None:
    line = Line.through((1, 2), (4, 6))
    np.testing.assert_allclose(line.direction_xy, [0.6, 0.8])
    # normal = (d_y, -d_x) = (0.8, -0.6); (4, 2) - (1, 2) = (3, 0) -> 2.4
    np.testing.assert_allclose(line.signed_distance([[4, 2]]), [2.4])
    assert line.distance([[1 + 0.8, 2 - 0.6]])[0] == pytest.approx(1.0)
    assert line.x_at(6.0) == pytest.approx(4.0)
    flipped = line.oriented((-1, -1))
    np.testing.assert_allclose(flipped.direction_xy, [-0.6, -0.8])
    assert line.oriented((1, 1)) is line
    with pytest.raises(GeometryError):
        Line((0, 0), (1, 0)).x_at(3.0)


def test_from_x_on_y_points_down() -> None:
    line = Line.from_x_on_y(0.5, 10.0)
    np.testing.assert_allclose(line.point_xy, [10, 0])
    assert line.direction_xy[1] > 0
    assert line.x_at(4.0) == pytest.approx(12.0)


def test_intersections() -> None:
    a = Line.through((0, 0), (10, 10))
    b = Line.through((0, 10), (10, 0))
    np.testing.assert_allclose(intersect_lines(a, b), [5, 5])
    assert intersect_lines(a, Line.through((0, 1), (1, 2))) is None
    pts, ok = intersect_x_on_y([1.0, 2.0], [0.0, 0.0], [-1.0, 2.0], [4.0, 1.0])
    np.testing.assert_allclose(pts[0], [2.0, 2.0])  # x = y and x = -y + 4 meet at (2, 2)
    assert ok.tolist() == [True, False] and np.isnan(pts[1]).all()


# -- fits ------------------------------------------------------------------------------------------


def test_ols_x_on_y_recovers_exact_line() -> None:
    y = np.arange(0.0, 50.0)
    x = 0.25 * y + 3.0
    line = fit_line_ols_x_on_y(np.column_stack([x, y]))
    assert line.x_at(0.0) == pytest.approx(3.0)
    assert line.x_at(40.0) == pytest.approx(13.0)
    with pytest.raises(GeometryError):
        fit_line_ols_x_on_y([[0, 1], [3, 1], [5, 1]])  # a single y value


def test_ols_x_on_y_attenuates_a_tilted_thick_band_but_pca_does_not() -> None:
    # A uniform band of width w tilted by phi: OLS x-on-y underestimates the tilt, PCA finds it.
    rng = np.random.default_rng(1)
    u = rng.uniform(-200, 200, 20000)
    v = rng.uniform(-40, 40, 20000)
    phi = math.radians(12.0)
    pts = np.column_stack([u * math.sin(phi) + v * math.cos(phi), u * math.cos(phi) - v * math.sin(phi)])
    ols = fit_line_ols_x_on_y(pts)
    pca = fit_line_pca(pts).line
    assert angle_between_deg(pca.direction_xy * np.sign(pca.direction_xy[1]), (math.sin(phi), math.cos(phi))) < 0.3
    # Expected OLS slope k = s c (Su - Sv) / (c^2 Su + s^2 Sv) with Su = 400^2/12, Sv = 80^2/12.
    su, sv, s_, c_ = 400.0**2 / 12, 80.0**2 / 12, math.sin(phi), math.cos(phi)
    k_expected = s_ * c_ * (su - sv) / (c_**2 * su + s_**2 * sv)
    k_ols = ols.direction_xy[0] / ols.direction_xy[1]
    assert math.degrees(math.atan(k_ols)) == pytest.approx(math.degrees(math.atan(k_expected)), abs=0.1)
    assert math.degrees(phi - math.atan(k_ols)) > 0.35  # about 0.48 degrees too vertical


def test_pca_eigenvalues_and_direction() -> None:
    pts = np.array([[0, 0], [2, 0], [4, 0], [6, 0], [3, 1], [3, -1]], float)
    fit = fit_line_pca(pts)
    np.testing.assert_allclose(abs(fit.line.direction_xy[0]), 1.0, atol=1e-12)
    np.testing.assert_allclose(fit.line.point_xy, [3, 0])
    assert fit.eigenvalues[0] > fit.eigenvalues[1] > 0
    assert fit.elongation == pytest.approx(fit.eigenvalues[0] / fit.eigenvalues[1])
    with pytest.raises(GeometryError):
        fit_line_pca([[1, 1], [1, 1]])


def test_batched_fits_match_single_fits() -> None:
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(4, 60, 2)) * [3, 20] + [100, 300]
    mask = rng.random((4, 60)) > 0.3
    ols = fit_lines_ols_x_on_y(pts, mask)
    pca = fit_lines_pca(pts, mask)
    for i in range(4):
        single = fit_line_ols_x_on_y(pts[i][mask[i]])
        assert ols.k[i] == pytest.approx(single.direction_xy[0] / single.direction_xy[1], rel=1e-9)
        assert ols.b[i] == pytest.approx(single.x_at(0.0), rel=1e-9)
        sp = fit_line_pca(pts[i][mask[i]])
        assert acute_angle_between_deg(pca.direction_xy[i], sp.line.direction_xy) < 1e-6
        np.testing.assert_allclose(pca.mean_xy[i], sp.line.point_xy)
    # A row with fewer than two points is invalid, not a crash.
    empty = fit_lines_ols_x_on_y(pts[:1], np.zeros((1, 60), bool))
    assert not empty.valid[0] and np.isnan(empty.k[0])


def test_pca_from_moments_matches_direct_fit() -> None:
    pts = np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.1], [3.0, 5.9]])
    x, y = pts[:, 0], pts[:, 1]
    m = pca_from_moments(4, x.sum(), y.sum(), (x * x).sum(), (x * y).sum(), (y * y).sum())
    direct = fit_line_pca(pts)
    assert acute_angle_between_deg(m.direction_xy, direct.line.direction_xy) < 1e-9
    assert float(m.lambda1) == pytest.approx(direct.eigenvalues[0])


def test_ransac_ignores_outliers_and_is_seeded() -> None:
    xs = np.arange(0.0, 100.0)
    line_pts = np.column_stack([xs, 0.1 * xs + 50.0])
    outliers = np.column_stack([np.arange(0.0, 100.0, 10.0), np.full(10, 20.0)])
    pts = np.vstack([line_pts, outliers])
    fit = fit_line_ransac(pts, residual_threshold=1.0, seed=7)
    assert fit.inliers[:100].all() and not fit.inliers[100:].any()
    assert acute_angle_between_deg(fit.line.direction_xy, (1.0, 0.1)) < 1e-6
    again = fit_line_ransac(pts, residual_threshold=1.0, seed=7)
    np.testing.assert_array_equal(fit.inliers, again.inliers)
    ref = fit_line_ransac(pts, residual_threshold=1.0, residual="y_on_x", seed=42)
    assert acute_angle_between_deg(ref.line.direction_xy, (1.0, 0.1)) < 1e-6
    with pytest.raises(ValueError):
        fit_line_ransac(pts, residual_threshold=0.0)
