"""``manage.py sam_outline`` (architecture §6): list in, list out in the same order, image pixels, one
model load and one embedding per image, and clear errors before any model loads."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image as PILImage

from annotations.core.raster import rasterize_polygon
from inference.core.phantom import generate_phantom
from inference.sam import registry


def _write_png(path, pixels):
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())


def _box(polygon, margin=0.05):
    low, high = polygon.min(axis=0), polygon.max(axis=0)
    pad = margin * (high - low)
    return [float(v) for v in np.concatenate([low - pad, high + pad])]


def _iou(ring, truth):
    drawn = rasterize_polygon(np.asarray(ring, dtype=np.float64), *truth.shape)
    return np.count_nonzero(drawn & truth) / np.count_nonzero(drawn | truth)


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sam_outline")
    made = []
    for seed in (4, 5):
        phantom = generate_phantom(seed=seed, legs=1)
        _write_png(folder / f"p{seed}.png", phantom.image)
        made.append(phantom)
    return folder, made


@pytest.fixture
def counted(monkeypatch):
    """The real segmenter, with its loads and embeds counted."""
    counts = {"loads": 0, "embeds": 0}
    real_get = registry.get_segmenter

    def get_segmenter(name):
        counts["loads"] += 1
        segmenter = real_get(name)
        real_embed = segmenter.embed

        class Counting:
            def __getattr__(self, attribute):
                return getattr(segmenter, attribute)

            def embed(self, image):
                counts["embeds"] += 1
                return real_embed(image)

        return Counting()

    monkeypatch.setattr("inference.management.commands.sam_outline.get_segmenter", get_segmenter)
    return counts


@pytest.mark.django_db  # litemedsam_bone loads the active (promoted) bone weights, recorded in the database
@pytest.mark.parametrize("model", ["litemedsam", "litemedsam_bone"])
def test_outlines_in_order_in_image_pixels_embedding_each_image_once(phantoms, counted, tmp_path, model):
    if not registry.model_availability(model).available:
        pytest.skip(registry.model_availability(model).message)
    folder, (first, second) = phantoms
    tibia1, tibia2, femur1 = first.polygons_xy[0][1], second.polygons_xy[0][1], first.polygons_xy[0][0]
    prompts = [
        {"image": "p4.png", "box": _box(tibia1), "points": [], "labels": []},
        {"image": str(folder / "p5.png"), "box": _box(tibia2)},  # absolute path, no points
        {"image": "p4.png", "box": _box(femur1), "points": [femur1.mean(axis=0).tolist()], "labels": [1]},
    ]
    (folder / "prompts.json").write_text(json.dumps(prompts))
    out = tmp_path / "results" / "out.json"
    call_command("sam_outline", "--prompts", str(folder / "prompts.json"), "--out", str(out), "--model", model)

    results = json.loads(out.read_text())
    assert len(results) == 3
    assert all(set(r) == {"polygons", "score"} and isinstance(r["score"], float) for r in results)
    assert counted == {"loads": 1, "embeds": 2}  # one load, each image embedded once
    for result, truth_polygon, phantom in ((results[0], tibia1, first), (results[1], tibia2, second)):
        (ring,) = result["polygons"]
        ring = np.asarray(ring)
        height, width = phantom.image.shape
        assert ring[:, 0].min() >= 0 and ring[:, 0].max() <= width and ring[:, 1].max() <= height
        truth = rasterize_polygon(truth_polygon, height, width)
        assert _iou(ring, truth) > 0.7  # order kept: each result outlines its own image's tibia
    femur_truth = rasterize_polygon(femur1, *first.image.shape)
    assert _iou(results[2]["polygons"][0], femur_truth) > 0.3
    assert _iou(results[0]["polygons"][0], femur_truth) < 0.1


@pytest.mark.parametrize(("prompts", "message"), [
    ({"image": "p4.png"}, "must hold a JSON list"),
    ([{"image": "p4.png", "box": None, "points": []}], "item 0: give a box or at least one point"),
    ([{"image": "p4.png", "box": [1, 2, 3]}], "item 0: 'box' must be [x0, y0, x1, y1]"),
    ([{"image": "p4.png", "box": [0, 0, 10, 10]}, {"image": "p4.png", "points": [[1, 2]], "labels": [1, 0]}],
     "item 1: 2 labels for 1 points"),
    ([{"image": "p4.png", "points": [[10, 5000]], "labels": [1]}], "item 0 (" ),
    ([{"image": "missing.png", "box": [0, 0, 10, 10]}], "cannot read image"),
    ([{"image": "p4.png", "box": [0, 0, 10, 10], "colour": 1}], "unknown keys ['colour']"),
])
def test_bad_input_is_a_clear_error_before_the_model_loads(phantoms, counted, tmp_path, prompts, message):
    folder, _ = phantoms
    path = folder / "bad.json"
    path.write_text(json.dumps(prompts))
    with pytest.raises(CommandError) as raised:
        call_command("sam_outline", "--prompts", str(path), "--out", str(tmp_path / "out.json"),
                     "--model", "litemedsam")
    assert message in str(raised.value)
    assert counted["loads"] == 0
    assert not (tmp_path / "out.json").exists()


def test_unknown_model_and_unreadable_json(phantoms, tmp_path):
    folder, _ = phantoms
    (folder / "ok.json").write_text("[]")
    with pytest.raises(CommandError, match="Unknown SAM model 'nope'"):
        call_command("sam_outline", "--prompts", str(folder / "ok.json"), "--out", str(tmp_path / "o.json"),
                     "--model", "nope")
    (folder / "garbage.json").write_text("[{")
    with pytest.raises(CommandError, match="is not valid JSON"):
        call_command("sam_outline", "--prompts", str(folder / "garbage.json"), "--out", str(tmp_path / "o.json"),
                     "--model", "litemedsam")
