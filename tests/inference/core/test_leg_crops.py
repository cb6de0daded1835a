"""Per-leg normalised crops: exact point mapping both ways, crops of transformed images, label round trips."""

from __future__ import annotations

import numpy as np
import pytest

from inference.core.leg_crops import (
    CANONICAL_ANKLE_Y,
    CANONICAL_APEX_Y,
    CANONICAL_HEIGHT,
    CANONICAL_WIDTH,
    LegCrop,
    leg_crop_from_landmarks,
)


def _leg_image(height: int = 900, width: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A bright tilted 'bone' band on a dark image, with its apex and ankle."""
    image = np.zeros((height, width), dtype=np.uint8)
    apex, ankle = np.array([150.0, 100.0]), np.array([230.0, 820.0])
    rows = np.arange(height)
    for r in range(int(apex[1]), int(ankle[1])):
        x = apex[0] + (ankle[0] - apex[0]) * (r - apex[1]) / (ankle[1] - apex[1])
        image[r, int(x) - 12:int(x) + 12] = 200
    image[rows % 97 == 0, :] = 40  # texture so that misplacement shows
    return image, apex, ankle


@pytest.mark.parametrize("mirrored", [False, True])
def test_points_round_trip_exactly(mirrored: bool) -> None:
    crop = LegCrop(reference_xy=(123.4, 567.8), scale=0.37, mirrored=mirrored)
    points = np.random.default_rng(0).uniform(0, 2000, (50, 2))
    np.testing.assert_allclose(crop.to_original(crop.to_crop(points)), points, atol=1e-9)


def test_landmarks_land_on_their_canonical_rows() -> None:
    crop = leg_crop_from_landmarks(np.array([300.0, 200.0]), np.array([340.0, 3200.0]), mirrored=False)
    mapped = crop.to_crop(np.array([[300.0, 200.0], [340.0, 3200.0]]))
    np.testing.assert_allclose(mapped[:, 1], [CANONICAL_APEX_Y, CANONICAL_ANKLE_Y])
    with pytest.raises(ValueError, match="below"):
        leg_crop_from_landmarks(np.array([0.0, 500.0]), np.array([0.0, 400.0]), mirrored=False)


def test_crop_of_padded_scaled_and_mirrored_image_is_the_same_crop() -> None:
    image, apex, ankle = _leg_image()
    reference = leg_crop_from_landmarks(apex, ankle, mirrored=False).cut(image)
    assert reference.shape == (CANONICAL_HEIGHT, CANONICAL_WIDTH)

    padded = np.zeros((image.shape[0] + 300, image.shape[1] + 500), dtype=np.uint8)
    padded[200:200 + image.shape[0], 350:350 + image.shape[1]] = image
    shift = np.array([350.0, 200.0])
    same = leg_crop_from_landmarks(apex + shift, ankle + shift, mirrored=False).cut(padded)
    assert np.abs(same.astype(int) - reference).mean() < 0.5

    doubled = np.kron(image, np.ones((2, 2), dtype=np.uint8))
    scaled = leg_crop_from_landmarks(apex * 2, ankle * 2, mirrored=False).cut(doubled)
    assert np.abs(scaled.astype(int) - reference).mean() < 2.0

    mirror = image[:, ::-1]
    width = image.shape[1]
    flip = lambda p: np.array([width - p[0], p[1]])  # noqa: E731
    unmirrored = leg_crop_from_landmarks(flip(apex), flip(ankle), mirrored=True).cut(mirror)
    assert np.abs(unmirrored.astype(int) - reference).mean() < 0.5


@pytest.mark.parametrize("mirrored", [False, True])
def test_labels_cut_and_pasted_back_at_scale_one_are_identical(mirrored: bool) -> None:
    labels = np.zeros((1400, 500), dtype=np.uint8)
    labels[300:800, 200:240] = 1
    labels[820:1200, 210:250] = 2
    crop = LegCrop(reference_xy=(223.0, 752.5), scale=1.0, mirrored=mirrored)  # pixel grids aligned
    back = np.zeros_like(labels)
    crop.paste_labels(crop.cut_labels(labels), back)
    np.testing.assert_array_equal(back, labels)


def test_paste_respects_the_column_range() -> None:
    crop = LegCrop(reference_xy=(100.0, 500.0), scale=1.0, mirrored=False)
    out = np.zeros((1000, 300), dtype=np.uint8)
    crop.paste_labels(np.ones((CANONICAL_HEIGHT, CANONICAL_WIDTH), dtype=np.uint8), out, column_range=(0, 90))
    assert out[:, 90:].sum() == 0 and out[:, :90].any()
