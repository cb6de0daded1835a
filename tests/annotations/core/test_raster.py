"""Polygon rasterising and mask -> polygon (annotations.core.raster)."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage as ndi

from annotations.core.labelme import LabelMeShape, parse_document
from annotations.core.raster import (
    PolygonFill,
    PolygonWithHoles,
    _first_column,
    mask_to_polygon,
    mask_to_shapes,
    normalize_label_mask,
    polygon_area,
    rasterize_bones,
    rasterize_polygon,
    rasterize_polygon_window,
)
from inference.core.legs import FEMUR, TIBIA, rc_to_xy, xy_to_rc

REPO = Path(__file__).resolve().parents[3]


def shared_data() -> Path:
    env = os.environ.get("ENLLASD_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _poly(label: str, pts, *, group_id=None, shape_type="polygon", **kw) -> LabelMeShape:
    return LabelMeShape(label=label, points=np.asarray(pts, float), shape_type=shape_type,
                        group_id=group_id, **kw)


# ------------------------------------------------------------------------------------------
# polygon_area / rasterize_polygon
# ------------------------------------------------------------------------------------------
def test_polygon_area_hand_cases():
    rect = np.array([[0, 0], [2, 0], [2, 3], [0, 3]], float)
    assert polygon_area(rect) == 6.0
    assert polygon_area(rect, signed=True) == 6.0  # clockwise on screen (y down) -> positive
    assert polygon_area(rect[::-1], signed=True) == -6.0
    assert polygon_area(np.array([[0, 0], [4, 0], [0, 3]], float)) == 6.0
    assert polygon_area(np.zeros((2, 2))) == 0.0
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        polygon_area(np.zeros((3, 3)))


def test_rasterize_polygon_pixel_centre_rule():
    # Square covering pixel corners 0..2: centres (0.5, 0.5) .. (1.5, 1.5) are inside.
    sq = np.array([[0, 0], [2, 0], [2, 2], [0, 2]], float)
    expected = np.zeros((4, 4), bool)
    expected[:2, :2] = True
    np.testing.assert_array_equal(rasterize_polygon(sq, 4, 4), expected)
    # Shifted by 0.4 px: centres 0.5, 1.5 still inside; 2.5 is not (2.4 < 2.5).
    np.testing.assert_array_equal(rasterize_polygon(sq + 0.4, 4, 4), expected)
    # Shifted by 0.6 px: the centre 0.5 falls outside, 2.5 inside.
    shifted = np.zeros((4, 4), bool)
    shifted[1:3, 1:3] = True
    np.testing.assert_array_equal(rasterize_polygon(sq + 0.6, 4, 4), shifted)
    # A thin sliver between centres covers nothing.
    assert not rasterize_polygon(np.array([[0, 0.6], [4, 0.6], [4, 1.4], [0, 1.4]]), 3, 4).any()
    # Non-integer size / bad input.
    with pytest.raises(ValueError, match="at least 3"):
        rasterize_polygon(sq[:2], 4, 4)
    with pytest.raises(ValueError, match="positive"):
        rasterize_polygon(sq, 0, 4)


def test_rasterize_polygon_matches_legs_convention():
    # A triangle; every pixel whose centre (rc_to_xy) is inside must be set, and xy_to_rc of
    # an interior point must land on a set pixel.
    tri = np.array([[1.0, 1.0], [9.0, 2.0], [3.0, 8.0]])  # centres with c + r = 10 on an edge
    mask = rasterize_polygon(tri, 10, 10)
    rr, cc = np.nonzero(mask)
    from skimage.measure import points_in_poly

    centres = rc_to_xy(*np.nonzero(np.ones((10, 10), bool)))
    np.testing.assert_array_equal(points_in_poly(centres, tri).reshape(10, 10), mask)
    r, c = xy_to_rc(np.array([[4.2, 3.7]]))[0]
    assert mask[r, c]
    # Right triangle x + y <= 4: centres (c + .5) + (r + .5) <= 4, i.e. c + r <= 3 -> 10 pixels,
    # the 4 with c + r == 3 lying exactly on the hypotenuse.
    right = rasterize_polygon(np.array([[0, 0], [4, 0], [0, 4]], float), 5, 5)
    expected = np.add.outer(np.arange(5), np.arange(5)) <= 3
    np.testing.assert_array_equal(right, expected)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(3, 12))
def test_rasterize_polygon_equals_point_in_polygon(seed, n):
    # Random (possibly self-intersecting) polygons with random float vertices: no centre lies
    # exactly on an edge, so the even-odd test of every centre is the reference.
    from skimage.measure import points_in_poly

    rng = np.random.default_rng(seed)
    pts = rng.uniform(-3.0, 23.0, size=(n, 2))
    mask = rasterize_polygon(pts, 17, 21)
    centres = rc_to_xy(*np.nonzero(np.ones((17, 21), bool)))
    np.testing.assert_array_equal(mask, points_in_poly(centres, pts).reshape(17, 21))


def test_centres_on_the_boundary_are_inside():
    # Closed polygon: a centre on any edge or vertex counts, as in skimage.draw.polygon.
    left = np.array([[0, 0], [2.5, 0], [2.5, 3], [0, 3]], float)  # right edge x = 2.5 (centres)
    np.testing.assert_array_equal(rasterize_polygon(left, 3, 5)[:, 2], [True, True, True])
    bottom = np.array([[0, 0], [3, 0], [3, 1.5], [0, 1.5]], float)  # bottom edge y = 1.5
    np.testing.assert_array_equal(rasterize_polygon(bottom, 3, 3).sum(axis=1), [3, 3, 0])
    # A diamond whose lowest vertex is the centre (1.5, 2.5).
    diamond = np.array([[1.5, 0.4], [2.6, 1.5], [1.5, 2.5], [0.4, 1.5]])
    assert rasterize_polygon(diamond, 4, 3)[2, 1]
    # A degenerate "polygon" along a row of centres still marks them.
    flat = np.array([[0.5, 1.5], [2.5, 1.5], [1.5, 1.5]])
    np.testing.assert_array_equal(rasterize_polygon(flat, 3, 4)[1], [True, True, True, False])
    from skimage.draw import polygon as sk_polygon

    for poly in (left, bottom, diamond):
        rr, cc = sk_polygon(poly[:, 1] - 0.5, poly[:, 0] - 0.5, shape=(4, 5))
        ref = np.zeros((4, 5), bool)
        ref[rr, cc] = True
        np.testing.assert_array_equal(rasterize_polygon(poly, 4, 5), ref)


def test_rasterize_polygon_clips_outside_points():
    big = np.array([[-10, -10], [50, -10], [50, 50], [-10, 50]], float)
    assert rasterize_polygon(big, 3, 5).all()
    off = np.array([[-9, 1], [-2, 1], [-5, 3]], float)  # wholly left of the image
    fill = rasterize_polygon_window(off, 3, 5)
    assert isinstance(fill, PolygonFill) and fill.mask.shape == (0, 0)
    assert not rasterize_polygon(off, 3, 5).any()


def _skimage_fill(points_xy: np.ndarray, height: int, width: int) -> np.ndarray:
    from skimage.draw import polygon as sk_polygon

    rr, cc = sk_polygon(points_xy[:, 1] - 0.5, points_xy[:, 0] - 0.5, shape=(height, width))
    ref = np.zeros((height, width), bool)
    ref[rr, cc] = True
    return ref


def test_boundary_passed_twice_follows_the_even_odd_state():
    # skimage counts a centre as "on the boundary" only when the boundary passes through it an
    # odd number of times; otherwise the centre takes the even-odd state of its row.
    # Hourglass (lobes above and below) whose diagonals cross at the centre of pixel [1, 1]:
    hourglass = np.array([[0.5, 0.5], [2.5, 0.5], [0.5, 2.5], [2.5, 2.5]])
    expected = np.array([[1, 1, 1], [0, 0, 0], [1, 1, 1]], bool)
    np.testing.assert_array_equal(rasterize_polygon(hourglass, 3, 3), expected)
    # The bow-tie (lobes left and right) has its crossing inside along the row.
    bowtie = np.array([[0.5, 0.5], [2.5, 2.5], [2.5, 0.5], [0.5, 2.5]])
    np.testing.assert_array_equal(rasterize_polygon(bowtie, 3, 3), np.array([[1, 0, 1], [1, 1, 1], [1, 0, 1]], bool))
    # A zero-width spike out of a rectangle runs twice through the centres (1.5, 2.5), (1.5, 3.5).
    spike = np.array([[0, 0], [3, 0], [3, 2], [1.5, 2], [1.5, 4], [1.5, 2], [0, 2]], float)
    expected = np.zeros((4, 3), bool)
    expected[:2] = True
    np.testing.assert_array_equal(rasterize_polygon(spike, 4, 3), expected)
    for poly, shape in ((hourglass, (3, 3)), (bowtie, (3, 3)), (spike, (4, 3))):
        np.testing.assert_array_equal(rasterize_polygon(poly, *shape), _skimage_fill(poly, *shape))


def test_centre_on_an_inexact_edge_is_decided_as_skimage_rounds():
    # The edge (25/3, 34/3) - (22/3, 13/3) passes through the centre (7.5, 5.5) of pixel [5, 7]
    # in exact arithmetic; with the vertices rounded to floats skimage's crossing test puts it
    # outside, and the fill must round the same way.
    tri = np.array([[25, 34], [22, 13], [2, 19]], float) / 3.0
    got = rasterize_polygon(tri, 12, 12)
    assert not got[5, 7] and got[5, 6]
    np.testing.assert_array_equal(got, _skimage_fill(tri, 12, 12))


@st.composite
def _polygon_cases(draw: st.DrawFn) -> tuple[np.ndarray, int, int]:
    """Random rings, self-intersecting ones included, and an image that may cut them.

    Vertices lie on a grid of 1, 1/2, 1/3 or 1/4 px (so vertices, edges and self-intersections
    fall exactly on pixel centres or within rounding of them) or anywhere; some rings are
    axis-aligned staircases.
    """
    n = draw(st.integers(3, 14))
    height, width = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    denom = draw(st.sampled_from([1, 2, 3, 4, None]))
    if denom is None:
        coord = st.floats(-6.0, 30.0, allow_nan=False, allow_infinity=False)
    else:
        coord = st.integers(-6 * denom, 30 * denom).map(lambda k: k / denom)
    pts = np.array(draw(st.lists(st.tuples(coord, coord), min_size=n, max_size=n)), float)
    if draw(st.booleans()):
        pts = np.repeat(pts, 2, axis=0)
        pts[1::2, 0] = np.roll(pts[0::2, 0], -1)  # (x_k, y_k) -> (x_k+1, y_k) -> (x_k+1, y_k+1)
    return pts, height, width


@settings(max_examples=300, deadline=None)
@given(_polygon_cases())
def test_rasterize_polygon_equals_skimage_draw_polygon(case):
    pts, height, width = case
    full = rasterize_polygon(pts, height, width)
    np.testing.assert_array_equal(full, _skimage_fill(pts, height, width))
    fill = rasterize_polygon_window(pts, height, width)
    np.testing.assert_array_equal(full[fill.window], fill.mask)
    assert full.sum() == fill.mask.sum()


def test_first_column_is_exact_where_the_estimate_misses():
    # Far-away vertices (1e16 .. 1e18 px) make skimage's crossing term round coarsely, so the
    # estimated crossing can miss its 3-column bracket; bisection over the window must still
    # find the first column where the term changes sign.
    rng = np.random.default_rng(0)
    n = 2000
    t = 10 ** rng.uniform(-3, 3, n)
    yi, yj = t, -(10 ** rng.uniform(-3, 3, n))
    xi = 10 ** rng.uniform(16, 18, n)
    frac = yi / (yi - yj)
    xj = (rng.uniform(-5, 45, n) - xi * (1 - frac)) / frac  # crossing near the window
    cols = np.arange(0.0, 41.0)
    for strict in (False, True):
        term = ((xi[:, None] - cols) * yj[:, None] - (xj[:, None] - cols) * yi[:, None]) / (yj - yi)[:, None]
        below = (term < 0) if strict else (term <= 0)
        expected = np.where(below.any(axis=1), np.argmax(below, axis=1), 41)
        np.testing.assert_array_equal(_first_column(xi, yi, xj, yj, 0, 40, strict=strict), expected)


# ------------------------------------------------------------------------------------------
# rasterize_bones
# ------------------------------------------------------------------------------------------
def test_rasterize_bones_tibia_wins_and_synonyms():
    shapes = [
        _poly("Tibia", [[0, 4], [4, 4], [4, 8], [0, 8]]),  # listed first, still drawn last
        _poly("femur_mask", [[0, 0], [4, 0], [4, 6], [0, 6]]),
        _poly("fibula", [[4, 0], [6, 0], [6, 8], [4, 8]]),  # unknown label: ignored
        _poly("femur", [[5, 0], [6, 0]], shape_type="line"),  # not a polygon: ignored
    ]
    out = rasterize_bones(shapes, 8, 6)
    assert out.dtype == np.uint8 and out.shape == (8, 6)
    expected = np.zeros((8, 6), np.uint8)
    expected[0:6, 0:4] = FEMUR
    expected[4:8, 0:4] = TIBIA
    np.testing.assert_array_equal(out, expected)


def test_rasterize_bones_document_group_and_table():
    doc = parse_document({
        "shapes": [
            {"label": "femur", "points": [[0, 0], [2, 0], [2, 2], [0, 2]], "group_id": 0},
            {"label": "femur", "points": [[4, 0], [6, 0], [6, 2], [4, 2]], "group_id": 1},
            {"label": "bone_a", "points": [[0, 2], [2, 2], [2, 4], [0, 4]], "group_id": 0},
        ],
        "imageHeight": 4, "imageWidth": 6,
    })
    everything = rasterize_bones(doc, 4, 6)
    assert (everything == FEMUR).sum() == 8 and (everything == TIBIA).sum() == 0
    leg1 = rasterize_bones(doc, 4, 6, group_id=1)
    assert (leg1 == FEMUR).sum() == 4 and leg1[:2, 4:6].all()
    custom = rasterize_bones(doc, 4, 6, table={"bone_a": "tibia", "femur": "femur"}, group_id=0)
    assert (custom == FEMUR).sum() == 4 and (custom[2:4, 0:2] == TIBIA).all()


def test_rasterize_bones_mask_shape():
    sub = np.array([[1, 0, 1], [1, 1, 0]], np.uint8) * 255
    buf = io.BytesIO()
    Image.fromarray(sub).save(buf, format="PNG")
    shape = _poly("tibia", [[2, 1], [4, 2]], shape_type="mask",
                  mask=base64.b64encode(buf.getvalue()).decode())
    out = rasterize_bones([shape], 4, 6)
    expected = np.zeros((4, 6), np.uint8)
    expected[1:3, 2:5] = (sub > 0) * TIBIA
    np.testing.assert_array_equal(out, expected)


# ------------------------------------------------------------------------------------------
# mask_to_polygon
# ------------------------------------------------------------------------------------------
def test_single_pixel_becomes_diamond_on_pixel_edges():
    m = np.zeros((3, 3), bool)
    m[1, 2] = True
    (ring,) = mask_to_polygon(m)
    # The diamond through the midpoints of the pixel's four edges (centre (2.5, 1.5)).
    assert sorted(map(tuple, ring.tolist())) == [(2.0, 1.5), (2.5, 1.0), (2.5, 2.0), (3.0, 1.5)]
    assert polygon_area(ring, signed=True) == 0.5
    np.testing.assert_array_equal(rasterize_polygon(ring, 3, 3), m)


def test_rectangle_exact_and_simplified_to_corners():
    m = np.zeros((10, 12), bool)
    m[2:7, 3:10] = True
    (ring,) = mask_to_polygon(m, tolerance_px=1.0)
    np.testing.assert_array_equal(rasterize_polygon(ring, 10, 12), m)
    # Douglas-Peucker keeps only the cut corners (8 vertices at most).
    assert len(ring) <= 8
    assert polygon_area(ring, signed=True) > 0
    # Unsimplified, the ring runs along the pixel edges x = 3..10, y = 2..7 with cut corners.
    (exact,) = mask_to_polygon(m, tolerance_px=0)
    assert (exact[:, 0].min(), exact[:, 0].max(), exact[:, 1].min(), exact[:, 1].max()) == (
        3.0, 10.0, 2.0, 7.0)
    assert polygon_area(exact, signed=True) == 35 - 4 * 0.125  # 5 x 7 minus four corner cuts
    np.testing.assert_array_equal(rasterize_polygon(exact, 10, 12), m)


def test_empty_and_validation():
    assert mask_to_polygon(np.zeros((5, 5), bool)) == []
    with pytest.raises(ValueError, match="2-D"):
        mask_to_polygon(np.zeros((2, 2, 2), bool))
    with pytest.raises(ValueError, match="tolerance"):
        mask_to_polygon(np.ones((2, 2), bool), tolerance_px=-1)


def test_components_largest_first_and_min_area():
    m = np.zeros((20, 20), bool)
    m[1:3, 1:3] = True  # 4 px
    m[10:18, 10:16] = True  # 48 px
    m[5, 15] = True  # 1 px
    rings = mask_to_polygon(m, tolerance_px=0)
    assert len(rings) == 3
    areas = [rasterize_polygon(r, 20, 20).sum() for r in rings]
    assert areas == [48, 4, 1]
    assert len(mask_to_polygon(m, min_area_px=2)) == 2
    # Diagonal neighbours are separate (4-connected) components.
    d = np.zeros((4, 4), bool)
    d[1, 1] = d[2, 2] = True
    assert len(mask_to_polygon(d)) == 2


def test_disc_roundtrip_iou():
    yy, xx = np.mgrid[0:120, 0:160]
    m = (xx + 0.5 - 83.3) ** 2 + (yy + 0.5 - 57.1) ** 2 < 41.0**2
    (ring,) = mask_to_polygon(m, tolerance_px=1.0)
    back = rasterize_polygon(ring, *m.shape)
    assert _iou(back, m) > 0.97
    assert len(ring) < 80  # simplified, from ~330 traced vertices
    assert abs(polygon_area(ring) - np.pi * 41.0**2) / (np.pi * 41.0**2) < 0.02


def test_holes_filled_by_default_and_returned_separately():
    m = np.zeros((30, 30), bool)
    m[3:27, 3:27] = True
    m[10:16, 12:20] = False  # a 6 x 8 hole
    (ring,) = mask_to_polygon(m, tolerance_px=0)
    np.testing.assert_array_equal(rasterize_polygon(ring, 30, 30), ndi.binary_fill_holes(m))
    (rec,) = mask_to_polygon(m, tolerance_px=0, keep_holes=True)
    assert isinstance(rec, PolygonWithHoles) and len(rec.holes_xy) == 1
    hole = rec.holes_xy[0]
    assert polygon_area(hole, signed=True) < 0 < polygon_area(rec.exterior_xy, signed=True)
    filled = rasterize_polygon(rec.exterior_xy, 30, 30)
    np.testing.assert_array_equal(filled & ~rasterize_polygon(hole, 30, 30), m)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.2, 0.7))
def test_exact_reconstruction_property(seed, density):
    # Random (smoothed) masks with several components, holes and islands in holes: without
    # simplification, exteriors minus holes reproduce the mask exactly.
    rng = np.random.default_rng(seed)
    m = ndi.uniform_filter(rng.random((24, 28)), 3) < density * 0.75 + 0.15
    recs = mask_to_polygon(m, tolerance_px=0, keep_holes=True)
    back = np.zeros_like(m)
    for rec in recs:
        region = rasterize_polygon(rec.exterior_xy, *m.shape)
        for hole in rec.holes_xy:
            region &= ~rasterize_polygon(hole, *m.shape)
        back |= region
    np.testing.assert_array_equal(back, m)


def test_real_oai_polygons_roundtrip_through_masks():
    folder = shared_data() / "oai-longleg-seg"
    if not folder.is_dir():
        pytest.skip("shared OAI data not available")
    ious = []
    for path in sorted(folder.glob("*.json"))[::2]:  # every other file keeps the test ~2 s
        doc = parse_document(path.read_bytes())
        labels = rasterize_bones(doc, doc.image_height, doc.image_width)
        for value in (FEMUR, TIBIA):
            bone = labels == value
            assert bone.sum() > 1000
            rings = mask_to_polygon(bone, tolerance_px=1.0)
            back = rasterize_polygon(rings[0], *bone.shape)
            ious.append(_iou(back, bone))
    assert len(ious) == 242
    assert min(ious) > 0.95 and float(np.mean(ious)) > 0.97


# ------------------------------------------------------------------------------------------
# Label images and shapes
# ------------------------------------------------------------------------------------------
def test_normalize_label_mask_both_encodings():
    labels = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    np.testing.assert_array_equal(normalize_label_mask(labels), labels)
    palette = np.array([[0, 38, 75], [75, 38, 0]], np.uint8)
    np.testing.assert_array_equal(normalize_label_mask(palette), labels)
    np.testing.assert_array_equal(normalize_label_mask(np.dstack([palette] * 3)), labels)
    with pytest.raises(ValueError, match="neither"):
        normalize_label_mask(np.array([[0, 1, 38]], np.uint8))
    with pytest.raises(ValueError, match="channels differ"):
        normalize_label_mask(np.dstack([palette, palette * 0, palette]))


def test_mask_to_shapes_roundtrip_through_rasterize_bones():
    labels = np.zeros((40, 20), np.uint8)
    labels[2:20, 5:15] = FEMUR
    labels[22:38, 6:14] = TIBIA
    labels[30:32, 0:2] = FEMUR  # a small second femur component
    shapes = mask_to_shapes(labels, tolerance_px=0, group_id=1)
    assert [s.label for s in shapes] == ["femur", "femur", "tibia"]
    assert all(s.group_id == 1 and s.shape_type == "polygon" for s in shapes)
    np.testing.assert_array_equal(rasterize_bones(shapes, 40, 20), labels)
    assert len(mask_to_shapes(labels, min_area_px=5)) == 2
