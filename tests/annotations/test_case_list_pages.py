"""The case list is paginated (issue 27, item 8: 260 cases were listed on one page)."""

from __future__ import annotations

import re

import pytest

from annotations.models import Case, Patient
from review.views import CASES_PER_PAGE

pytestmark = pytest.mark.django_db


def test_the_case_list_pages_through_its_cases_and_keeps_the_filters(client, annotator) -> None:
    patients = Patient.objects.bulk_create(Patient(code=f"P-{i:04d}", cohort="sd" if i % 2 else "unknown")
                                           for i in range(CASES_PER_PAGE * 2 + 10))
    Case.objects.bulk_create(Case(patient=patient, view="AP") for patient in patients)
    client.force_login(annotator)
    first = client.get("/").content.decode()
    assert first.count('class="case-row"') == CASES_PER_PAGE
    assert f"Page 1 of 3 · {CASES_PER_PAGE * 2 + 10} cases" in first and 'rel="next"' in first
    last = client.get("/?page=3").content.decode()
    assert last.count('class="case-row"') == 10 and "P-0109" in last and 'rel="prev"' in last
    filtered = client.get("/?cohort=sd&page=2").content.decode()
    assert filtered.count('class="case-row"') == 5  # 55 SD cases: 50 + 5
    assert re.search(r'href="\?cohort=sd&amp;page=1" rel="prev"', filtered)
    assert client.get("/?page=99").status_code == 200  # out of range: the last page


def test_the_case_page_exports_its_annotations_as_a_labelme_zip(client, annotator, image) -> None:
    """Issue 27, item 8: LabelMe export was API/CLI only."""
    import io
    import json
    import zipfile

    from annotations.services import annotation_revision_submit
    from tests.conftest import labelme_document

    annotation_revision_submit(image=image, document=labelme_document(), base_revision_id=None, source="manual",
                               author=annotator)
    client.force_login(annotator)
    page = client.get(f"/cases/{image.case_id}/").content.decode()
    assert f'href="/api/cases/{image.case_id}/labelme.zip"' in page and "Export LabelMe (.zip)" in page
    response = client.get(f"/api/cases/{image.case_id}/labelme.zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = sorted(archive.namelist())
    assert names == ["leg.json", "leg.png"]
    document = json.loads(archive.read("leg.json"))
    assert document["imagePath"] == "leg.png" and {s["label"] for s in document["shapes"]} >= {"femur", "tibia"}


def test_the_case_page_shows_each_images_measurements_and_queue_position(client, annotator) -> None:
    """Issue 27, items 4 and 8: the case page showed no measurements, and "predicting…" with no position."""
    from annotations.services import case_create, patient_create
    from inference.models import Prediction
    from tests.clinical.factories import active_ensemble, phantom_image, predict, varus_phantom

    case = case_create(patient=patient_create(code="P-PAGE"))
    measured = phantom_image(case, varus_phantom(84.0), name="measured.png")
    predict(measured, varus_phantom(84.0).labelme)
    waiting = phantom_image(case, varus_phantom(86.0), name="waiting.png")
    ahead = [phantom_image(case_create(patient=patient_create(code=f"P-AHEAD-{i}")), varus_phantom(86.0))
             for i in range(2)]
    for image in (*ahead, waiting):
        Prediction.objects.create(image=image, ensemble_version=active_ensemble(), interactive=True)
    client.force_login(annotator)
    page = client.get(f"/cases/{case.pk}/").content.decode()
    assert re.search(r"leg: HKA 1\d\d\.\d° \(\d+\.\d° (varus|valgus)\)", page)
    assert "model prediction, not reviewed" in page
    assert re.search(r"Predicting… \(2 ahead, about \d+ s\)", page)
