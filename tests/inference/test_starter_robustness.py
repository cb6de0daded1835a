"""The shipped starter reads what hospitals' long-leg images carry: a ruler, lead side markers, a gonadal
shield, a femoral plate, black borders, a 16-bit MONOCHROME1 DICOM, and heights from 256 to 12 000 px.

Each case goes through ``predict`` (the command-line contract) and must give both legs with their
patient sides and an HKA deviation within 1.5 degrees of the phantom's construction truth.
``benchmarks/robustness.py`` prints the same cases with timings and memory.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from inference.core.phantom import generate_phantom
from inference.core.radiograph_artifacts import resized_to_height, with_black_border, with_hospital_artifacts
from tests.dicom import build_dicom

pytestmark = pytest.mark.django_db

SEED = 2029  # a bilateral phantom outside the starter's training seeds (5000-6011)
HKA_TOLERANCE_DEG = 1.5


@pytest.fixture(scope="module")
def phantom():  # noqa: ANN201
    return generate_phantom(seed=SEED, legs=2)


@pytest.fixture(scope="module")
def with_artifacts(phantom):  # noqa: ANN001, ANN201
    return with_hospital_artifacts(phantom.image, phantom.truth["legs"])


def _predict(tmp_path, name: str, data: bytes, *extra: str) -> dict:  # noqa: ANN001
    path = tmp_path / name
    path.write_bytes(data)
    call_command("predict", str(path), "--out", str(tmp_path / "out"), *extra)
    return json.loads((tmp_path / "out" / f"{path.stem}.alignment.json").read_text())


def _png(image: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def _assert_both_legs_right(result: dict, phantom) -> None:  # noqa: ANN001
    truth = {leg["anatomical_side"]: leg["metrics"]["hka_deviation_deg"]["value"] for leg in phantom.truth["legs"]}
    assert [(leg["image_side"], leg["anatomical_side"]) for leg in result["legs"]] == [("left", "right"),
                                                                                       ("right", "left")]
    for leg in result["legs"]:
        hka = leg["metrics"]["hka_deviation_deg"]["value"]
        assert hka == pytest.approx(truth[leg["anatomical_side"]], abs=HKA_TOLERANCE_DEG), leg["anatomical_side"]


@pytest.fixture(autouse=True)
def _model_store(settings, tmp_path_factory) -> None:  # noqa: ANN001
    settings.MODEL_STORE = str(tmp_path_factory.getbasetemp() / "robustness-store")


def test_ruler_markers_shield_plate_and_black_borders(tmp_path, phantom, with_artifacts) -> None:  # noqa: ANN001
    image = with_black_border(with_artifacts, left=300, top=200, right=100, bottom=400)
    _assert_both_legs_right(_predict(tmp_path, "artifacts.png", _png(image)), phantom)


def test_sixteen_bit_monochrome1_dicom(tmp_path, phantom, with_artifacts) -> None:  # noqa: ANN001
    inverted = (4095 - with_artifacts.astype(np.uint16) * 16).astype(np.uint16)  # MONOCHROME1: bone dark
    data = build_dicom(inverted, identifiers={"PatientID": "PHANTOM"}, photometric="MONOCHROME1", bits_stored=12,
                       pixel_spacing=[0.4, 0.4])
    result = _predict(tmp_path, "mono1.dcm", data)
    _assert_both_legs_right(result, phantom)
    assert result["legs"][0]["metrics"]["leg_length"]["unit"] == "mm"


@pytest.mark.parametrize("height", [256, 12_000])
def test_smallest_and_largest_heights(tmp_path, phantom, with_artifacts, height: int) -> None:  # noqa: ANN001
    image, scale = resized_to_height(with_artifacts, height)
    result = _predict(tmp_path, f"h{height}.png", _png(image))
    _assert_both_legs_right(result, phantom)
    truth_ankle = np.array(phantom.truth["legs"][0]["joints"]["ankle"]) * scale
    assert np.hypot(*(np.array(result["legs"][0]["joints"]["ankle"]) - truth_ankle)) < 0.02 * height
