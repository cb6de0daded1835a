"""Upload and read radiographs through the API: formats, DICOM handling, and clear errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from annotations.models import Image
from tests.conftest import png_bytes, require_shared

pytestmark = pytest.mark.django_db


def _upload(client, case, data: bytes, name: str):
    return client.post("/api/images/upload/", {"case": case.pk, "file": _named(data, name)}, format="multipart")


def _named(data: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)


def _display(client, image_id: int) -> np.ndarray:
    response = client.get(f"/api/images/{image_id}/display/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    return np.asarray(PILImage.open(io.BytesIO(b"".join(response.streaming_content))))


def test_png_upload_returns_metadata_and_display(annotator_client, case):
    response = _upload(annotator_client, case, png_bytes(64, 128), "leg.png")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["width"], body["height"], body["format"], body["bit_depth"]) == (64, 128, "png", 8)
    assert body["pixel_spacing_mm"] is None and body["spacing_source"] == "none"
    assert body["head_revision"] is None
    image = Image.objects.get(pk=body["id"])
    with image.original.open("rb") as handle:
        assert handle.read() == png_bytes(64, 128)  # the original is kept byte for byte
    assert _display(annotator_client, body["id"]).shape == (128, 64)
    assert annotator_client.get(f"/api/images/{body['id']}/thumbnail/").status_code == 200


def test_sixteen_bit_tiff_upload(annotator_client, case):
    array = (np.arange(32 * 48, dtype=np.uint16).reshape(48, 32) * 37) % 4096
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="TIFF")
    response = _upload(annotator_client, case, buffer.getvalue(), "leg.tif")
    assert response.status_code == 201, response.content
    assert response.json()["bit_depth"] == 16
    assert _display(annotator_client, response.json()["id"]).dtype == np.uint8


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"this is not an image at all", "not_an_image"),
        (png_bytes(64, 128)[:200], "truncated"),
        (b"", "empty"),
    ],
)
def test_bad_files_get_a_clear_400_and_store_nothing(annotator_client, case, data, code):
    response = _upload(annotator_client, case, data, "bad.png")
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"message", "extra"} and body["extra"]["code"] == code
    assert Image.objects.count() == 0


def test_image_over_pixel_limit_is_refused(annotator_client, case, settings):
    settings.ENLLASD_MAX_IMAGE_PIXELS = 1000
    response = _upload(annotator_client, case, png_bytes(64, 128), "big.png")
    assert response.status_code == 413
    assert response.json()["extra"]["code"] == "too_many_pixels"


def test_same_file_twice_in_a_case_is_a_conflict(annotator_client, case):
    assert _upload(annotator_client, case, png_bytes(), "a.png").status_code == 201
    second = _upload(annotator_client, case, png_bytes(), "b.png")
    assert second.status_code == 409
    assert Image.objects.count() == 1


@pytest.mark.shared_data
def test_real_cr_dicom_is_bone_bright_and_uncalibrated(annotator_client, case):
    dicom = require_shared("dicom", "RG3_UNCR.dcm").read_bytes()
    response = _upload(annotator_client, case, dicom, "RG3_UNCR.dcm")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["width"], body["height"], body["format"], body["photometric"]) == (1760, 1760, "dicom", "MONOCHROME1")
    assert body["pixel_spacing_mm"] is None and body["spacing_source"] == "none"
    raw = response.content.decode()
    for identifying in ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "StudyInstanceUID"):
        assert identifying not in raw
    import pydicom

    dataset = pydicom.dcmread(io.BytesIO(dicom))
    display = _display(annotator_client, body["id"]).astype(np.float64)
    raw_pixels = dataset.pixel_array.astype(np.float64)
    small = raw_pixels[:: raw_pixels.shape[0] // display.shape[0], :: raw_pixels.shape[1] // display.shape[1]]
    small = small[: display.shape[0], : display.shape[1]]
    # MONOCHROME1 stores bone as LOW values: the display must be the inverse (negative correlation).
    assert np.corrcoef(small.ravel(), display.ravel())[0, 1] < -0.9
