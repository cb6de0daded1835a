"""Annotation revisions: immutable, linear history, stale saves get 409 and lose nothing."""

from __future__ import annotations

import copy

import pytest

from annotations.models import AnnotationRevision
from tests.conftest import labelme_document

pytestmark = pytest.mark.django_db


def _post(client, image, *, base, document=None, source="manual"):
    return client.post(
        f"/api/images/{image.pk}/revisions/create/",
        {"base_revision": base, "document": document or labelme_document(), "source": source},
        format="json",
    )


def test_first_revision_then_next(annotator_client, image):
    first = _post(annotator_client, image, base=None)
    assert first.status_code == 201, first.content
    assert first.json()["number"] == 1 and first.json()["parent"] is None
    assert first.json()["document"]["imageData"] is None
    assert first.json()["document"]["imagePath"] == "leg.png"
    second = _post(annotator_client, image, base=first.json()["id"], document=labelme_document(shift=2))
    assert second.status_code == 201
    assert second.json()["parent"] == first.json()["id"] and second.json()["number"] == 2
    image.refresh_from_db()
    assert image.head_revision_id == second.json()["id"]
    listing = annotator_client.get(f"/api/images/{image.pk}/revisions/").json()
    assert [item["number"] for item in listing["results"]] == [2, 1]


def test_stale_base_revision_gets_409_with_head_and_first_save_survives(annotator_client, reviewer_client, image):
    base = _post(annotator_client, image, base=None).json()["id"]
    mine = labelme_document(shift=1)
    theirs = labelme_document(shift=3)
    winner = _post(reviewer_client, image, base=base, document=theirs)
    assert winner.status_code == 201
    loser = _post(annotator_client, image, base=base, document=mine)
    assert loser.status_code == 409
    body = loser.json()
    assert body["extra"]["code"] == "stale_base_revision"
    assert body["extra"]["head_revision"]["id"] == winner.json()["id"]
    assert body["extra"]["head_revision"]["document"]["shapes"][0]["points"][0] == [13.0, 5.0]
    assert AnnotationRevision.objects.filter(image=image).count() == 2
    image.refresh_from_db()
    assert image.head_revision_id == winner.json()["id"]


def test_invalid_document_is_400_and_writes_nothing(annotator_client, image):
    broken = labelme_document()
    broken["shapes"][0]["points"] = [[1, "x"]]
    response = _post(annotator_client, image, base=None, document=broken)
    assert response.status_code == 400
    assert response.json()["extra"]["code"] == "invalid_labelme"
    assert not AnnotationRevision.objects.exists()


def test_document_for_another_image_size_is_rejected(annotator_client, image):
    document = labelme_document(width=500, height=500)
    response = _post(annotator_client, image, base=None, document=document)
    assert response.status_code == 400 and response.json()["extra"]["code"] == "size_mismatch"


def test_unknown_labels_and_shape_types_are_kept(annotator_client, image):
    document = labelme_document()
    document["shapes"].append(
        {"label": "patella", "points": [[5, 5], [9, 9]], "group_id": 3, "description": "note",
         "shape_type": "circle", "flags": {"checked": True}}
    )
    response = _post(annotator_client, image, base=None, document=copy.deepcopy(document))
    assert response.status_code == 201
    stored = response.json()["document"]["shapes"][-1]
    assert stored["label"] == "patella" and stored["shape_type"] == "circle" and stored["group_id"] == 3
    assert stored["flags"] == {"checked": True}


@pytest.mark.parametrize(("client_fixture", "source", "expected"), [
    ("annotator_client", "manual", 201),
    ("annotator_client", "sam_assisted", 201),
    ("annotator_client", "corrected", 400),
    ("annotator_client", "imported", 400),
    ("reviewer_client", "corrected", 201),
    ("admin_client_api", "imported", 201),
])
def test_revision_sources_by_role(request, image, client_fixture, source, expected):
    client = request.getfixturevalue(client_fixture)
    assert _post(client, image, base=None, source=source).status_code == expected


def test_revisions_cannot_be_changed_in_place(image, annotator):
    from annotations.services import annotation_revision_submit

    revision = annotation_revision_submit(image=image, document=labelme_document(), base_revision_id=None,
                                          source="manual", author=annotator)
    revision.message = "edited"
    with pytest.raises(RuntimeError):
        revision.save()
