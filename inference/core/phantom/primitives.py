"""Signed-distance primitives (negative inside), their pixel grids and outlines.

A bone is the union of primitives; its LabelMe polygon is the zero contour of the signed distance
sampled on pixel centres (``skimage.measure.find_contours``), simplified to 0.1 px.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from skimage.measure import approximate_polygon, find_contours


class _Circle:
    def __init__(self, c: NDArray, r: float) -> None:
        self.c, self.r = np.asarray(c, float), float(r)

    def sdf(self, x: NDArray, y: NDArray) -> NDArray:
        return np.hypot(x - self.c[0], y - self.c[1]) - self.r

    def bbox(self) -> tuple[float, float, float, float]:
        return self.c[0] - self.r, self.c[1] - self.r, self.c[0] + self.r, self.c[1] + self.r


class _Capsule:
    def __init__(self, a: NDArray, b: NDArray, r: float) -> None:
        self.a, self.b, self.r = np.asarray(a, float), np.asarray(b, float), float(r)

    def sdf(self, x: NDArray, y: NDArray) -> NDArray:
        d = self.b - self.a
        t = np.clip(((x - self.a[0]) * d[0] + (y - self.a[1]) * d[1]) / float(d @ d), 0.0, 1.0)
        return np.hypot(x - (self.a[0] + t * d[0]), y - (self.a[1] + t * d[1])) - self.r

    def bbox(self) -> tuple[float, float, float, float]:
        lo = np.minimum(self.a, self.b) - self.r
        hi = np.maximum(self.a, self.b) + self.r
        return lo[0], lo[1], hi[0], hi[1]


class _ConvexPolygon:
    """Convex polygon from any vertex set (its convex hull); the zero set is exact."""

    def __init__(self, pts: NDArray) -> None:
        from scipy.spatial import ConvexHull

        pts = np.asarray(pts, float)
        hull = ConvexHull(pts)
        self.v = pts[hull.vertices]  # counter-clockwise in (x, y) maths orientation
        e = np.roll(self.v, -1, axis=0) - self.v
        n = np.stack([e[:, 1], -e[:, 0]], axis=1)
        self.n = n / np.linalg.norm(n, axis=1, keepdims=True)  # outward for CCW hull order
        self.off = np.sum(self.n * self.v, axis=1)

    def sdf(self, x: NDArray, y: NDArray) -> NDArray:
        out = np.full(x.shape, -np.inf)
        for (nx, ny), o in zip(self.n, self.off):
            out = np.maximum(out, x * nx + y * ny - o)
        return out

    def bbox(self) -> tuple[float, float, float, float]:
        lo, hi = self.v.min(axis=0), self.v.max(axis=0)
        return lo[0], lo[1], hi[0], hi[1]


def _union_sdf(prims: Sequence[Any], x: NDArray, y: NDArray) -> NDArray:
    out = prims[0].sdf(x, y)
    for p in prims[1:]:
        out = np.minimum(out, p.sdf(x, y))
    return out


@dataclass(frozen=True, eq=False)
class _Grid:
    x0: int
    y0: int
    sdf: NDArray[np.float64]


def _grid_sdf(prims: Sequence[Any], width: int, height: int, pad: int = 4, step: int = 1) -> _Grid | None:
    """SDF on pixel centres of the primitives' bounding box; ``None`` if it leaves the image.

    ``step > 1`` samples every ``step``-th pixel (the grid index ``i`` is then pixel ``step * i``).
    """
    boxes = np.array([p.bbox() for p in prims])
    x_lo, y_lo = np.floor(boxes[:, :2].min(axis=0)).astype(int) - pad
    x_hi, y_hi = np.ceil(boxes[:, 2:].max(axis=0)).astype(int) + pad
    if x_lo < 0 or y_lo < 0 or x_hi > width or y_hi > height:
        return None
    xs = np.arange(x_lo, x_hi, step) + 0.5
    ys = np.arange(y_lo, y_hi, step) + 0.5
    xg, yg = np.meshgrid(xs, ys)
    return _Grid(int(x_lo), int(y_lo), _union_sdf(prims, xg, yg))


def _polygon_from_grid(grid: _Grid) -> NDArray[np.float64] | None:
    contours = find_contours(grid.sdf, 0.0)
    if not contours:
        return None
    c = max(contours, key=len)
    if not np.allclose(c[0], c[-1]):
        return None
    c = approximate_polygon(c, tolerance=0.1)[:-1]
    # Rounded as the LabelMe document stores them, so the label map is the document's own raster.
    return np.round(np.column_stack([c[:, 1] + grid.x0 + 0.5, c[:, 0] + grid.y0 + 0.5]), 6)
