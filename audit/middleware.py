"""Middleware that appends an audit event for every audited request (see :mod:`audit.targets`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse

from audit.models import AuditAction
from audit.services import audit_event_record
from audit.targets import audit_target

_UNAUDITED_NAMESPACES = frozenset({"admin", "audit"})


def _response_field(response: HttpResponse, name: str) -> Any:
    """A top-level field of a successful DRF response body, or ``None``."""
    data = getattr(response, "data", None)
    if not 200 <= response.status_code < 300 or not isinstance(data, dict):
        return None
    return data.get(name)


def _token_owner(response: HttpResponse) -> AbstractBaseUser | None:
    """The user a token login (``POST /api/auth/token/``) issued its token to."""
    from rest_framework.authtoken.models import Token

    key = _response_field(response, "token")
    if not key:
        return None
    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token else None


class AuditMiddleware:
    """Record who viewed, created, changed, approved, rejected, exported or deleted what.

    It runs after the view, so it sees the user DRF authenticated (token or session) and the final status
    code; refused and failed requests are recorded too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = request.resolver_match
        if match is None or match.url_name is None or _UNAUDITED_NAMESPACES.intersection(match.namespaces):
            return response
        target = audit_target(method=request.method or "", url_name=match.url_name, url_kwargs=match.kwargs,
                              created_id=_response_field(response, "id"))
        if target is None:
            return response
        user = getattr(request, "user", None)
        object_id = target.object_id
        if target.action == AuditAction.LOGIN:
            user = _token_owner(response)
            object_id = str(user.pk) if user else ""
        audit_event_record(request=request, user=user, action=target.action, object_type=target.object_type,
                           object_id=object_id, status_code=response.status_code)
        return response
