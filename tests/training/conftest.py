"""Fixtures of the training tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def admin_site_client(client, django_user_model):
    """The Django test client logged in as a superuser with the admin role (the admin site's pages)."""
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_superuser("root", password="pw-root")
    user.groups.add(Group.objects.get(name="admin"))
    client.force_login(user)
    return client
