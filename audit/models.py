"""The audit log: one append-only row per audited request or login.

Rows are never updated or deleted through the application (the model refuses it, and on PostgreSQL a
trigger refuses it too). ``user`` is kept without a database constraint and the username is copied,
so that deleting an account never rewrites its history.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditAction(models.TextChoices):
    VIEW = "view", "Viewed"
    CREATE = "create", "Created"
    CHANGE = "change", "Changed"
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"
    EXPORT = "export", "Exported"
    LOGIN = "login", "Logged in"
    DELETE = "delete", "Deleted"


class AppendOnlyError(RuntimeError):
    """An attempt to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only.")


class AuditEvent(models.Model):
    """Who did what to which object, when, through which request, and with what outcome."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="+",
    )
    username = models.CharField(max_length=150, blank=True, help_text="Copied at the time of the event.")
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    path = models.CharField(max_length=500)
    method = models.CharField(max_length=8)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ip_hash = models.CharField(max_length=32, blank=True, help_text="Keyed hash of the client address.")
    at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["user", "at"], name="audit_user_at_idx"),
        ]

    def __str__(self) -> str:
        target = f"{self.object_type} {self.object_id}".strip()
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or 'anonymous'} {self.action} {target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only.")
