"""Landmark patches: exact point mapping both ways, and the patch shows what lies at the mapped points."""

from __future__ import annotations

import numpy as np
import pytest

from inference.core.landmark_patches import PATCH_FRACTION, PATCH_PIXELS, LandmarkPatch


def _blob(height: int, width: int, centre_xy: tuple[float, float], sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    blob = np.exp(-((xx - centre_xy[0]) ** 2 + (yy - centre_xy[1]) ** 2) / (2 * sigma**2))
    return np.round(250 * blob).astype(np.uint8)


def _centroid(patch: np.ndarray) -> np.ndarray:
    weights = patch.astype(np.float64)
    yy, xx = np.mgrid[0:patch.shape[0], 0:patch.shape[1]]
    return np.array([(weights * xx).sum(), (weights * yy).sum()]) / weights.sum()


@pytest.mark.parametrize("mirrored", [False, True])
def test_points_map_both_ways_exactly(mirrored: bool) -> None:
    patch = LandmarkPatch.around((123.4, 456.7), 800.0, mirrored=mirrored)
    points = np.array([[100.0, 400.0], [123.4, 456.7], [160.2, 490.9]])
    np.testing.assert_allclose(patch.to_original(patch.to_patch(points)), points, atol=1e-9)
    np.testing.assert_allclose(patch.to_patch(np.array([123.4, 456.7])), [[(PATCH_PIXELS - 1) / 2] * 2])
    assert patch.step == pytest.approx(PATCH_FRACTION * 800.0 / PATCH_PIXELS)


@pytest.mark.parametrize(("leg_length", "mirrored"), [(3000.0, False), (3000.0, True), (400.0, False), (400.0, True)])
def test_patch_shows_the_landmark_where_the_mapping_puts_it(leg_length: float, mirrored: bool) -> None:
    """A blob off the patch centre: its centroid in the patch maps back to the blob (shrunk and enlarged patches)."""
    blob_xy = (311.3, 502.6)
    step = PATCH_FRACTION * leg_length / PATCH_PIXELS
    image = _blob(900, 700, blob_xy, sigma=4.0 * step)
    patch = LandmarkPatch.around((300.0, 490.0), leg_length, mirrored=mirrored)
    cut = patch.cut(image)
    assert cut.shape == (PATCH_PIXELS, PATCH_PIXELS) and cut.dtype == np.uint8
    found = patch.to_original(_centroid(cut))[0]
    np.testing.assert_allclose(found, blob_xy, atol=0.05 * step + 0.05)
    on_patch = patch.to_patch(np.array(blob_xy))[0]
    assert (on_patch[0] > (PATCH_PIXELS - 1) / 2) != mirrored  # the blob lies to the right, unless mirrored


def test_patch_beyond_the_image_edge_is_black_there() -> None:
    image = np.full((200, 100), 180, dtype=np.uint8)
    patch = LandmarkPatch.around((2.0, 100.0), 640.0, mirrored=False)  # 64 original pixels wide, half outside
    cut = patch.cut(image)
    assert cut[:, :25].max() == 0
    assert cut[:, 40:].min() == 180


def test_rejects_a_degenerate_leg() -> None:
    with pytest.raises(ValueError, match="leg length"):
        LandmarkPatch.around((10.0, 10.0), 0.0, mirrored=False)
