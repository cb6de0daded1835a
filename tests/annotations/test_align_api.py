"""POST /api/align/: the alignment contract from a LabelMe document, validated, for the live editor."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from inference.core.alignment import METRIC_NAMES
from inference.core.phantom import write_phantom_set

pytestmark = pytest.mark.django_db

TOP_KEYS = ["image", "width", "height", "pixel_spacing_mm", "legs", "lld"]
LEG_KEYS = ["image_side", "anatomical_side", "joints", "metrics", "landmarks", "flags"]


@lru_cache(maxsize=None)
def _phantom_files(folder: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A two-leg phantom's LabelMe document and its entry of truth.json, as the phantom command writes them."""
    (json_path,) = write_phantom_set(folder, n=1, seed=3, legs=2)
    truth = json.loads((Path(folder) / "truth.json").read_text())
    return json.loads(json_path.read_text()), truth[json_path.stem]


@pytest.fixture(scope="module")
def phantom_files(tmp_path_factory) -> tuple[dict[str, Any], dict[str, Any]]:
    return _phantom_files(str(tmp_path_factory.mktemp("phantom")))


def _align(client, body: Any):
    return client.post("/api/align/", body, format="json")


def test_align_returns_the_contract_and_the_phantom_angles(annotator_client, phantom_files) -> None:
    document, truth = phantom_files
    response = _align(annotator_client, {"document": document})
    assert response.status_code == 200, response.content
    result = response.json()
    assert list(result) == TOP_KEYS
    assert (result["width"], result["height"]) == (document["imageWidth"], document["imageHeight"])
    assert [leg["image_side"] for leg in result["legs"]] == ["left", "right"]
    for leg, true_leg in zip(result["legs"], truth["legs"], strict=True):
        assert list(leg) == LEG_KEYS and list(leg["metrics"]) == list(METRIC_NAMES)
        assert set(leg["metrics"]["mLDFA"]) >= {"value", "sd", "p2_5", "p97_5"}
        for name in ("hka_deviation_deg", "HKA"):
            assert leg["metrics"][name]["value"] == pytest.approx(true_leg["metrics"][name]["value"], abs=0.5), name


def test_explicit_size_wins_and_a_size_is_needed(annotator_client, phantom_files) -> None:
    document, _ = phantom_files
    sizeless = {key: value for key, value in document.items() if key not in ("imageWidth", "imageHeight")}
    missing = _align(annotator_client, {"document": sizeless})
    assert missing.status_code == 400 and missing.json()["extra"]["code"] == "size_unknown"
    given = _align(annotator_client, {"document": sizeless, "width": 1024, "height": 2048, "mc_samples": 50})
    assert given.status_code == 200 and (given.json()["width"], given.json()["height"]) == (1024, 2048)


def _without_ankles(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "shapes": [s for s in document["shapes"] if s["label"] != "ankle"]}


def _with_text_point(document: dict[str, Any]) -> dict[str, Any]:
    broken = copy.deepcopy(document)
    broken["shapes"][2]["points"] = [["12", None]]
    return broken


@pytest.mark.parametrize(
    ("make_body", "code"),
    [
        (lambda doc: {"document": [1, 2]}, "invalid_labelme"),
        (lambda doc: {"document": "{not json"}, "invalid_labelme"),
        (lambda doc: {"document": {**doc, "shapes": {"label": "femur"}}}, "invalid_labelme"),
        (lambda doc: {"document": _with_text_point(doc)}, "invalid_labelme"),
        (lambda doc: {"document": {**doc, "imageWidth": -4}}, "invalid_labelme"),
        (lambda doc: {"document": _without_ankles(doc)}, "alignment_failed"),
        (lambda doc: {"document": doc, "width": 100_000, "height": 100_000}, "too_many_pixels"),
    ],
)
def test_malformed_documents_are_400_with_a_message(annotator_client, phantom_files, make_body, code) -> None:
    response = _align(annotator_client, make_body(phantom_files[0]))
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"message", "extra"} and body["extra"]["code"] == code and body["message"]


@pytest.mark.parametrize("body", [{}, {"document": {}, "mc_samples": 20001}, {"document": {}, "width": 0}])
def test_invalid_parameters_are_400(annotator_client, body) -> None:
    response = _align(annotator_client, body)
    assert response.status_code == 400 and "fields" in response.json()["extra"]


def test_align_needs_a_login(phantom_files) -> None:
    from tests.conftest import api_client_for

    assert _align(api_client_for(None), {"document": phantom_files[0]}).status_code == 401


def test_the_image_scale_gives_lengths_in_mm(annotator_client, phantom_files, image) -> None:
    from annotations.models import Image, SpacingSource

    document, _ = phantom_files
    unscaled = _align(annotator_client, {"document": document, "image": image.pk, "mc_samples": 50}).json()
    assert unscaled["pixel_spacing_mm"] is None and unscaled["legs"][0]["metrics"]["MAD"]["unit"] == "px"
    Image.objects.filter(pk=image.pk).update(pixel_spacing_mm=0.25, spacing_source=SpacingSource.USER)
    scaled = _align(annotator_client, {"document": document, "image": image.pk, "mc_samples": 50}).json()
    assert scaled["pixel_spacing_mm"] == 0.25 and scaled["legs"][0]["metrics"]["MAD"]["unit"] == "mm"
    assert scaled["legs"][0]["metrics"]["MAD"]["value"] == pytest.approx(
        0.25 * unscaled["legs"][0]["metrics"]["MAD"]["value"], rel=1e-6)
    assert scaled["legs"][0]["metrics"]["mLDFA"]["value"] == unscaled["legs"][0]["metrics"]["mLDFA"]["value"]
    assert _align(annotator_client, {"document": document, "image": 999999}).status_code == 404
