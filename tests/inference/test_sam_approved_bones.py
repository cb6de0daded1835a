"""SAM tuning samples from approved LabelMe outlines (inference/sam/approved_bones.py): legs, masks, errors.
Pure numpy: no database, no torch."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest

from annotations.core.raster import rasterize_polygon
from inference.core.phantom import generate_phantom
from inference.sam.approved_bones import bone_legs, bone_sample
from tests.conftest import REPO_ROOT


def _outline(label: str, x0: float, y0: float, x1: float, y1: float, group_id: int | None = None) -> dict:
    return {"label": label, "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], "group_id": group_id,
            "description": "", "shape_type": "polygon", "flags": {}}


def _document(*shapes: dict, width: int = 100, height: int = 200) -> dict:
    return {"version": "5.2.1", "flags": {}, "shapes": list(shapes), "imagePath": "x.png", "imageData": None,
            "imageHeight": height, "imageWidth": width}


def test_a_bilateral_phantom_gives_two_legs_image_left_first_with_exact_masks():
    phantom = generate_phantom(seed=3, legs=2)
    sample = bone_sample(phantom.labelme, phantom.image, sha256="ab" * 32, key="7-phantom", group="P7")
    assert (sample.key, sample.group, sample.sha256) == ("7-phantom", "P7", "ab" * 32)
    assert sample.image is phantom.image and len(sample.masks) == 2
    height, width = phantom.image.shape
    for leg, (femur_xy, tibia_xy) in zip(sample.masks, phantom.polygons_xy, strict=True):
        assert np.array_equal(leg["femur"], rasterize_polygon(femur_xy, height, width))
        assert np.array_equal(leg["tibia"], rasterize_polygon(tibia_xy, height, width))
    centres = [np.nonzero(leg["femur"])[1].mean() for leg in sample.masks]
    assert centres[0] < width / 2 < centres[1]
    # The same legs when the document lists the right leg first.
    reordered = copy.deepcopy(phantom.labelme)
    reordered["shapes"].sort(key=lambda shape: -shape["group_id"])
    assert [leg.group_id for leg in bone_legs(reordered)] == [0, 1]


def test_legs_without_group_id_are_paired_by_image_side_and_bones_may_be_drawn_in_pieces():
    doc = _document(_outline("Femur", 60, 10, 80, 90), _outline("tibia", 12, 110, 28, 190),
                    _outline("femur", 10, 10, 30, 90), _outline("TIBIA", 62, 110, 78, 190))
    legs = bone_legs(doc)
    assert [leg.femur[0].points[0, 0] for leg in legs] == [10, 60]
    assert [leg.tibia[0].points[0, 0] for leg in legs] == [12, 62]
    pieces = _document(_outline("femur", 10, 10, 30, 50, 0), _outline("femur", 10, 50, 30, 90, 0),
                       _outline("tibia", 12, 110, 28, 190, 0))
    sample = bone_sample(pieces, np.zeros((200, 100), np.uint8), sha256="0" * 64, key="k", group="g")
    assert sample.masks[0]["femur"].sum() == 20 * 80 and sample.masks[0]["tibia"].sum() == 16 * 80


@pytest.mark.parametrize(("shapes", "message"), [
    ([_outline("femur", 10, 10, 30, 90)], "no tibia outline"),
    ([_outline("knee", 10, 10, 30, 90)], "no femur and no tibia outline"),
    ([_outline("femur", 10, 10, 30, 90, 0), _outline("tibia", 12, 110, 28, 190, 0),
      _outline("femur", 60, 10, 80, 90, 1)], "leg group_id 1 has no tibia outline"),
    ([_outline("femur", 10, 10, 30, 90, 0), _outline("tibia", 12, 110, 28, 190)], "some femur/tibia outlines"),
    ([_outline("femur", 10, 10, 30, 90), _outline("femur", 60, 10, 80, 90), _outline("tibia", 12, 110, 28, 190)],
     "2 femur and 1 tibia outlines without group_id"),
])
def test_outlines_that_do_not_make_legs_are_refused(shapes, message):
    with pytest.raises(ValueError, match=message):
        bone_legs(_document(*shapes))


def test_pixels_must_match_the_document_and_cover_the_bones():
    doc = _document(_outline("femur", 10, 10, 30, 90), _outline("tibia", 12, 110, 28, 190))
    with pytest.raises(ValueError, match="100x200 image, the image is 50x200"):
        bone_sample(doc, np.zeros((200, 50), np.uint8), sha256="0" * 64, key="k", group="g")
    with pytest.raises(ValueError, match=r"pixels must be \(H, W\) uint8"):
        bone_sample(doc, np.zeros((200, 100), np.float32), sha256="0" * 64, key="k", group="g")
    outside = _document(_outline("femur", 10, 10, 30, 90), _outline("tibia", 300, 110, 320, 190))
    with pytest.raises(ValueError, match="leg 0: the tibia outline covers no pixel"):
        bone_sample(outside, np.zeros((200, 100), np.uint8), sha256="0" * 64, key="k", group="g")


def test_the_module_imports_neither_django_nor_torch():
    code = ("import sys; import inference.sam.approved_bones; "
            "print(sorted(m for m in ('django', 'rest_framework', 'celery', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]", out.stderr
