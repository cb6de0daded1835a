"""Calibration provenance: DICOM sources, user rulers and calibration objects, append-only history."""

from __future__ import annotations

import pytest

from annotations.models import Image, SpacingSource
from clinical.models import ImageCalibration

pytestmark = pytest.mark.django_db


def _url(image: Image) -> str:
    return f"/api/images/{image.pk}/calibration/"


def test_uncalibrated_image_provenance(annotator_client, image) -> None:
    body = annotator_client.get(_url(image)).json()
    assert (body["status"], body["method"], body["length_unit"], body["pixel_spacing_mm"]) == (
        "uncalibrated", "none", "px", None)
    assert "not calibrated" in body["notice"] and body["history"] == [] and body["current"] is None


@pytest.mark.parametrize(("source", "status", "method", "note"), [
    (SpacingSource.DICOM, "calibrated", "dicom_pixel_spacing", "patient plane"),
    (SpacingSource.DICOM_IMAGER, "detector_plane", "dicom_imager_pixel_spacing", "magnification unknown"),
])
def test_dicom_provenance(annotator_client, image, source, status, method, note) -> None:
    key = "pixel_spacing" if source == SpacingSource.DICOM else "imager_pixel_spacing"
    Image.objects.filter(pk=image.pk).update(pixel_spacing_mm=0.15, spacing_source=source,
                                             dicom_metadata={key: [0.15, 0.15]})
    body = annotator_client.get(_url(image)).json()
    assert (body["status"], body["method"], body["length_unit"], body["pixel_spacing_mm"]) == (
        status, method, "mm", 0.15)
    assert body["dicom"][key] == [0.15, 0.15]
    assert any(note in text for text in body["dicom"]["notes"])
    if source == SpacingSource.DICOM_IMAGER:
        assert "magnification unknown" in body["notice"]
    else:
        assert body["notice"] is None


def test_ruler_then_calibration_object_keeps_the_history(annotator_client, image, annotator) -> None:
    Image.objects.filter(pk=image.pk).update(pixel_spacing_mm=0.2, spacing_source=SpacingSource.DICOM_IMAGER)
    response = annotator_client.post(_url(image), {"method": "ruler", "points": [[10, 20], [10, 120]],
                                                   "length_mm": 25.0}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["method"], body["pixel_spacing_mm"]) == ("calibrated", "ruler", 0.25)
    assert body["current"]["previous_spacing_source"] == "dicom_imager"
    assert body["current"]["previous_pixel_spacing_mm"] == 0.2
    image.refresh_from_db()
    assert (image.pixel_spacing_mm, image.spacing_source) == (0.25, SpacingSource.USER)

    second = annotator_client.post(_url(image), {"method": "calibration_object", "points": [[0, 0], [30, 40]],
                                                 "length_mm": 25.0}, format="json").json()
    assert (second["method"], second["pixel_spacing_mm"]) == ("calibration_object", 0.5)
    assert [row["method"] for row in second["history"]] == ["calibration_object", "ruler"]
    assert second["history"][0]["user"] == annotator.username
    with pytest.raises(RuntimeError):
        ImageCalibration.objects.first().save()  # append-only


@pytest.mark.parametrize(("payload", "code"), [
    ({"method": "ruler", "points": [[10, 20], [12, 21]], "length_mm": 25.0}, "invalid_calibration"),
    ({"method": "ruler", "points": [[10, 20], [10, 500]], "length_mm": 25.0}, "point_outside_image"),
    ({"method": "ruler", "points": [[0, 0], [0, 100]], "length_mm": 10000.0}, "implausible_spacing"),
])
def test_invalid_calibrations_are_refused(annotator_client, image, payload, code) -> None:
    response = annotator_client.post(_url(image), payload, format="json")
    assert response.status_code == 400 and response.json()["extra"]["code"] == code
    bad_method = annotator_client.post(_url(image), {**payload, "method": "dicom_pixel_spacing"}, format="json")
    assert bad_method.status_code == 400 and "method" in bad_method.json()["extra"]["fields"]
    assert not ImageCalibration.objects.exists()
