"""Every API endpoint against every role: anonymous, no role, annotator, reviewer, admin."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conftest import api_client_for, labelme_document, png_bytes

pytestmark = pytest.mark.django_db

ROLE_RANK = {"anonymous": 0, "none": 0, "annotator": 1, "reviewer": 2, "admin": 3}


def _endpoints(case, image):
    return [
        ("get", "/api/patients/", None, "annotator"),
        ("post", "/api/patients/create/", {"code": "NEW-1"}, "annotator"),
        ("get", "/api/cases/", None, "annotator"),
        ("post", "/api/cases/create/", {"patient": case.patient_id}, "annotator"),
        ("get", f"/api/cases/{case.pk}/", None, "annotator"),
        ("get", "/api/images/", None, "annotator"),
        ("get", f"/api/images/{image.pk}/", None, "annotator"),
        ("get", f"/api/images/{image.pk}/display/", None, "annotator"),
        ("get", f"/api/images/{image.pk}/thumbnail/", None, "annotator"),
        ("get", f"/api/images/{image.pk}/labelme/", None, "annotator"),
        ("get", f"/api/images/{image.pk}/revisions/", None, "annotator"),
        ("post", f"/api/images/{image.pk}/revisions/create/", "revision", "annotator"),
        ("post", "/api/images/upload/", "upload", "annotator"),
        ("post", "/api/imports/labelme/", "import", "admin"),
    ]


@pytest.mark.parametrize("role", ["anonymous", "none", "annotator", "reviewer", "admin"])
def test_endpoint_role_matrix(role, case, image, django_user_model):
    from django.contrib.auth.models import Group

    user = None
    if role != "anonymous":
        user = django_user_model.objects.create_user(username=f"user-{role}")
        if role != "none":
            user.groups.add(Group.objects.get(name=role))
    client = api_client_for(user)
    for number, (method, url, payload, needed) in enumerate(_endpoints(case, image)):
        kwargs = {}
        if payload == "revision":
            head = image.__class__.objects.get(pk=image.pk).head_revision_id
            kwargs = {"data": {"base_revision": head, "document": labelme_document()}, "format": "json"}
        elif payload == "upload":
            kwargs = {"data": {"case": case.pk, "file": SimpleUploadedFile(f"{number}-{role}.png",
                                                                            png_bytes(seed=number + 50))},
                      "format": "multipart"}
        elif payload == "import":
            kwargs = {"data": {"file": SimpleUploadedFile("empty.zip", b"PK\x05\x06" + b"\x00" * 18)},
                      "format": "multipart"}
        elif payload is not None:
            kwargs = {"data": payload, "format": "json"}
        if payload == {"code": "NEW-1"}:
            kwargs["data"] = {"code": f"NEW-{role}"}
        response = getattr(client, method)(url, **kwargs)
        allowed = ROLE_RANK[role] >= ROLE_RANK[needed] and role not in {"anonymous", "none"}
        if allowed:
            assert response.status_code in {200, 201}, (role, method, url, response.status_code, response.content)
        elif role == "anonymous":
            assert response.status_code == 401, (role, method, url, response.status_code)
        else:
            assert response.status_code == 403, (role, method, url, response.status_code)
            assert set(response.json()) == {"message", "extra"}


def test_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/images/{image_id}/revisions/create/" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_token_login_for_scripts(client, annotator):
    response = client.post("/api/auth/token/", {"username": "anna", "password": "pw-anna"})
    assert response.status_code == 200
    token = response.json()["token"]
    assert client.get("/api/cases/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
