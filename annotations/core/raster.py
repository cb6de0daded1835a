"""Polygons <-> label masks for LabelMe bone outlines.

Conventions (see :mod:`inference.core.legs`): points are ``(N, 2)`` float64 image ``(x, y)``
with the origin at the top-left *corner* of the top-left pixel, so pixel ``[r, c]`` covers
``c <= x < c + 1``, ``r <= y < r + 1`` and has its centre at ``(c + 0.5, r + 0.5)``. Masks are
``(H, W)`` arrays indexed ``[row, col]`` with labels 0 background, 1 femur, 2 tibia.

* Rasterising: a pixel belongs to a polygon when its centre lies inside it or on its boundary
  (even-odd rule for self-intersecting rings).
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi
from skimage.measure import approximate_polygon, find_contours

from annotations.core.labelme import DEFAULT_LABEL_SYNONYMS, LabelMeDocument, LabelMeShape
from inference.core.legs import FEMUR, TIBIA

logger = logging.getLogger(__name__)

__all__ = [
    "PolygonWithHoles",
    "mask_to_polygon",
    "mask_to_shapes",
    "normalize_label_mask",
    "polygon_area",
    "rasterize_bones",
    "rasterize_polygon",
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


def rasterize_polygon(points_xy: NDArray[np.float64], height: int, width: int) -> NDArray[np.bool_]:
    """Fill a polygon: the ``(H, W)`` bool mask of the pixels whose centre lies inside it.

    Parameters
    ----------
    points_xy : (N, 2) float64 ndarray
        Ring vertices in image ``(x, y)``, N >= 3 (may extend outside the image).
    height, width : int
        Mask size.

    Returns
    -------
    (H, W) bool ndarray
        ``True`` at ``[r, c]`` when the centre ``(c + 0.5, r + 0.5)`` is inside the ring (even-odd
        rule) or exactly on its boundary (the closed polygon, as ``skimage.draw.polygon`` and
        ``skimage.measure.points_in_poly`` count it).

    Notes
    -----
    Vectorised scan-line fill: the crossings of each row line ``y = r + 0.5`` with the edges
    (half-open in y, ``y_min <= y < y_max``, so vertices are counted once) are sorted and the
    pixels with ``x_in <= c + 0.5 <= x_out`` are set between consecutive pairs; centres lying
    exactly on an edge (horizontal edges, lower vertices) are added afterwards. The cost is
    O(rows x edges + pixels), independent of the polygon's area.

    Examples
    --------
    >>> rasterize_polygon(np.array([[0, 0], [2, 0], [2, 1], [0, 1]], float), 2, 3).astype(int)
    array([[1, 1, 0],
           [0, 0, 0]])
    """
    pts = _check_points(points_xy, min_points=3)
    _check_size(height, width)
    height, width = int(height), int(width)
    out = np.zeros((height, width), dtype=bool)
    r_lo = max(0, int(np.ceil(pts[:, 1].min() - 0.5)))
    r_hi = min(height - 1, int(np.floor(pts[:, 1].max() - 0.5)))
    if r_lo > r_hi:
        return out
    n_rows = r_hi - r_lo + 1
    x0, y0 = pts[:, 0], pts[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    y_min, y_max = np.minimum(y0, y1), np.maximum(y0, y1)
    horizontal = y0 == y1
    yc = (np.arange(r_lo, r_hi + 1, dtype=np.float64) + 0.5)[:, None]  # (R, 1) row centres
    slope = np.where(horizontal, 0.0, (x1 - x0) / np.where(horizontal, 1.0, y1 - y0))
    x_at = x0 + (yc - y0) * slope  # (R, E) where each edge's line meets the row
    rows_all = np.broadcast_to(np.arange(n_rows)[:, None], x_at.shape)

    # Interior, even-odd.
    crosses = (yc >= y_min) & (yc < y_max)  # never true for horizontal edges
    xs = np.where(crosses, x_at, np.inf)
    xs.sort(axis=1)
    n_pairs = int(crosses.sum(axis=1).max()) // 2
    band = np.zeros((n_rows, width), dtype=bool)
    if n_pairs:
        starts = xs[:, 0 : 2 * n_pairs : 2]
        ends = xs[:, 1 : 2 * n_pairs : 2]
        valid = np.isfinite(ends)
        # Pixels c with starts <= c + 0.5 <= ends, clipped to the image.
        c0 = np.clip(np.ceil(np.where(valid, starts, 0.0) - 0.5), 0, width).astype(np.intp)
        c1 = np.clip(np.floor(np.where(valid, ends, -1.0) - 0.5) + 1, 0, width).astype(np.intp)
        valid &= c1 > c0
        rows = rows_all[:, : starts.shape[1]]
        diff = np.zeros((n_rows, width + 1), dtype=np.int32)
        np.add.at(diff, (rows[valid], c0[valid]), 1)
        np.add.at(diff, (rows[valid], c1[valid]), -1)
        band = np.cumsum(diff[:, :width], axis=1) > 0

    # Boundary: centres exactly on a slanted/vertical edge (closed in y) ...
    on_edge = (yc >= y_min) & (yc <= y_max) & ~horizontal
    col = x_at - 0.5
    hit = on_edge & (col == np.round(col)) & (col >= 0) & (col < width)
    band[rows_all[hit], col[hit].astype(np.intp)] = True
    # ... and on a horizontal edge lying on a row of centres.
    h_on_row = horizontal & (yc == y0)  # (R, E)
    if h_on_row.any():
        rr, ee = np.nonzero(h_on_row)
        lo = np.clip(np.ceil(np.minimum(x0, x1)[ee] - 0.5), 0, width).astype(np.intp)
        hi = np.clip(np.floor(np.maximum(x0, x1)[ee] - 0.5) + 1, 0, width).astype(np.intp)
        keep = hi > lo
        diff = np.zeros((n_rows, width + 1), dtype=np.int32)
        np.add.at(diff, (rr[keep], lo[keep]), 1)
        np.add.at(diff, (rr[keep], hi[keep]), -1)
        band |= np.cumsum(diff[:, :width], axis=1) > 0
    out[r_lo : r_hi + 1] = band
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
                out[rasterize_polygon(shape.points, out.shape[0], out.shape[1])] = value
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
