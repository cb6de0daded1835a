"""plausibility_flags_for_prediction: the flags the review queue adds to a prediction's priority."""

from __future__ import annotations

import copy

import pytest

from annotations.models import Image
from annotations.services import case_create, patient_create
from clinical.services import plausibility_flags_for_prediction
from tests.clinical.factories import phantom_image, predict, varus_phantom

pytestmark = pytest.mark.django_db


@pytest.fixture
def phantom_case():
    return case_create(patient=patient_create(code="P-PLAUS"))


def test_a_plausible_prediction_has_no_flags(phantom_case) -> None:
    image = phantom_image(phantom_case, varus_phantom(86.0))
    assert plausibility_flags_for_prediction(predict(image, varus_phantom(86.0).labelme)) == []


def test_an_implausible_prediction_gets_flag_texts(phantom_case) -> None:
    phantom = varus_phantom(86.0)
    image = phantom_image(phantom_case, phantom)
    document = copy.deepcopy(phantom.labelme)
    for shape in document["shapes"]:
        if shape["label"] == "hip":
            shape["points"][0][0] += 15  # off the femoral-head centre
    prediction = predict(image, document)
    Image.objects.filter(pk=image.pk).update(dicom_metadata={"image_laterality": "R"})
    prediction.image.refresh_from_db()
    flags = plausibility_flags_for_prediction(prediction)
    side = prediction.alignment["legs"][0]["image_side"]
    assert any(text.startswith(f"{side}: hip_off_head_centre: ") for text in flags)
    expected_mismatch = phantom.params.legs[0].anatomical_side != "right"
    assert any("laterality_mismatch" in text for text in flags) == expected_mismatch


def test_a_prediction_without_alignment_has_no_flags(phantom_case) -> None:
    prediction = predict(phantom_image(phantom_case, varus_phantom(86.0)), varus_phantom(86.0).labelme)
    prediction.alignment = None
    assert plausibility_flags_for_prediction(prediction) == []
