"""CSRF: every state-changing request authenticated by the browser session needs the CSRF token.

Token-authenticated requests (scripts) carry no cookie, so they are not exposed to CSRF and need none.
The write endpoints are enumerated from the URL resolver, like the role matrix.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from tests.annotations.test_permissions import all_endpoints

pytestmark = pytest.mark.django_db

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _any_path(endpoint) -> str:  # noqa: ANN001 - tests.annotations.test_permissions.Endpoint
    """The endpoint's URL with placeholder ids: the CSRF check runs before any object is looked up."""
    kwargs = {name: (uuid.uuid4() if type(converter).__name__ == "UUIDConverter" else 1)
              for name, converter in endpoint.pattern.pattern.converters.items()}
    return reverse(endpoint.name, kwargs=kwargs)


def _session_client(user) -> Client:  # noqa: ANN001
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_every_session_authenticated_write_without_the_csrf_token_is_403(admin_user_role):
    client = _session_client(admin_user_role)
    writes = [e for e in all_endpoints() if e.method in WRITE_METHODS]
    assert len(writes) >= 10
    for endpoint in writes:
        response = client.generic(endpoint.method, _any_path(endpoint), "{}", content_type="application/json")
        assert response.status_code == 403, (endpoint.method, endpoint.route, response.status_code)
        if endpoint.route.startswith("api/"):
            assert "CSRF" in response.json()["message"], endpoint.route


def test_session_write_with_the_csrf_token_succeeds(annotator, case):
    client = _session_client(annotator)
    client.get("/accounts/login/")  # any page that renders a form sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post("/api/cases/create/", {"patient": case.patient_id}, content_type="application/json",
                           HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201, response.content


def test_token_authenticated_write_needs_no_csrf_token(annotator, case):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=annotator).key}")
    response = client.post("/api/cases/create/", {"patient": case.patient_id}, format="json")
    assert response.status_code == 201
