"""Schemathesis against the OpenAPI schema: generated requests to every operation, as an admin; no 5xx.

The Django WSGI application is called in-process (no server). Examples are few per operation
(``max_examples=10``) so that the run stays within a few minutes on two cores.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from enllasd_web.wsgi import application

pytestmark = pytest.mark.django_db

# Loaded at collection: the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Iterator[None]:
    """Like Django's test client, keep the WSGI handler from closing the test's database connection.

    The test runs inside a transaction rolled back at its end; closing the connection after each request
    would end it.
    """
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(admin_user_role, image) -> str:
    """An admin's token; ``image`` makes the database hold a patient, a case and an image to find."""
    from rest_framework.authtoken.models import Token

    return Token.objects.create(user=admin_user_role).key


@schema.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_no_operation_answers_with_a_server_error(case, admin_token):
    case.call_and_validate(headers={"Authorization": f"Token {admin_token}"}, checks=[not_a_server_error])
