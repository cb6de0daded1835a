"""Concurrent saves of one image's annotation: one winner per base revision, a linear history, nothing lost.

Each thread has its own database connection (Django opens one per thread) and commits for real
(transactional test), so the row lock taken by ``annotation_revision_submit`` is what decides.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection

from annotations.models import AnnotationRevision, Image
from annotations.services import case_create, image_upload, patient_create
from tests.conftest import api_client_for, labelme_document, png_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def _in_own_connection(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``function`` and close this thread's database connection afterwards."""

    def run(*args: Any) -> Any:
        try:
            return function(*args)
        finally:
            connection.close()

    return run


def _users(django_user_model, role: str, count: int) -> list:  # noqa: ANN001
    from django.contrib.auth.models import Group

    group = Group.objects.get(name=role)
    users = []
    for index in range(count):
        user = django_user_model.objects.create_user(username=f"{role}-{index}")
        user.groups.add(group)
        users.append(user)
    return users


def _image() -> Image:
    case = case_create(patient=patient_create(code="CONC-1"))
    return image_upload(case=case, data=png_bytes(), filename="leg.png", uploaded_by=None)


def _document(marker: int) -> dict[str, Any]:
    """A valid document whose first femur point carries ``marker``, so every save can be found again."""
    return labelme_document(shift=float(marker))


def _save(client, image_id: int, base: int | None, marker: int):  # noqa: ANN001, ANN202
    return client.post(f"/api/images/{image_id}/revisions/create/",
                       {"base_revision": base, "document": _document(marker), "message": f"m{marker}"}, format="json")


def _assert_linear(image: Image) -> list[AnnotationRevision]:
    revisions = list(AnnotationRevision.objects.filter(image=image).order_by("number"))
    assert [r.number for r in revisions] == list(range(1, len(revisions) + 1))
    assert [r.parent_id for r in revisions] == [None] + [r.pk for r in revisions[:-1]]
    image.refresh_from_db()
    assert image.head_revision_id == revisions[-1].pk
    return revisions


def test_two_reviewers_saving_the_same_image_one_wins_the_other_gets_409(django_user_model):
    image = _image()
    clients = [api_client_for(user) for user in _users(django_user_model, "reviewer", 2)]
    start = threading.Barrier(2)

    @_in_own_connection
    def save(index: int):  # noqa: ANN202
        start.wait()
        return _save(clients[index], image.pk, None, index + 1)

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(save, range(2)))
    assert sorted(r.status_code for r in responses) == [201, 409]
    winner = next(r for r in responses if r.status_code == 201).json()
    loser = next(r for r in responses if r.status_code == 409).json()
    assert loser["extra"]["code"] == "stale_base_revision"
    assert loser["extra"]["head_revision"]["id"] == winner["id"]
    assert [r.pk for r in _assert_linear(image)] == [winner["id"]]


def test_twenty_parallel_saves_on_one_base_exactly_one_wins(django_user_model):
    image = _image()
    clients = [api_client_for(user) for user in _users(django_user_model, "annotator", 20)]
    start = threading.Barrier(20)

    @_in_own_connection
    def save(index: int) -> int:
        start.wait()
        return _save(clients[index], image.pk, None, index + 1).status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(save, range(20)))
    assert sorted(statuses) == [201] + [409] * 19
    assert len(_assert_linear(image)) == 1


def test_twenty_parallel_writers_that_reload_on_409_make_one_linear_history_and_lose_nothing(django_user_model):
    image = _image()
    clients = [api_client_for(user) for user in _users(django_user_model, "annotator", 20)]
    start = threading.Barrier(20)

    @_in_own_connection
    def save_until_accepted(index: int) -> int:
        """Save, and on 409 rebase onto the head the server returned, as the editor does; return the attempts."""
        start.wait()
        base = None
        for attempt in range(1, 200):
            response = _save(clients[index], image.pk, base, index + 1)
            if response.status_code == 201:
                return attempt
            assert response.status_code == 409, response.content
            base = response.json()["extra"]["head_revision"]["id"]
        raise AssertionError(f"writer {index} never got its save in")

    with ThreadPoolExecutor(20) as pool:
        attempts = list(pool.map(save_until_accepted, range(20)))
    revisions = _assert_linear(image)
    assert len(revisions) == 20
    markers = sorted(int(r.message.removeprefix("m")) for r in revisions)
    assert markers == list(range(1, 21))  # every writer's save is there exactly once
    for revision in revisions:
        marker = int(revision.message.removeprefix("m"))
        assert revision.document["shapes"][0]["points"][0] == [10.0 + marker, 5.0]  # its own content
    assert sum(attempts) > 20  # the writers really did collide
