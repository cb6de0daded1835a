"""Who may use the clinical API and pages: anonymous 401 / login redirect, roles."""

from __future__ import annotations

import pytest

from annotations.services import case_create, patient_create
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def ids(image):
    case = image.case
    return {"patient": case.patient_id, "case": case.pk, "image": image.pk}


API_GETS = [
    "/api/images/{image}/calibration/",
    "/api/patients/{patient}/timeline/",
    "/api/patients/{patient}/timeline.csv",
    "/api/reports/metrics.csv",
    "/api/reader-studies/",
]
PAGES = ["/patients/{patient}/timeline/", "/cases/{case}/report/"]


@pytest.mark.parametrize("url", API_GETS)
def test_anonymous_api_calls_get_401(url, ids) -> None:
    assert api_client_for(None).get(url.format(**ids)).status_code == 401


@pytest.mark.parametrize("url", API_GETS[:3])
def test_a_user_without_role_gets_403_and_an_annotator_may_read(url, ids, no_role_user, annotator_client) -> None:
    assert api_client_for(no_role_user).get(url.format(**ids)).status_code == 403
    assert annotator_client.get(url.format(**ids)).status_code == 200


def test_dataset_export_needs_a_reviewer(annotator_client, reviewer_client, ids) -> None:
    assert annotator_client.get("/api/reports/metrics.csv").status_code == 403
    assert reviewer_client.get("/api/reports/metrics.csv").status_code == 200


def test_calibration_needs_a_role(no_role_user, annotator_client, ids) -> None:
    payload = {"method": "ruler", "points": [[0, 0], [0, 100]], "length_mm": 50.0}
    url = f"/api/images/{ids['image']}/calibration/"
    assert api_client_for(None).post(url, payload, format="json").status_code == 401
    assert api_client_for(no_role_user).post(url, payload, format="json").status_code == 403
    assert annotator_client.post(url, payload, format="json").status_code == 201


def test_reader_study_admin_endpoints(reviewer_client, ids) -> None:
    assert reviewer_client.post("/api/reader-studies/create/", {}, format="json").status_code == 403
    assert reviewer_client.get("/api/reader-studies/1/results/").status_code == 403
    assert api_client_for(None).get("/api/reader-studies/1/tasks/").status_code == 401


@pytest.mark.parametrize("url", PAGES + ["/cases/{case}/report.pdf"])
def test_pages_redirect_anonymous_users_and_refuse_users_without_role(url, ids, client, no_role_user) -> None:
    response = client.get(url.format(**ids))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client.force_login(no_role_user)
    assert client.get(url.format(**ids)).status_code == 403


@pytest.mark.parametrize("url", PAGES)
def test_pages_open_for_annotators(url, ids, client, annotator) -> None:
    client.force_login(annotator)
    assert client.get(url.format(**ids)).status_code == 200


def test_missing_objects_are_404(annotator_client, client, annotator) -> None:
    assert annotator_client.get("/api/patients/999999/timeline/").status_code == 404
    client.force_login(annotator)
    assert client.get("/cases/999999/report/").status_code == 404
    case = case_create(patient=patient_create(code="P-EMPTY"))
    assert client.get(f"/cases/{case.pk}/report.pdf").status_code == 404  # nothing measured yet
    assert client.get("/reader-studies/999999/").status_code == 404
