"""Shared fixtures: users per role, authenticated API clients, generated images, the shared data folder."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """``../shared/data`` beside the checkout, or ``$ENLLASD_SHARED_DATA``."""
    return Path(os.environ.get("ENLLASD_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data")


def require_shared(*parts: str) -> Path:
    path = shared_data_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


def png_bytes(width: int = 64, height: int = 128, *, seed: int = 0, mode: str = "L") -> bytes:
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        array = rng.integers(0, 4096, size=(height, width), dtype=np.uint16)
        image = PILImage.fromarray(array)
    else:
        image = PILImage.fromarray(rng.integers(0, 255, size=(height, width), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def labelme_document(width: int = 64, height: int = 128, *, shift: float = 0.0) -> dict:
    return {
        "version": "5.2.1",
        "flags": {},
        "shapes": [
            {"label": "femur", "points": [[10 + shift, 5], [40, 5], [40, 60], [10, 60]], "group_id": None,
             "description": "", "shape_type": "polygon", "flags": {}},
            {"label": "tibia", "points": [[12, 70], [38, 70], [38, 120], [12, 120]], "group_id": None,
             "description": "", "shape_type": "polygon", "flags": {}},
            {"label": "knee", "points": [[25, 65]], "group_id": None, "description": "",
             "shape_type": "point", "flags": {}},
        ],
        "imagePath": "x.png",
        "imageData": None,
        "imageHeight": height,
        "imageWidth": width,
    }


@pytest.fixture(autouse=True)
def _media_root(request, tmp_path_factory):
    """Each test writes uploads to its own folder (no-op when run with ``-p no:django``)."""
    if not request.config.pluginmanager.hasplugin("django"):
        return
    request.getfixturevalue("settings").MEDIA_ROOT = tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _publishing_breaker_closed(request, monkeypatch):
    """Each test starts with the publishing circuit breaker closed (enllasd_web/queueing.py): a broker
    failure provoked by one test must not make the next test's messages be skipped."""
    if not request.config.pluginmanager.hasplugin("django"):
        return
    from enllasd_web import queueing

    monkeypatch.setattr(queueing, "_broker_down_until", 0.0)


def _user_with_role(django_user_model, username: str, role: str | None):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(username=username, password="pw-" + username)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def annotator(db, django_user_model):
    return _user_with_role(django_user_model, "anna", "annotator")


@pytest.fixture
def reviewer(db, django_user_model):
    return _user_with_role(django_user_model, "rita", "reviewer")


@pytest.fixture
def admin_user_role(db, django_user_model):
    return _user_with_role(django_user_model, "adam", "admin")


@pytest.fixture
def no_role_user(db, django_user_model):
    return _user_with_role(django_user_model, "nobody", None)


def api_client_for(user):
    from rest_framework.test import APIClient

    client = APIClient()
    if user is not None:
        from rest_framework.authtoken.models import Token

        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def annotator_client(annotator):
    return api_client_for(annotator)


@pytest.fixture
def reviewer_client(reviewer):
    return api_client_for(reviewer)


@pytest.fixture
def admin_client_api(admin_user_role):
    return api_client_for(admin_user_role)


@pytest.fixture
def case(db):
    from annotations.services import case_create, patient_create

    return case_create(patient=patient_create(code="P-0001"))


@pytest.fixture
def image(case, annotator):
    from annotations.services import image_upload

    return image_upload(case=case, data=png_bytes(), filename="leg.png", uploaded_by=annotator)
