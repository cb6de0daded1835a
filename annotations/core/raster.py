"""Polygons <-> label masks for LabelMe bone outlines.

Conventions (see :mod:`inference.core.legs`): points are ``(N, 2)`` float64 image ``(x, y)``
with the origin at the top-left *corner* of the top-left pixel, so pixel ``[r, c]`` covers
``c <= x < c + 1``, ``r <= y < r + 1`` and has its centre at ``(c + 0.5, r + 0.5)``. Masks are
``(H, W)`` arrays indexed ``[row, col]`` with labels 0 background, 1 femur, 2 tibia.

* Rasterising: a pixel belongs to a polygon when its centre lies inside it (even-odd rule) or on
  its boundary, by skimage's point-in-polygon test, so :func:`rasterize_polygon` gives exactly the
  pixels of ``skimage.draw.polygon(y - 0.5, x - 0.5, shape)`` (see :func:`rasterize_polygon_window`
  for where that differs from "closed even-odd set" on self-intersecting rings).
* Vectorising: :func:`mask_to_polygon` traces the boundary between pixels (the iso-line 0.5
  between foreground and background pixel centres, i.e. on pixel edges, cutting corners
  diagonally), so every foreground pixel centre lies inside the traced ring and
  ``rasterize_polygon(mask_to_polygon(m)[0]) == m`` for a simply connected 4-connected blob
  before simplification.
* Exterior rings have a positive shoelace area in ``(x, y)`` (clockwise on screen, since y
  points down); hole rings a negative one.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi
from skimage.measure import approximate_polygon, find_contours

from annotations.core.labelme import DEFAULT_LABEL_SYNONYMS, LabelMeDocument, LabelMeShape
from annotations.core.mask_labels import FEMUR, TIBIA

logger = logging.getLogger(__name__)

__all__ = [
    "PolygonFill",
    "PolygonWithHoles",
    "mask_to_polygon",
    "mask_to_shapes",
    "normalize_label_mask",
    "polygon_area",
    "rasterize_bones",
    "rasterize_polygon",
    "rasterize_polygon_window",
]

_FOUR_CONNECTED = ndi.generate_binary_structure(2, 1)
_EIGHT_CONNECTED = ndi.generate_binary_structure(2, 2)


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


def _check_size(height: int, width: int) -> None:
    if int(height) != height or int(width) != width or height <= 0 or width <= 0:
        raise ValueError(f"height and width must be positive integers, got {height} x {width}")


def polygon_area(points_xy: NDArray[np.float64], *, signed: bool = False) -> float:
    """Area of a closed polygon ring by the shoelace formula.

    Parameters
    ----------
    points_xy : (N, 2) float64 ndarray
        Vertices in image ``(x, y)``; the ring closes implicitly (last -> first).
    signed : bool
        Return the signed area: positive when the vertices run clockwise on screen (y down),
        i.e. counter-clockwise in a y-up frame.

    Returns
    -------
    float
        ``0.5 * sum(x_i * y_{i+1} - x_{i+1} * y_i)`` (absolute value unless ``signed``); ``0`` for
        fewer than 3 vertices.

    Examples
    --------
    >>> polygon_area(np.array([[0, 0], [2, 0], [2, 3], [0, 3]], float), signed=True)
    6.0
    """
    pts = _check_points(points_xy, min_points=0)
    if len(pts) < 3:
        return 0.0
    x, y = pts[:, 0], pts[:, 1]
    area = 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))
    return area if signed else abs(area)


#: A pixel centre within this distance (in x and in y) of a vertex counts as that vertex, as in
#: skimage's ``point_in_polygon``.
_VERTEX_TOLERANCE = 1e-12


@dataclass(frozen=True, eq=False)
class PolygonFill:
    """The filled pixels of one polygon within its bounding window of the image.

    Attributes
    ----------
    r0, c0 : int
        Image row and column of the window's top-left pixel.
    mask : (h, w) bool ndarray
        ``mask[i, j]`` is pixel ``[r0 + i, c0 + j]``; shape ``(0, 0)`` when the polygon's bounding
        box misses the image.
    """

    r0: int
    c0: int
    mask: NDArray[np.bool_]

    @property
    def window(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices of the window in the image."""
        h, w = self.mask.shape
        return slice(self.r0, self.r0 + h), slice(self.c0, self.c0 + w)


def _edge_rows(
    first: NDArray[np.float64], last: NDArray[np.float64]
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Edge index and row of every (edge e, row) with ``first[e] <= row <= last[e]``."""
    n = np.maximum(last - first + 1.0, 0.0).astype(np.intp)
    edge = np.repeat(np.arange(first.size), n)
    offset = np.arange(edge.size) - np.repeat(np.cumsum(n) - n, n)
    return edge, first[edge] + offset


def _first_column(
    xi: NDArray[np.float64], yi: NDArray[np.float64], xj: NDArray[np.float64], yj: NDArray[np.float64],
    c_first: int, c_last: int, *, strict: bool,
) -> NDArray[np.intp]:
    """Per edge, the first column of ``[c_first, c_last]`` whose crossing term is ``< 0`` (``strict``) or ``<= 0``.

    ``c_last + 1`` when there is none. The term is skimage's ``(x0 * y1 - x1 * y0) / (y1 - y0)``
    for the edge from ``(xj, yj)`` to ``(xi, yi)`` relative to the point ``(c, row)`` (``yi``,
    ``yj`` are already relative), evaluated in the same floating-point order: the signed distance
    from the point to the edge's crossing of the row. For an edge that straddles the row every
    rounding step is monotone in ``c``, so the term is non-increasing in ``c`` and bisection finds
    exactly where it changes sign. The search starts from a 3-column bracket around the estimated
    crossing and falls back to the whole window where the bracket does not hold the answer.
    """
    den = yj - yi

    def below(c: NDArray[np.float64]) -> NDArray[np.bool_]:
        term = ((xi - c) * yj - (xj - c) * yi) / den
        return (term < 0) if strict else (term <= 0)

    end = float(c_last + 1)
    guess = np.floor(xi + (xj - xi) * (yi / (yi - yj)))
    lo = np.clip(guess - 1.0, c_first, end)
    hi = np.clip(guess + 2.0, c_first, end)
    held = ((lo == c_first) | ~below(lo - 1.0)) & ((hi == end) | below(hi))
    lo = np.where(held, lo, float(c_first))
    hi = np.where(held, hi, end)
    active = lo < hi
    while active.any():
        mid = np.floor(0.5 * (lo + hi))
        down = active & below(mid)
        hi = np.where(down, mid, hi)
        lo = np.where(active & ~down, mid + 1.0, lo)
        active = lo < hi
    return lo.astype(np.intp)


def rasterize_polygon_window(points_xy: NDArray[np.float64], height: int, width: int) -> PolygonFill:
    """Fill a polygon within its bounding window: the pixels whose centre lies inside or on it.

    Parameters
    ----------
    points_xy : (N, 2) float64 ndarray
        Ring vertices in image ``(x, y)``, N >= 3; the ring may extend outside the image and may
        intersect itself.
    height, width : int
        Image size; the window is clipped to it.

    Returns
    -------
    PolygonFill
        The polygon's bounding box clipped to the image, and its mask. Pixel ``[r, c]`` is set
        exactly when ``skimage.draw.polygon(y - 0.5, x - 0.5, (height, width))`` returns it:
        skimage's point-in-polygon test puts its centre ``(c + 0.5, r + 0.5)`` inside, on an edge
        or on a vertex.

    Raises
    ------
    ValueError
        For a bad point array or image size.

    Notes
    -----
    skimage's test (O'Rourke, "Computational Geometry in C", 2nd ed., §7.4) works on the vertices
    ``(x - 0.5, y - 0.5)``, where pixel ``[r, c]`` is the point ``(c, r)``. It counts the edges that
    cross the ray to the right of the point, among the edges straddling its row by the half-open
    test ``y > r``, and those that cross the ray to its left, by ``y < r``. The point is

    * a vertex when it lies within 1e-12 of one in x and in y (inside);
    * on an edge when the two counts have different parities (inside);
    * otherwise inside when the right count is odd (the even-odd rule).

    So a centre counts as on the boundary only when the boundary passes through it an odd number
    of times. Where a self-intersecting ring crosses itself, or runs twice along a segment, exactly
    on a centre, that centre takes the even-odd state of its row and may be outside.

    The same test runs row by row: an edge that straddles row ``r`` crosses the right ray of the
    centres left of one column and the left ray of those right of another, and both columns are
    found by bisection on skimage's own crossing expression (:func:`_first_column`), so rounding
    ties fall the same way. A running xor along each row then gives both parities. The cost is
    O(K) for the K (edge, row) crossings (a few evaluations each, starting from the estimated
    crossing) plus O(window), so filling a polygon costs about as much as its bounding box.

    Examples
    --------
    A right triangle whose vertices and hypotenuse pass through pixel centres:

    >>> fill = rasterize_polygon_window(np.array([[1.5, 0.5], [3.5, 0.5], [1.5, 2.5]]), 5, 6)
    >>> fill.window
    (slice(0, 3, None), slice(1, 4, None))
    >>> fill.mask.astype(int)
    array([[1, 1, 1],
           [1, 1, 0],
           [1, 0, 0]])
    """
    pts = _check_points(points_xy, min_points=3)
    _check_size(height, width)
    height, width = int(height), int(width)
    xp = pts[:, 0] - 0.5
    yp = pts[:, 1] - 0.5
    # skimage's scan box: floor(min) .. ceil(max), clipped to the image.
    r_first, r_last = max(0, math.floor(yp.min())), min(height - 1, math.ceil(yp.max()))
    c_first, c_last = max(0, math.floor(xp.min())), min(width - 1, math.ceil(xp.max()))
    if r_first > r_last or c_first > c_last:
        return PolygonFill(0, 0, np.zeros((0, 0), dtype=bool))
    n_rows, n_cols = r_last - r_first + 1, c_last - c_first + 1
    # Edge e runs from vertex j = e - 1 to vertex i = e, as skimage walks them. fl(y - r) has the
    # sign of y - r, so "yi > r != yj > r" is y_lo <= r < y_hi, and "yi < r != yj < r" is
    # y_lo < r <= y_hi; horizontal edges straddle no row.
    xj, yj = np.roll(xp, 1), np.roll(yp, 1)
    y_lo, y_hi = np.minimum(yp, yj), np.maximum(yp, yj)
    # Per pixel, bit 0 toggles with each right-ray crossing and bit 1 with each left-ray crossing
    # at or left of it; xor-accumulated along the row they give the two parities.
    stride = n_cols + 1
    toggles = np.zeros(n_rows * stride, dtype=np.uint8)
    for bit, strict, first, last in (
        (1, False, np.ceil(y_lo), np.ceil(y_hi) - 1.0),  # right ray: crossing term > 0
        (2, True, np.floor(y_lo) + 1.0, np.floor(y_hi)),  # left ray: crossing term < 0
    ):
        edge, rows = _edge_rows(np.maximum(first, r_first), np.minimum(last, r_last))
        if edge.size == 0:
            continue
        cols = _first_column(
            xp[edge], yp[edge] - rows, xj[edge], yj[edge] - rows, c_first, c_last, strict=strict
        )
        row_start = (rows.astype(np.intp) - r_first) * stride
        flat = row_start + (cols - c_first)
        if not strict:
            # The right count at c is #{cols > c}: toggling at the row's start as well makes the
            # prefix parity that of n - #{cols <= c}.
            flat = np.concatenate([flat, row_start])
        cells, times = np.unique(flat, return_counts=True)
        toggles[cells[(times & 1) == 1]] ^= bit
    mask = np.bitwise_xor.accumulate(toggles.reshape(n_rows, stride)[:, :n_cols], axis=1).astype(bool)
    # Vertices lying on a pixel centre (to skimage's tolerance).
    vc, vr = np.round(xp), np.round(yp)
    on = (np.abs(xp - vc) < _VERTEX_TOLERANCE) & (np.abs(yp - vr) < _VERTEX_TOLERANCE)
    on &= (vr >= r_first) & (vr <= r_last) & (vc >= c_first) & (vc <= c_last)
    mask[vr[on].astype(np.intp) - r_first, vc[on].astype(np.intp) - c_first] = True
    return PolygonFill(r_first, c_first, mask)


def rasterize_polygon(points_xy: NDArray[np.float64], height: int, width: int) -> NDArray[np.bool_]:
    """Fill a polygon: the ``(H, W)`` bool mask of the pixels whose centre lies inside or on it.

    Parameters
    ----------
    points_xy : (N, 2) float64 ndarray
        Ring vertices in image ``(x, y)``, N >= 3 (may extend outside the image, may intersect
        itself).
    height, width : int
        Mask size.

    Returns
    -------
    (H, W) bool ndarray
        The pixels of ``skimage.draw.polygon(y - 0.5, x - 0.5, (height, width))``: centre
        ``(c + 0.5, r + 0.5)`` inside the ring (even-odd rule), on an edge or on a vertex, by
        skimage's test (see :func:`rasterize_polygon_window`, which fills only the bounding box).

    Examples
    --------
    >>> rasterize_polygon(np.array([[0, 0], [2, 0], [2, 1], [0, 1]], float), 2, 3).astype(int)
    array([[1, 1, 0],
           [0, 0, 0]])
    """
    fill = rasterize_polygon_window(points_xy, height, width)
    out = np.zeros((int(height), int(width)), dtype=bool)
    out[fill.window] = fill.mask
    return out


def _mask_shape_to_mask(shape: LabelMeShape, height: int, width: int) -> NDArray[np.bool_]:
    """Place a LabelMe 5.3+ ``mask`` shape (PNG of its box ``points``) into an (H, W) mask."""
    from PIL import Image  # local: only mask shapes need Pillow here

    out = np.zeros((height, width), dtype=bool)
    if shape.mask is None:
        raise ValueError(f"mask shape {shape.label!r} has no mask data")
    try:
        with Image.open(io.BytesIO(base64.b64decode(shape.mask))) as im:
            sub = np.asarray(im.convert("L")) > 0
    except (OSError, binascii.Error, ValueError) as exc:
        raise ValueError(f"mask shape {shape.label!r} holds an unreadable PNG") from exc
    # LabelMe: (x1, y1), (x2, y2) = points.astype(int); mask[y1:y2 + 1, x1:x2 + 1] = shape mask.
    x1, y1 = np.floor(shape.points.min(axis=0)).astype(int)
    r0, c0 = max(y1, 0), max(x1, 0)
    r1, c1 = min(y1 + sub.shape[0], height), min(x1 + sub.shape[1], width)
    if r1 > r0 and c1 > c0:
        out[r0:r1, c0:c1] = sub[r0 - y1 : r1 - y1, c0 - x1 : c1 - x1]
    return out


def rasterize_bones(
    shapes: LabelMeDocument | Sequence[LabelMeShape],
    height: int,
    width: int,
    *,
    table: Mapping[str, str] = DEFAULT_LABEL_SYNONYMS,
    group_id: int | None = None,
) -> NDArray[np.uint8]:
    """Rasterise femur and tibia outlines into an ``(H, W)`` uint8 label mask (0/1/2).

    Parameters
    ----------
    shapes : LabelMeDocument or sequence of LabelMeShape
        Shapes whose label canonicalises (through ``table``) to ``femur`` or ``tibia`` and whose
        ``shape_type`` is ``polygon`` (or ``mask``, LabelMe 5.3+) are drawn; others are ignored.
    height, width : int
        Mask size (for a document, usually ``doc.image_height``, ``doc.image_width``).
    table : mapping
        Label synonym table (see :func:`annotations.core.labelme.canonical_label`).
    group_id : int, optional
        Draw only shapes with this ``group_id`` (one leg); ``None`` draws all.

    Returns
    -------
    (H, W) uint8 ndarray
        0 background, 1 femur, 2 tibia. All femur shapes are drawn first, then all tibia
        shapes, so tibia wins where they overlap (spec §1.3 [D]). A pixel is inside a polygon
        when its centre is (:func:`rasterize_polygon`).
    """
    _check_size(height, width)
    seq = shapes.shapes if isinstance(shapes, LabelMeDocument) else tuple(shapes)
    out = np.zeros((int(height), int(width)), dtype=np.uint8)
    for bone, value in (("femur", FEMUR), ("tibia", TIBIA)):
        for shape in seq:
            if group_id is not None and shape.group_id != group_id:
                continue
            if shape.canonical_label(table) != bone:
                continue
            if shape.shape_type == "polygon":
                fill = rasterize_polygon_window(shape.points, out.shape[0], out.shape[1])
                out[fill.window][fill.mask] = value
            elif shape.shape_type == "mask":
                out[_mask_shape_to_mask(shape, out.shape[0], out.shape[1])] = value
            else:
                logger.debug("ignoring %s shape labelled %r", shape.shape_type, shape.label)
    return out


@dataclass(frozen=True)
class PolygonWithHoles:
    """One connected component of a mask as an exterior ring and its hole rings.

    Attributes
    ----------
    exterior_xy : (N, 2) float64 ndarray
        Positive shoelace area in ``(x, y)``.
    holes_xy : tuple of (M, 2) float64 ndarray
        Negative shoelace area; largest first.
    """

    exterior_xy: NDArray[np.float64]
    holes_xy: tuple[NDArray[np.float64], ...]


def _trace_ring(
    region: NDArray[np.bool_], offset_rc: tuple[int, int], *, tolerance_px: float,
    fully_connected: Literal["low", "high"], exterior: bool,
) -> NDArray[np.float64] | None:
    """Trace the outer boundary of a filled region (bool, cropped) into an (N, 2) xy ring."""
    padded = np.pad(region, 1).astype(np.float32)
    contours = find_contours(padded, 0.5, fully_connected=fully_connected)
    if not contours:
        return None
    ring_rc = max(contours, key=len)
    # find_contours works in array index space, where pixel [r, c]'s centre is (r, c); the
    # project puts that centre at (c + 0.5, r + 0.5). Remove the pad and shift by half a pixel.
    ring_xy = np.column_stack(
        [ring_rc[:, 1] - 1 + offset_rc[1] + 0.5, ring_rc[:, 0] - 1 + offset_rc[0] + 0.5]
    )
    if tolerance_px > 0:
        simplified = approximate_polygon(ring_xy, tolerance=tolerance_px)
        if len(simplified) - 1 >= 3:
            ring_xy = simplified
    if len(ring_xy) > 1 and np.array_equal(ring_xy[0], ring_xy[-1]):
        ring_xy = ring_xy[:-1]
    if len(ring_xy) < 3:
        return None
    area = polygon_area(ring_xy, signed=True)
    if (area < 0) == exterior:
        ring_xy = ring_xy[::-1]
    return np.ascontiguousarray(ring_xy, dtype=np.float64)


@overload
def mask_to_polygon(
    mask: NDArray[np.bool_], *, tolerance_px: float = ..., keep_holes: Literal[False] = ...,
    min_area_px: int = ...,
) -> list[NDArray[np.float64]]: ...


@overload
def mask_to_polygon(
    mask: NDArray[np.bool_], *, tolerance_px: float = ..., keep_holes: Literal[True],
    min_area_px: int = ...,
) -> list[PolygonWithHoles]: ...


def mask_to_polygon(
    mask: NDArray[np.bool_],
    *,
    tolerance_px: float = 1.0,
    keep_holes: bool = False,
    min_area_px: int = 1,
) -> list[NDArray[np.float64]] | list[PolygonWithHoles]:
    """Vectorise a binary mask into simplified polygons, one per 4-connected component.

    Parameters
    ----------
    mask : (H, W) bool ndarray
        Foreground pixels (any non-zero value counts).
    tolerance_px : float
        Douglas-Peucker tolerance (:func:`skimage.measure.approximate_polygon`) in pixels;
        0 keeps every traced vertex.
    keep_holes : bool
        ``False``: return only exterior rings (holes are filled). ``True``: return
        :class:`PolygonWithHoles` records, holes (8-connected background regions enclosed by
        the component) listed separately.
    min_area_px : int
        Components with fewer pixels are dropped (holes too, when ``keep_holes``).

    Returns
    -------
    list of (N, 2) float64 ndarray, or list of PolygonWithHoles
        Largest component (by pixel count) first. Ring vertices lie on pixel edges / corners
        (before simplification), exteriors with positive signed area (:func:`polygon_area`).
        ``rasterize_polygon`` of a returned ring reproduces the component up to the
        simplification tolerance.

    Raises
    ------
    ValueError
        If ``mask`` is not 2-D or ``tolerance_px`` is negative.

    Notes
    -----
    Contours come from :func:`skimage.measure.find_contours` at level 0.5 on the zero-padded
    component (foreground face-connected, background fully connected), traced in index space
    where pixel ``[r, c]`` is centred at ``(r, c)``, then mapped to ``(x, y) = (c + 0.5, r + 0.5)``.
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {m.shape}")
    if not tolerance_px >= 0:
        raise ValueError(f"tolerance_px must be >= 0, got {tolerance_px}")
    m = m.astype(bool, copy=False)
    labels, n = ndi.label(m, structure=_FOUR_CONNECTED)
    if n == 0:
        return []
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    slices = ndi.find_objects(labels)
    order = sorted(range(1, n + 1), key=lambda k: (-sizes[k], k))
    rings: list[NDArray[np.float64]] = []
    records: list[PolygonWithHoles] = []
    for k in order:
        if sizes[k] < min_area_px:
            continue
        sl = slices[k - 1]
        assert sl is not None
        component = labels[sl] == k
        # Background is 8-connected under find_contours(fully_connected="low"), so a hole is
        # a background region that no 8-connected path joins to the outside.
        filled = ndi.binary_fill_holes(component, structure=_EIGHT_CONNECTED)
        offset = (sl[0].start, sl[1].start)
        exterior = _trace_ring(
            filled, offset, tolerance_px=tolerance_px, fully_connected="low", exterior=True
        )
        if exterior is None:
            continue
        if not keep_holes:
            rings.append(exterior)
            continue
        holes: list[tuple[int, NDArray[np.float64]]] = []
        hole_mask = filled & ~component
        if hole_mask.any():
            hole_labels, n_holes = ndi.label(hole_mask, structure=_EIGHT_CONNECTED)
            hole_sizes = np.bincount(hole_labels.ravel(), minlength=n_holes + 1)
            hole_slices = ndi.find_objects(hole_labels)
            for h in range(1, n_holes + 1):
                if hole_sizes[h] < min_area_px:
                    continue
                hsl = hole_slices[h - 1]
                assert hsl is not None
                ring = _trace_ring(
                    hole_labels[hsl] == h,
                    (offset[0] + hsl[0].start, offset[1] + hsl[1].start),
                    tolerance_px=tolerance_px, fully_connected="high", exterior=False,
                )
                if ring is not None:
                    holes.append((int(hole_sizes[h]), ring))
        holes.sort(key=lambda t: -t[0])
        records.append(PolygonWithHoles(exterior, tuple(r for _, r in holes)))
    return records if keep_holes else rings


#: Grey values of the LabelMe/VOC palette colours (128, 0, 0) and (0, 128, 0) after conversion
#: to grey, as the authors' ``iouHelpers`` read label PNGs (spec §1.4).
_PALETTE_GREY = {38: FEMUR, 75: TIBIA}


def normalize_label_mask(mask: NDArray[np.integer]) -> NDArray[np.uint8]:
    """Convert a label image in either known encoding to labels 0/1/2 (spec §1.4 [D]).

    Parameters
    ----------
    mask : (H, W) integer ndarray
        Either 0/1/2 (mmsegmentation layout) or the grey palette values 0/38/75; a
        ``(H, W, C)`` array (OpenCV's 3-channel read) uses channel 0 when all channels agree.

    Returns
    -------
    (H, W) uint8 ndarray
        0 background, 1 femur, 2 tibia.

    Raises
    ------
    ValueError
        For any other value set (reported), or channels that disagree.
    """
    arr = np.asarray(mask)
    if arr.ndim == 3:
        if not np.all(arr == arr[..., :1]):
            raise ValueError("label image channels differ; expected a grey label image")
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f"label image must be (H, W), got shape {arr.shape}")
    values = set(np.unique(arr).tolist())
    if values <= {0, 1, 2}:
        return arr.astype(np.uint8)
    if values <= {0, 38, 75}:
        out = np.zeros(arr.shape, dtype=np.uint8)
        for grey, label in _PALETTE_GREY.items():
            out[arr == grey] = label
        return out
    raise ValueError(
        f"label image values {sorted(values)[:10]} are neither 0/1/2 nor the palette greys 0/38/75"
    )


def mask_to_shapes(
    labels: NDArray[np.integer],
    *,
    tolerance_px: float = 1.0,
    min_area_px: int = 1,
    group_id: int | None = None,
) -> list[LabelMeShape]:
    """LabelMe polygon shapes for the femur and tibia regions of a 0/1/2 label mask.

    Parameters
    ----------
    labels : (H, W) integer ndarray
        0 background, 1 femur, 2 tibia.
    tolerance_px, min_area_px
        As in :func:`mask_to_polygon`.
    group_id : int, optional
        ``group_id`` written on every shape (the leg index when the mask holds one leg).

    Returns
    -------
    list of LabelMeShape
        ``femur`` polygons then ``tibia`` polygons, each largest component first; holes are
        filled (LabelMe polygons have none).
    """
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise ValueError(f"labels must be (H, W), got shape {arr.shape}")
    shapes: list[LabelMeShape] = []
    for name, value in (("femur", FEMUR), ("tibia", TIBIA)):
        for ring in mask_to_polygon(arr == value, tolerance_px=tolerance_px, min_area_px=min_area_px):
            shapes.append(
                LabelMeShape(label=name, points=ring, shape_type="polygon", group_id=group_id)
            )
    return shapes
