"""Read-side queries of the audit log."""

from __future__ import annotations

from django.db.models import QuerySet

from audit.models import AuditEvent


def audit_event_list(
    *, username: str | None = None, object_type: str | None = None, object_id: str | None = None,
    action: str | None = None,
) -> QuerySet[AuditEvent]:
    """Events, newest first, filtered by any of the given fields (exact matches)."""
    queryset = AuditEvent.objects.all()
    if username:
        queryset = queryset.filter(username=username)
    if object_type:
        queryset = queryset.filter(object_type=object_type)
    if object_id:
        queryset = queryset.filter(object_id=object_id)
    if action:
        queryset = queryset.filter(action=action)
    return queryset.order_by("-at", "-id")
