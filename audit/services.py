"""Writing audit events. Only these functions create :class:`~audit.models.AuditEvent` rows."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest

from audit.models import AuditAction, AuditEvent


def client_ip_hash(request: HttpRequest) -> str:
    """Keyed hash of the client address: the same client gives the same value, the address is not kept.

    ``REMOTE_ADDR`` is used, not ``X-Forwarded-For``, which any client can forge.
    """
    address = request.META.get("REMOTE_ADDR") or ""
    if not address:
        return ""
    return hmac.new(settings.SECRET_KEY.encode(), address.encode(), hashlib.sha256).hexdigest()[:32]


def audit_event_record(
    *,
    request: HttpRequest,
    user: AbstractBaseUser | AnonymousUser | None,
    action: AuditAction,
    object_type: str = "",
    object_id: str = "",
    status_code: int | None = None,
) -> AuditEvent:
    """Append one event for ``request``; anonymous requests are recorded with no user."""
    known = user if user is not None and user.is_authenticated else None
    return AuditEvent.objects.create(
        user=known,
        username=known.get_username() if known else "",
        action=action,
        object_type=object_type[:64],
        object_id=object_id[:64],
        path=request.path[:500],
        method=request.method or "",
        status_code=status_code,
        ip_hash=client_ip_hash(request),
    )


def audit_login_record(sender: Any, request: HttpRequest, user: AbstractBaseUser, **_: Any) -> None:
    """``user_logged_in`` receiver: record a browser (session) login."""
    audit_event_record(request=request, user=user, action=AuditAction.LOGIN, object_type="user",
                       object_id=str(user.pk))
