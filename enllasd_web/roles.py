"""User roles and the DRF permission classes that enforce them.

Three roles, each a Django group: ``annotator`` < ``reviewer`` < ``admin``. A higher role can do
everything a lower one can. Superusers count as admins. Anonymous users can do nothing.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest
from rest_framework.permissions import BasePermission


class Role(IntEnum):
    NONE = 0
    ANNOTATOR = 1
    REVIEWER = 2
    ADMIN = 3


ROLE_GROUPS: dict[str, Role] = {"annotator": Role.ANNOTATOR, "reviewer": Role.REVIEWER, "admin": Role.ADMIN}


def user_role(user: AbstractBaseUser | AnonymousUser | None) -> Role:
    """Return the highest role of ``user`` (cached on the user object for the request)."""
    if user is None or not user.is_authenticated:
        return Role.NONE
    cached = getattr(user, "_enllasd_role", None)
    if cached is not None:
        return cached
    if user.is_superuser:
        role = Role.ADMIN
    else:
        names = set(user.groups.values_list("name", flat=True))
        role = max((ROLE_GROUPS[name] for name in names if name in ROLE_GROUPS), default=Role.NONE)
    remember_role(user, role)
    return role


def remember_role(user: AbstractBaseUser, role: Role) -> None:
    """Cache ``role`` on ``user`` for this request (token authentication loads it with the token)."""
    user._enllasd_role = role


def page_user_context(request: HttpRequest) -> dict[str, Any]:
    """Who is signed in, for the browser pages' page context (role names the UI shows or hides by)."""
    role = user_role(request.user)
    return {
        "username": request.user.get_username(),
        "role": role.name.lower(),
        "can_review": role >= Role.REVIEWER,
    }


def has_role(user: AbstractBaseUser | AnonymousUser | None, role: Role) -> bool:
    return user_role(user) >= role


class _RolePermission(BasePermission):
    required: Role = Role.ADMIN
    message = "This action needs a higher role."

    def has_permission(self, request, view) -> bool:  # noqa: ANN001 - DRF signature
        return has_role(request.user, self.required)


class IsAnnotator(_RolePermission):
    required = Role.ANNOTATOR
    message = "Annotator role required."


class IsReviewer(_RolePermission):
    required = Role.REVIEWER
    message = "Reviewer role required."


class IsAdmin(_RolePermission):
    required = Role.ADMIN
    message = "Admin role required."


# Model permissions per role, for the Django admin site (the API checks roles, not these).
ROLE_MODEL_PERMISSIONS: dict[str, dict[str, list[str]]] = {
    "annotator": {
        "annotations": ["view_patient", "add_patient", "view_case", "add_case", "view_image", "add_image",
                        "view_annotationrevision", "add_annotationrevision"],
        "inference": ["view_prediction", "view_modelversion", "view_ensembleversion"],
    },
    "reviewer": {
        "annotations": ["view_patient", "add_patient", "change_patient", "view_case", "add_case", "change_case",
                        "view_image", "add_image", "view_annotationrevision", "add_annotationrevision"],
        "inference": ["view_prediction", "view_modelversion", "view_ensembleversion"],
        "training": ["view_trainingrun"],
    },
    "admin": {app: ["*"] for app in ("annotations", "inference", "training", "audit", "auth", "authtoken")},
}


def ensure_role_groups(**_: object) -> None:
    """Create the role groups with their permissions (idempotent; runs after every ``migrate``)."""
    from django.contrib.auth.models import Group, Permission

    for name, by_app in ROLE_MODEL_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codenames in by_app.items():
            permissions = Permission.objects.filter(content_type__app_label=app_label)
            if codenames != ["*"]:
                permissions = permissions.filter(codename__in=codenames)
            group.permissions.add(*permissions)
