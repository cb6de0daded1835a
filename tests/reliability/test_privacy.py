"""Identifying DICOM tags never leave the server: API, exports, logs and error pages.

Every DICOM here carries a made-up patient name, id, birth date, accession number, institution, referring
physician and study description (tests/reliability/dicom.py). Upload responses are already checked for the
real radiographs in tests/annotations/test_image_api.py; this module covers every other way out.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from rest_framework.test import APIClient

from annotations.derivatives import image_derivatives_create
from annotations.models import Image
from annotations.services import annotation_revision_submit
from tests.conftest import labelme_document
from tests.reliability.dicom import dicom_bytes, identifying_values

pytestmark = pytest.mark.django_db


def _assert_clean(text: str, where: str) -> None:
    leaked = [value for value in identifying_values() if value.lower() in text.lower()]
    assert not leaked, f"{where} contains {leaked}"


def _upload(client, case, data: bytes, name: str = "scan.dcm"):  # noqa: ANN001, ANN202
    return client.post("/api/images/upload/", {"case": case.pk, "file": SimpleUploadedFile(name, data)},
                       format="multipart")


@pytest.fixture
def dicom_image(annotator_client, case, annotator) -> Image:
    response = _upload(annotator_client, case, dicom_bytes(rows=48, columns=32))
    assert response.status_code == 201, response.content
    _assert_clean(response.content.decode(), "the upload response")
    image = Image.objects.get(pk=response.json()["id"])
    document = labelme_document(width=32, height=48)
    document["shapes"] = [shape for shape in document["shapes"] if shape["shape_type"] == "point"]
    annotation_revision_submit(image=image, document=document, base_revision_id=None, source="manual",
                               author=annotator)
    return image


def test_api_reads_of_a_dicom_image_carry_no_identifier(annotator_client, dicom_image):
    image_id, case_id = dicom_image.pk, dicom_image.case_id
    for url in [f"/api/images/{image_id}/", "/api/images/", f"/api/cases/{case_id}/", "/api/cases/",
                "/api/patients/", f"/api/images/{image_id}/revisions/", f"/api/images/{image_id}/labelme/",
                f"/api/images/{image_id}/predictions/"]:
        response = annotator_client.get(url)
        assert response.status_code == 200, url
        _assert_clean(response.content.decode(), url)
    assert dicom_image.source_pseudonym and dicom_image.source_pseudonym not in json.dumps(
        annotator_client.get(f"/api/images/{image_id}/").json())


def test_exports_of_a_dicom_image_carry_no_identifier(annotator_client, dicom_image, tmp_path):
    embedded = annotator_client.get(f"/api/images/{dicom_image.pk}/labelme/?embed=1")
    assert embedded.status_code == 200 and embedded.json()["imageData"]
    _assert_clean(embedded.content.decode(), "the LabelMe export with embedded image")

    out = tmp_path / "export"
    call_command("export_labelme", "--out", str(out), "--embed-image-data")
    files = sorted(out.iterdir())
    assert [path.suffix for path in files] == [".json", ".png"]  # the DICOM leaves as pixels only
    for path in files:
        _assert_clean(path.read_bytes().decode("latin-1"), f"exported {path.name}")

    display = annotator_client.get(f"/api/images/{dicom_image.pk}/display/")
    _assert_clean(b"".join(display.streaming_content).decode("latin-1"), "the display PNG")


def test_a_dicom_file_named_after_the_patient_is_stored_under_a_pseudonym(annotator_client, case, tmp_path):
    """PACS exports name files after the patient or the SOP instance UID: that name never comes back."""
    uploaded_name = "DOE^JANE_1.2.840.113619.2.55.3.604688119.dcm"
    data = dicom_bytes(rows=48, columns=32)
    response = _upload(annotator_client, case, data, name=uploaded_name)
    assert response.status_code == 201, response.content
    image = Image.objects.get(pk=response.json()["id"])
    assert image.original_name == f"{case.patient.code}_{image.sha256[:12]}.dcm" == response.json()["name"]
    leaks = ("DOE", "JANE", "113619", "604688119")
    for url in [f"/api/images/{image.pk}/", "/api/images/", f"/api/images/{image.pk}/labelme/"]:
        body = annotator_client.get(url).content.decode()
        assert not [part for part in leaks if part in body], url
    out = tmp_path / "export"
    call_command("export_labelme", "--out", str(out))
    for path in out.iterdir():
        assert not [part for part in leaks if part in path.name + path.read_bytes().decode("latin-1")], path


@pytest.mark.parametrize(("policy", "dicom_kept", "png_kept"), [
    ("keep-non-dicom", False, True), ("pseudonymise", False, False), ("keep", True, True),
])
def test_upload_name_policy(annotator_client, case, settings, policy, dicom_kept, png_kept):
    from tests.conftest import png_bytes

    settings.ENLLASD_UPLOAD_NAMES = policy
    for name, data, kept in (("P001_left knee.dcm", dicom_bytes(rows=48, columns=32), dicom_kept),
                             ("P001_left knee.png", png_bytes(), png_kept)):
        response = _upload(annotator_client, case, data, name=name)
        assert response.status_code == 201, response.content
        image = Image.objects.get(pk=response.json()["id"])
        expected = name if kept else f"{case.patient.code}_{image.sha256[:12]}{Path(name).suffix}"
        assert image.original_name == expected


BROKEN_DICOMS = {
    "truncated pixel data": lambda: dicom_bytes(pixel_data=b"\x00" * 10),
    "cut after the header": lambda: dicom_bytes()[:700],
    "colour": lambda: dicom_bytes(PhotometricInterpretation="RGB", SamplesPerPixel=3),
    "multi-frame": lambda: dicom_bytes(NumberOfFrames=3),
    "huge": lambda: dicom_bytes(rows=2, columns=2, pixel_data=b"\x00" * 8, Rows=60000, Columns=60000),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_DICOMS))
def test_logs_and_errors_of_a_failing_dicom_upload_carry_no_identifier(annotator_client, case, caplog, kind):
    data = BROKEN_DICOMS[kind]()
    caplog.clear()  # writing the test file may itself warn; only the server's handling counts
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = _upload(annotator_client, case, data)
    assert 400 <= response.status_code < 500, response.content
    _assert_clean(response.content.decode(), f"the error response ({kind})")
    _assert_clean(caplog.text, f"the log ({kind})")
    _assert_clean(" ".join(str(w.message) for w in caught), f"the warnings ({kind})")


def test_logs_of_a_successful_dicom_upload_and_its_derivatives_carry_no_identifier(annotator_client, case, caplog):
    odd = dicom_bytes(PixelSpacing=[0.1, 0.2],  # anisotropic: a spacing note is logged
                      PatientBirthDate="1959-03-17 Quentina", PatientName="Doe^Jane^Quentina" * 8)
    caplog.clear()  # writing the test file warns about its invalid values; only the server's handling counts
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = _upload(annotator_client, case, odd)
        assert response.status_code == 201
        image_derivatives_create(image=Image.objects.get(pk=response.json()["id"]))
    assert "pixel spacing" in caplog.text.lower()  # something was logged, and it is clean
    _assert_clean(caplog.text, "the log")
    _assert_clean(" ".join(str(w.message) for w in caught), "the warnings")


def test_404_pages_carry_no_identifier(annotator_client, annotator, dicom_image):
    for url in ["/api/images/999999/", f"/api/images/{dicom_image.pk}/nope/", "/no/such/page/"]:
        response = annotator_client.get(url)
        assert response.status_code == 404
        _assert_clean(response.content.decode(), url)
    from django.test import Client

    browser = Client()
    browser.force_login(annotator)
    response = browser.get("/images/999999/")
    assert response.status_code == 404
    _assert_clean(response.content.decode(), "the 404 page")


def test_500_page_and_its_log_carry_no_identifier(annotator, dicom_image, caplog, settings):
    """A real failure: the stored original disappeared, so making the display image raises."""
    assert settings.DEBUG is False
    Path(dicom_image.original.path).unlink()
    caplog.set_level(logging.DEBUG)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(annotator)
    response = client.get(f"/api/images/{dicom_image.pk}/display/")
    assert response.status_code == 500
    _assert_clean(response.content.decode(), "the 500 page")
    assert "Internal Server Error" in caplog.text
    _assert_clean(caplog.text, "the 500 log")
