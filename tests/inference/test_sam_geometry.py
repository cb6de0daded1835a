"""SAM geometry without a model: windows, prompt mapping, prompt checks, pre-labelling prompt rules."""

from __future__ import annotations

import numpy as np
import pytest

from annotations.core.raster import rasterize_polygon
from inference.core.phantom import generate_phantom
from inference.sam.prelabel_prompts import prompts_from_leg_boxes, prompts_from_prediction
from inference.sam.promptable import check_prompts, to_uint8
from inference.sam.windows import (
    choose_window,
    embedding_windows,
    prompt_extent_xyxy,
    resized_size_hw,
    to_model_coords,
)


def test_whole_image_only_without_tiles():
    assert embedding_windows(100, 60, tile_fraction=None).tolist() == [[0, 0, 60, 100]]


def test_tiles_of_a_long_leg_image_step_by_half_a_tile_and_touch_both_ends():
    windows = embedding_windows(1024, 512, tile_fraction=0.55)
    assert windows.tolist() == [[0, 0, 512, 1024], [0, 0, 512, 564], [0, 230, 512, 794], [0, 460, 512, 1024]]
    wide = embedding_windows(300, 1000, tile_fraction=0.55)
    assert wide.tolist() == [[0, 0, 1000, 300], [0, 0, 550, 300], [225, 0, 775, 300], [450, 0, 1000, 300]]
    assert len(embedding_windows(1000, 800, tile_fraction=0.55)) == 1  # a tile would be as long as the image


def test_resized_size_rounds_half_up_like_segment_anything():
    assert resized_size_hw(1024, 512, 256) == (256, 128)
    assert resized_size_hw(100, 60, 128) == (128, 77)  # 76.8 -> 77
    assert resized_size_hw(3, 1, 256) == (256, 85)  # 85.33 -> 85


def test_prompt_goes_to_the_smallest_window_holding_it():
    windows = embedding_windows(1024, 512, tile_fraction=0.55)
    femur_box = np.array([150.0, 60.0, 330.0, 500.0])
    assert choose_window(windows, prompt_extent_xyxy(None, femur_box)) == 1
    tibia_box = np.array([200.0, 540.0, 330.0, 990.0])
    assert choose_window(windows, prompt_extent_xyxy(None, tibia_box)) == 3
    knee_click = np.array([[256.0, 512.0]])
    assert choose_window(windows, prompt_extent_xyxy(knee_click, None)) == 2  # the tile centred on it
    whole_leg = np.array([100.0, 50.0, 400.0, 1000.0])
    assert choose_window(windows, prompt_extent_xyxy(None, whole_leg)) == 0


def test_model_coordinates_scale_into_the_window_and_remove_the_half_pixel():
    window = np.array([0, 230, 512, 794])
    size = resized_size_hw(564, 512, 256)  # (256, 232)
    corner = to_model_coords(np.array([[0.0, 230.0], [512.0, 794.0]]), window, size)
    np.testing.assert_allclose(corner, [[-0.5, -0.5], [232 - 0.5, 256 - 0.5]])
    centre_of_first_pixel = to_model_coords(np.array([[0.5, 0.5]]), np.array([0, 0, 10, 10]), (10, 10))
    np.testing.assert_allclose(centre_of_first_pixel, [[0.0, 0.0]])  # SAM's pixel 0 is centred at 0


def test_check_prompts_accepts_points_and_clips_boxes():
    points, labels, box = check_prompts(np.array([[1.0, 2.0]]), np.array([1]), np.array([-5.0, 3.0, 70.0, 90.0]),
                                        size_hw=(100, 60))
    assert points.tolist() == [[1.0, 2.0]] and labels.tolist() == [1]
    assert box.tolist() == [0.0, 3.0, 60.0, 90.0]


@pytest.mark.parametrize(("points", "labels", "box", "message"), [
    (None, None, None, "at least one prompt"),
    (np.array([[61.0, 5.0]]), np.array([1]), None, "outside"),
    (np.array([[1.0, 2.0, 3.0]]), np.array([1]), None, "(N, 2)"),
    (np.array([[1.0, 2.0]]), np.array([2]), None, "1 (inside) or 0"),
    (np.array([[1.0, 2.0]]), None, None, "labels are required"),
    (None, None, np.array([10.0, 10.0, 5.0, 20.0]), "x0 < x1"),
    (None, None, np.array([70.0, 10.0, 80.0, 20.0]), "outside"),
    (None, None, np.array([1.0, np.nan, 5.0, 20.0]), "finite"),
])
def test_check_prompts_rejects_bad_prompts(points, labels, box, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_prompts(points, labels, box, size_hw=(100, 60))


def test_float_images_are_min_max_scaled_to_uint8():
    image = np.array([[0.5, 1.0], [1.5, 2.5]])
    assert to_uint8(image).tolist() == [[0, 64], [128, 255]]
    with pytest.raises(ValueError, match="non-finite"):
        to_uint8(np.array([[np.inf, 1.0]]))


def test_leg_boxes_split_into_femur_and_tibia_image_left_leg_first():
    prompts = prompts_from_leg_boxes([[600, 100, 900, 1900], [100, 120, 400, 1950]])
    assert [(p.bone, p.leg) for p in prompts] == [("femur", 0), ("tibia", 0), ("femur", 1), ("tibia", 1)]
    femur, tibia = prompts[0], prompts[1]
    assert femur.box_xyxy.tolist() == [100, 120, 400, 120 + 0.55 * 1830]
    assert tibia.box_xyxy.tolist() == [100, 1950 - 0.55 * 1830, 400, 1950]
    np.testing.assert_allclose(femur.points_xy, [[250, 120 + 0.275 * 1830]])
    assert femur.point_labels.tolist() == [1]
    with pytest.raises(ValueError, match="one box per leg"):
        prompts_from_leg_boxes([[0, 0, 1, 1]] * 3)
    with pytest.raises(ValueError, match="x0 < x1"):
        prompts_from_leg_boxes([[5, 0, 1, 10]])


def test_prediction_polygons_give_tight_boxes_and_a_click_inside_the_bone():
    phantom = generate_phantom(seed=7, legs=2)
    prompts = prompts_from_prediction(phantom.labelme)
    assert [(p.bone, p.leg) for p in prompts] == [("femur", 0), ("tibia", 0), ("femur", 1), ("tibia", 1)]
    height, width = phantom.image.shape
    for prompt in prompts:
        polygon = phantom.polygons_xy[prompt.leg][0 if prompt.bone == "femur" else 1]
        low, high = polygon.min(axis=0), polygon.max(axis=0)
        assert np.all(prompt.box_xyxy[:2] <= low) and np.all(prompt.box_xyxy[2:] >= high)
        assert np.all(prompt.box_xyxy[2:] - prompt.box_xyxy[:2] <= 1.1 * (high - low) + 1e-9)
        inside = rasterize_polygon(polygon, height, width)
        column, row = np.floor(prompt.points_xy[0]).astype(int)
        assert inside[row, column]


def test_prediction_without_polygons_uses_the_joints():
    document = {"imageHeight": 1000, "imageWidth": 400, "shapes": [
        {"label": "hip", "points": [[200, 100]], "shape_type": "point", "group_id": 0},
        {"label": "knee", "points": [[220, 500]], "shape_type": "point", "group_id": 0},
        {"label": "ankle", "points": [[210, 900]], "shape_type": "point", "group_id": 0},
    ]}
    femur, tibia = prompts_from_prediction(document)
    femur_length = np.hypot(20, 400)
    np.testing.assert_allclose(femur.box_xyxy, [200 - 0.15 * femur_length, 100 - 0.08 * femur_length,
                                                220 + 0.15 * femur_length, 500 + 0.08 * femur_length])
    assert femur.points_xy is None and tibia.bone == "tibia"
    assert prompts_from_prediction({"imageHeight": 10, "imageWidth": 10, "shapes": []}) == []
