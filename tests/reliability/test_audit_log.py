"""The audit log: who viewed, created, changed, approved, rejected, exported and logged in, append-only."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.test import Client

from audit.models import AppendOnlyError, AuditAction, AuditEvent
from audit.targets import AuditTarget, audit_target
from tests.conftest import api_client_for, labelme_document, png_bytes

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("method", "url_name", "kwargs", "created", "expected"), [
    ("GET", "image-detail", {"image_id": 5}, None, ("view", "image", "5")),
    ("GET", "image-display", {"image_id": 5}, None, ("view", "image", "5")),
    ("GET", "image-list", {}, None, ("view", "image", "")),
    ("GET", "image-labelme", {"image_id": 5}, None, ("export", "image", "5")),
    ("POST", "image-upload", {}, 9, ("create", "image", "9")),
    ("POST", "image-upload", {}, None, ("create", "image", "")),  # refused: nothing was created
    ("GET", "revision-list", {"image_id": 5}, None, ("view", "image", "5")),
    ("POST", "revision-create", {"image_id": 5}, 17, ("create", "revision", "17")),
    ("POST", "revision-create", {"image_id": 5}, None, ("create", "image", "5")),
    ("GET", "revision-detail", {"revision_id": 17}, None, ("view", "revision", "17")),
    ("POST", "prediction-request", {"image_id": 5}, 3, ("create", "prediction", "3")),
    ("GET", "prediction-detail", {"prediction_id": 3}, None, ("view", "prediction", "3")),
    ("POST", "review-item-accept", {"item_id": 4}, None, ("approve", "review_item", "4")),
    ("POST", "review-item-approve", {"item_id": 4}, None, ("approve", "review_item", "4")),
    ("POST", "review-item-reject", {"item_id": 4}, None, ("reject", "review_item", "4")),
    ("POST", "review-item-correct", {"item_id": 4}, None, ("change", "review_item", "4")),
    ("GET", "review-item-list", {}, None, ("view", "review_item", "")),
    ("GET", "image-review-events", {"image_id": 5}, None, ("view", "image", "5")),
    ("POST", "dataset-snapshot-create", {}, 2, ("create", "dataset_snapshot", "2")),
    ("GET", "dataset-snapshot-export", {"snapshot_id": 2}, None, ("export", "dataset_snapshot", "2")),
    ("DELETE", "image-detail", {"image_id": 5}, None, ("delete", "image", "5")),
    ("PATCH", "review-item-detail", {"item_id": 4}, None, ("change", "review_item", "4")),
    ("POST", "labelme-import", {}, None, ("create", "labelme", "")),
    ("POST", "api-token", {}, None, ("login", "user", "")),
    ("GET", "case-list", {}, None, ("view", "case", "")),
    ("POST", "case-create", {}, 8, ("create", "case", "8")),
    ("GET", "patient-timeline-csv", {"patient_id": 6}, None, ("export", "patient", "6")),
    ("GET", "case-report-pdf", {"case_id": 8}, None, ("export", "case", "8")),
    ("GET", "metrics-csv", {}, None, ("export", "metrics", "")),
    ("GET", "snapshot-collection", {}, None, ("view", "snapshot", "")),
    ("POST", "snapshot-collection", {}, 3, ("create", "snapshot", "3")),
    ("GET", "snapshot-export", {"snapshot_id": 3}, None, ("export", "snapshot", "3")),
    ("POST", "run-start", {}, "0b6e", ("create", "run", "0b6e")),
    ("GET", "repredict-job-detail", {"repredict_job_id": 2}, None, ("view", "repredict_job", "2")),
    ("GET", "api-schema", {}, None, None),
    ("POST", "login", {}, None, None),  # the user_logged_in signal records successful logins
    ("OPTIONS", "image-detail", {"image_id": 5}, None, None),
])
def test_which_requests_are_audited_and_as_what(method, url_name, kwargs, created, expected):
    target = audit_target(method=method, url_name=url_name, url_kwargs=kwargs, created_id=created)
    assert target == (AuditTarget(AuditAction(expected[0]), expected[1], expected[2]) if expected else None)


def _events(**filters) -> list[tuple]:  # noqa: ANN003
    return list(AuditEvent.objects.filter(**filters).order_by("id").values_list(
        "username", "action", "object_type", "object_id", "method", "status_code"))


def test_api_requests_are_recorded_with_user_action_object_and_status(annotator_client, case, annotator):
    upload = annotator_client.post("/api/images/upload/", {"case": case.pk, "file": SimpleUploadedFile(
        "leg.png", png_bytes())}, format="multipart")
    image_id = upload.json()["id"]
    annotator_client.get(f"/api/images/{image_id}/")
    annotator_client.get(f"/api/images/{image_id}/display/")
    annotator_client.get(f"/api/images/{image_id}/labelme/")
    revision = annotator_client.post(f"/api/images/{image_id}/revisions/create/",
                                     {"base_revision": None, "document": labelme_document()}, format="json")
    annotator_client.get("/api/cases/")
    api_client_for(None).get("/api/schema/")  # not audited: no patient data
    i, r = str(image_id), str(revision.json()["id"])
    assert _events() == [
        ("anna", "create", "image", i, "POST", 201),
        ("anna", "view", "image", i, "GET", 200),
        ("anna", "view", "image", i, "GET", 200),
        ("anna", "export", "image", i, "GET", 200),
        ("anna", "create", "revision", r, "POST", 201),
        ("anna", "view", "case", "", "GET", 200),
    ]
    event = AuditEvent.objects.get(object_type="revision")
    assert event.user_id == annotator.pk and event.path == f"/api/images/{image_id}/revisions/create/"
    assert len(event.ip_hash) == 32 and "127.0.0.1" not in event.ip_hash


def test_refused_requests_are_recorded_with_their_status(image, no_role_user):
    api_client_for(None).get(f"/api/images/{image.pk}/")
    api_client_for(no_role_user).get(f"/api/images/{image.pk}/")
    assert _events() == [("", "view", "image", str(image.pk), "GET", 401),
                         ("nobody", "view", "image", str(image.pk), "GET", 403)]


def test_browser_page_views_of_an_image_are_recorded(image, annotator):
    browser = Client()
    browser.force_login(annotator)  # recorded as a login; only what follows matters here
    last = AuditEvent.objects.order_by("id").last()
    assert browser.get(f"/images/{image.pk}/").status_code == 200
    assert _events(id__gt=last.pk) == [("anna", "view", "image", str(image.pk), "GET", 200)]


def test_session_and_token_logins_are_recorded(annotator):
    browser = Client()
    assert browser.post("/accounts/login/", {"username": "anna", "password": "pw-anna"}).status_code == 302
    scripts = Client()
    assert scripts.post("/api/auth/token/", {"username": "anna", "password": "pw-anna"}).status_code == 200
    assert scripts.post("/api/auth/token/", {"username": "anna", "password": "wrong"}).status_code == 400
    assert _events(action="login") == [
        ("anna", "login", "user", str(annotator.pk), "POST", None),
        ("anna", "login", "user", str(annotator.pk), "POST", 200),
        ("", "login", "user", "", "POST", 400),
    ]


def test_events_are_append_only(image, annotator_client):
    annotator_client.get(f"/api/images/{image.pk}/")
    event = AuditEvent.objects.get()
    event.action = AuditAction.DELETE
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="delete")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    for statement in ("UPDATE audit_auditevent SET action = 'delete'", "DELETE FROM audit_auditevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert AuditEvent.objects.get().action == AuditAction.VIEW


def test_deleting_a_user_keeps_their_events(image, annotator, annotator_client):
    annotator_client.get(f"/api/images/{image.pk}/")
    annotator.delete()
    assert _events() == [("anna", "view", "image", str(image.pk), "GET", 200)]


def test_admin_site_shows_the_log_read_only(admin_client, image, annotator_client):
    annotator_client.get(f"/api/images/{image.pk}/")
    event = AuditEvent.objects.get(action=AuditAction.VIEW)
    assert admin_client.get("/admin/audit/auditevent/").status_code == 200
    assert admin_client.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200  # view only
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403
    assert admin_client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_query_api_filters_and_is_admin_only(image, annotator_client, reviewer_client, admin_client_api):
    annotator_client.get(f"/api/images/{image.pk}/")
    reviewer_client.get(f"/api/images/{image.pk}/display/")
    annotator_client.get("/api/images/")
    assert api_client_for(None).get("/api/audit/").status_code == 401
    assert annotator_client.get("/api/audit/").status_code == 403
    assert reviewer_client.get("/api/audit/").status_code == 403

    everything = admin_client_api.get("/api/audit/").json()
    assert everything["count"] == 3 and everything["results"][0]["path"] == "/api/images/"  # newest first
    mine = admin_client_api.get("/api/audit/", {"user": "anna"}).json()["results"]
    assert [(e["action"], e["object_id"]) for e in mine] == [("view", ""), ("view", str(image.pk))]
    this_image = admin_client_api.get("/api/audit/", {"object_type": "image", "object_id": image.pk}).json()
    assert sorted(e["username"] for e in this_image["results"]) == ["anna", "rita"]
    assert admin_client_api.get("/api/audit/", {"action": "fly"}).status_code == 400


def test_admin_role_staff_reads_the_log_in_the_admin_site(image, admin_user_role, annotator_client):
    annotator_client.get(f"/api/images/{image.pk}/")
    admin_user_role.is_staff = True
    admin_user_role.save()
    client = Client()
    client.force_login(admin_user_role)  # an admin by role, not a superuser
    assert client.get("/admin/audit/auditevent/").status_code == 200
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
