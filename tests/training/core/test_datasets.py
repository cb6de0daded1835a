"""Tests of training.core.datasets: LabelMe folders -> TrainingSample, joints, resizing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.core.datasets import (
    TrainingSample,
    joints_from_points,
    load_labelme_folder,
    resize_sample,
    resize_to,
)
from annotations.core.labelme import parse_document

REPO = Path(__file__).resolve().parents[3]


def _shared_data() -> Path:
    return Path(os.environ.get("ENLLASD_SHARED_DATA", REPO.parent / "shared" / "data"))


def _rect(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def _shape(label: str, points: list[list[float]], *, shape_type: str = "polygon", group_id: int | None = None) -> dict:
    return {"label": label, "points": points, "group_id": group_id, "description": "",
            "shape_type": shape_type, "flags": {}}


def _write(folder: Path, stem: str, shapes: list[dict], *, height: int, width: int) -> None:
    rng = np.random.default_rng(len(stem))
    Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8)).save(folder / f"{stem}.png")
    doc = {"version": "5.2.1", "flags": {}, "shapes": shapes, "imagePath": f"{stem}.png",
           "imageData": None, "imageHeight": height, "imageWidth": width}
    (folder / f"{stem}.json").write_text(json.dumps(doc))


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    # Bilateral, legs given by group_id; the right leg is listed first and its tibial labels are
    # swapped (the "plafond" label on the knee), which must be resolved by height.
    _write(tmp_path, "P001_a", [
        _shape("femur", _rect(30, 2, 38, 20), group_id=1),
        _shape("tibia", _rect(30, 22, 38, 40), group_id=1),
        _shape("Femoral_head_center", [[34, 3]], shape_type="point", group_id=1),
        _shape("Tibial_plafond_center", [[34, 21]], shape_type="point", group_id=1),  # the knee
        _shape("Tibial_spine_center", [[34, 39]], shape_type="point", group_id=1),  # the ankle
        _shape("femur", _rect(10, 2, 20, 22), group_id=0),
        _shape("tibia", _rect(10, 24, 20, 40), group_id=0),
        _shape("hip", [[15, 3]], shape_type="point", group_id=0),
        _shape("knee", [[15, 23]], shape_type="point", group_id=0),
        _shape("ankle", [[15, 39]], shape_type="point", group_id=0),
    ], height=44, width=48)
    # Bilateral without group_id: grouped by x.
    _write(tmp_path, "P001_b", [
        _shape("femur", _rect(10, 2, 20, 22)),
        _shape("tibia", _rect(10, 24, 20, 40)),
        _shape("femur", _rect(30, 2, 38, 20)),
        _shape("tibia", _rect(30, 22, 38, 40)),
        _shape("ankle", [[34, 39]], shape_type="point"),
        _shape("hip", [[34, 3]], shape_type="point"),
        _shape("knee", [[15, 23]], shape_type="point"),
        _shape("hip", [[15, 3]], shape_type="point"),
        _shape("ankle", [[15, 39]], shape_type="point"),
        _shape("knee", [[34, 21]], shape_type="point"),
    ], height=44, width=48)
    # One leg, outlines only.
    _write(tmp_path, "P002_x", [
        _shape("Femur", _rect(4, 1, 12, 15)),
        _shape("Tibia", _rect(4, 16, 12, 30)),
    ], height=32, width=16)
    # An image without annotation and a JSON without image are skipped.
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "lonely.png")
    (tmp_path / "truth.json").write_text(json.dumps({"P001_a": {"legs": []}}))
    return tmp_path


EXPECTED_BILATERAL = np.array([
    [[15, 3], [15, 23], [15, 39]],
    [[34, 3], [34, 21], [34, 39]],
], dtype=np.float64)


def test_folder_samples_shapes_groups_and_labels(folder: Path) -> None:
    samples = load_labelme_folder(folder, joints_from="auto")
    assert [s.name for s in samples] == ["P001_a", "P001_b", "P002_x"]
    assert [s.group for s in samples] == ["P001", "P001", "P002"]
    a, b, x = samples
    assert a.image.shape == a.label_map.shape == (44, 48) and a.image.dtype == np.uint8
    assert np.array_equal(a.image, np.asarray(Image.open(folder / "P001_a.png")))
    # Rectangle x0..x1, y0..y1 holds the pixel centres c + 0.5 in (x0, x1): columns x0..x1-1.
    assert np.count_nonzero(a.label_map == 1) == 10 * 20 + 8 * 18
    assert np.count_nonzero(a.label_map == 2) == 10 * 16 + 8 * 18
    assert a.label_map[2, 10] == 1 and a.label_map[24, 10] == 2 and a.label_map[23, 10] == 0
    assert np.array_equal(a.label_map, b.label_map)
    np.testing.assert_array_equal(a.joints_xy, EXPECTED_BILATERAL)
    np.testing.assert_array_equal(b.joints_xy, EXPECTED_BILATERAL)
    assert x.label_map.shape == (32, 16)
    assert x.joints_xy.shape == (1, 3, 2)  # derived from masks (NaN if that module is absent)


def test_joints_from_points_modes(folder: Path) -> None:
    with pytest.raises(ValueError, match="no hip/knee/ankle points"):
        load_labelme_folder(folder, joints_from="points")
    samples = load_labelme_folder(folder, joints_from="none", n_legs=2)
    assert all(s.joints_xy.shape == (2, 3, 2) and np.isnan(s.joints_xy).all() for s in samples)
    with pytest.raises(ValueError, match="joints_from"):
        load_labelme_folder(folder, joints_from="bogus")  # type: ignore[arg-type]


def test_joints_from_points_incomplete_leg_raises() -> None:
    doc = parse_document({"version": "5.2.1", "shapes": [
        _shape("hip", [[1, 1]], shape_type="point"), _shape("knee", [[1, 5]], shape_type="point")],
        "imagePath": "x.png", "imageData": None, "imageHeight": 10, "imageWidth": 10})
    with pytest.raises(ValueError, match="cannot group"):
        joints_from_points(doc)
    empty = parse_document({"version": "5.2.1", "shapes": [], "imagePath": "x.png", "imageData": None,
                            "imageHeight": 10, "imageWidth": 10})
    assert joints_from_points(empty) is None


def test_group_pattern_and_size_mismatch(folder: Path) -> None:
    samples = load_labelme_folder(folder, group_pattern=r"^(.*)$", joints_from="none")
    assert [s.group for s in samples] == ["P001_a", "P001_b", "P002_x"]
    doc = json.loads((folder / "P002_x.json").read_text())
    doc["imageHeight"] = 33
    (folder / "P002_x.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="32x16 but the JSON says 33x16"):
        load_labelme_folder(folder, joints_from="none")


def test_resize_sample_scales_image_labels_and_joints() -> None:
    image = np.arange(40 * 20, dtype=np.uint8).reshape(40, 20)
    labels = np.zeros((40, 20), np.uint8)
    labels[4:20, 2:10] = 1
    labels[20:36, 2:10] = 2
    s = TrainingSample("s", image, labels, np.array([[[5.0, 4.0], [6.0, 20.0], [7.0, 36.0]]]), "g")
    half = resize_sample(s, 0.5)
    assert half.image.shape == half.label_map.shape == (20, 10)
    expected = np.zeros((20, 10), np.uint8)
    expected[2:10, 1:5] = 1
    expected[10:18, 1:5] = 2
    np.testing.assert_array_equal(half.label_map, expected)
    np.testing.assert_array_equal(half.joints_xy, [[[2.5, 2.0], [3.0, 10.0], [3.5, 18.0]]])
    odd = resize_to(s, 30, 15)  # per-axis scale 0.75, 0.75
    np.testing.assert_allclose(odd.joints_xy, s.joints_xy * 0.75)
    assert resize_sample(s, 1.0) is s
    with pytest.raises(ValueError):
        resize_sample(s, 0.0)


def test_training_sample_validates_shapes() -> None:
    with pytest.raises(ValueError, match="label_map"):
        TrainingSample("s", np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8), np.zeros((1, 3, 2)))
    with pytest.raises(ValueError, match="joints_xy"):
        TrainingSample("s", np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8), np.zeros((3, 2)))


def test_phantom_folder(tmp_path: Path) -> None:
    from inference.core.phantom import generate_phantom, write_phantom_set

    write_phantom_set(tmp_path, n=1, seed=5, legs=1)
    (sample,) = load_labelme_folder(tmp_path, group_pattern=r"^(.*)$")
    assert sample.image.shape == sample.label_map.shape == (1024, 512)
    assert sample.group == sample.name == "phantom_s5_1leg_0000"
    truth = json.loads((tmp_path / "truth.json").read_text())[sample.name]
    (leg,) = truth["legs"]
    np.testing.assert_allclose(sample.joints_xy[0], [leg["joints"][j] for j in ("hip", "knee", "ankle")])
    sub_seed = int(np.random.SeedSequence([5, 1, 0, 0]).generate_state(1)[0])
    ph = generate_phantom(seed=sub_seed, legs=1, stem=sample.name)
    np.testing.assert_array_equal(sample.label_map, ph.label_map)
    np.testing.assert_array_equal(sample.image, ph.image)


def test_oai_folder_when_present() -> None:
    folder = _shared_data() / "oai-longleg-seg"
    if not folder.is_dir():
        pytest.skip("shared OAI data not present")
    samples = load_labelme_folder(folder, joints_from="none")
    assert len(samples) == 242
    assert all(s.image.shape == (1024, 128) and s.label_map.shape == (1024, 128) for s in samples)
    assert all(s.group == s.name.split("_")[0] for s in samples)
    counts = np.array([np.bincount(s.label_map.ravel(), minlength=3) for s in samples])
    assert counts.shape == (242, 3) and (counts[:, 1] > 0).all() and (counts[:, 2] > 0).all()
    assert samples[0].name == "01064104_1x1" and samples[0].group == "01064104"
