"""Every endpoint × every role: anonymous, no role, annotator, reviewer, admin.

The endpoints are enumerated from the URL resolver (all routes outside ``admin/``, every HTTP method
their view implements), so an endpoint added anywhere is tested automatically, and the test fails until
:data:`EXPECTATIONS` says who may call it. The Django admin site has its own ``is_staff`` checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.conftest import api_client_for, labelme_document, png_bytes

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "none", "annotator", "reviewer", "admin")
ROLE_RANK = {"public": 0, "annotator": 1, "reviewer": 2, "admin": 3}
USER_RANK = {"anonymous": 0, "none": 0, "annotator": 1, "reviewer": 2, "admin": 3}


@dataclass
class World:
    """The rows every path parameter and payload refers to, for one role's run of the matrix."""

    role: str
    objects: dict[str, Any]


Payload = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Expectation:
    """Who may call an endpoint, with which request body, and which statuses count as success.

    ``minimum`` is ``public`` (anyone, signed in or not) or the lowest role allowed. Denied callers get
    401 (API, anonymous), 403 (API or page, signed in without the role) or a redirect to the login page
    (``page=True``, anonymous).
    """

    minimum: str
    payload: Payload | None = None
    ok: frozenset[int] = field(default_factory=lambda: frozenset({200, 201, 202}))
    page: bool = False


def _json(data: dict[str, Any]) -> Payload:
    return lambda world: {"data": data, "format": "json"}


def _new_patient(world: World) -> dict[str, Any]:
    return {"data": {"code": f"NEW-{world.role}"}, "format": "json"}


def _new_case(world: World) -> dict[str, Any]:
    return {"data": {"patient": world.objects["case"].patient_id}, "format": "json"}


def _new_revision(world: World) -> dict[str, Any]:
    image = world.objects["image"]
    head = image.__class__.objects.get(pk=image.pk).head_revision_id
    return {"data": {"base_revision": head, "document": labelme_document()}, "format": "json"}


def _upload(world: World) -> dict[str, Any]:
    seed = 50 + ROLES.index(world.role)
    file = SimpleUploadedFile(f"{world.role}.png", png_bytes(seed=seed))
    return {"data": {"case": world.objects["case"].pk, "file": file}, "format": "multipart"}


def _empty_zip(world: World) -> dict[str, Any]:
    empty = SimpleUploadedFile("empty.zip", b"PK\x05\x06" + b"\x00" * 18)
    return {"data": {"file": empty}, "format": "multipart"}


def _credentials(world: World) -> dict[str, Any]:
    return {"data": {"username": "anna", "password": "pw-anna"}}


def _review_item(image, annotator):  # noqa: ANN001, ANN202 - test rows
    """A pending review item of a succeeded prediction on ``image`` (by a second ensemble).

    Made directly: the service makes none for an image with approved outlines, as this one has. The
    prediction aligns no leg, so a plain accept gets 409 (implausible) and the matrix's accept passes a reason.
    """
    from annotations.models import ReviewItem
    from inference.models import EnsembleVersion, JobStatus, Prediction

    ensemble = EnsembleVersion.objects.create(name="permissions-review")
    prediction = Prediction.objects.create(image=image, ensemble_version=ensemble, status=JobStatus.SUCCEEDED,
                                           document=labelme_document(), alignment={"legs": []})
    return ReviewItem.objects.create(image=image, prediction=prediction, priority=1.0)


def _review_on_head(extra: dict[str, Any]) -> Payload:
    def payload(world: World) -> dict[str, Any]:
        image = world.objects["image"]
        head = image.__class__.objects.get(pk=image.pk).head_revision_id
        return {"data": {"base_revision": head, **extra}, "format": "json"}

    return payload


def _leg_document() -> dict[str, Any]:
    document = labelme_document()
    document["shapes"] += [{"label": "hip", "points": [[25, 3]], "shape_type": "point"},
                           {"label": "ankle", "points": [[25, 125]], "shape_type": "point"}]
    return document


ANNOTATOR = Expectation("annotator")
REVIEWER = Expectation("reviewer")
ADMIN = Expectation("admin")
PUBLIC = Expectation("public")
PAGE = Expectation("annotator", page=True)

# (URL name with namespace, HTTP method) -> who may call it.
EXPECTATIONS: dict[tuple[str, str], Expectation] = {
    ("login", "GET"): PUBLIC,
    ("login", "POST"): Expectation("public", ok=frozenset({200, 302})),
    ("login", "PUT"): Expectation("public", ok=frozenset({200, 302})),
    ("logout", "POST"): Expectation("public", ok=frozenset({200, 302})),
    # Every signed-in user, whatever their role, changes their own password; anonymous callers go to the login.
    ("password_change", "GET"): Expectation("public", ok=frozenset({200, 302}), page=True),
    ("password_change", "POST"): Expectation("public", ok=frozenset({200, 302}), page=True),
    ("password_change", "PUT"): Expectation("public", ok=frozenset({200, 302}), page=True),
    ("password_change_done", "GET"): Expectation("public", ok=frozenset({200, 302}), page=True),
    ("api-token", "POST"): Expectation("public", payload=_credentials),
    ("api-schema", "GET"): PUBLIC,
    ("api-docs", "GET"): PUBLIC,
    ("annotations:patient-list", "GET"): ANNOTATOR,
    ("annotations:patient-create", "POST"): Expectation("annotator", payload=_new_patient),
    ("annotations:case-list", "GET"): ANNOTATOR,
    ("annotations:case-create", "POST"): Expectation("annotator", payload=_new_case),
    ("annotations:case-detail", "GET"): ANNOTATOR,
    ("annotations:case-labelme-export", "GET"): ANNOTATOR,
    ("annotations:image-list", "GET"): ANNOTATOR,
    ("annotations:image-upload", "POST"): Expectation("annotator", payload=_upload),
    ("annotations:image-detail", "GET"): ANNOTATOR,
    ("annotations:image-display", "GET"): ANNOTATOR,
    ("annotations:image-thumbnail", "GET"): ANNOTATOR,
    ("annotations:image-labelme", "GET"): ANNOTATOR,
    ("annotations:revision-list", "GET"): ANNOTATOR,
    ("annotations:revision-create", "POST"): Expectation("annotator", payload=_new_revision),
    ("annotations:revision-detail", "GET"): ANNOTATOR,
    ("annotations:labelme-import", "POST"): Expectation("admin", payload=_empty_zip),
    ("inference:prediction-request", "POST"): ANNOTATOR,
    ("inference:prediction-list", "GET"): ANNOTATOR,
    ("inference:prediction-detail", "GET"): ANNOTATOR,
    ("training:run-list", "GET"): ADMIN,
    ("training:ensemble-list", "GET"): ANNOTATOR,
    ("training:run-start", "POST"): Expectation("admin", payload=_json({"config": "smoke", "phantoms": 4})),
    ("training:run-detail", "GET"): ADMIN,
    ("training:run-cancel", "POST"): ADMIN,
    ("audit:event-list", "GET"): ADMIN,
    ("annotations:review-item-list", "GET"): ANNOTATOR,
    ("annotations:review-item-detail", "GET"): ANNOTATOR,
    # One item serves the whole run: after the accept it is decided, so later decisions by allowed roles
    # get 409 from the state check, which runs after the role check.
    ("annotations:review-item-accept", "POST"): Expectation(
        "reviewer", payload=_review_on_head({"override_reason": "permission matrix"}), ok=frozenset({200, 409})),
    ("annotations:review-item-checks", "POST"): Expectation("annotator", payload=_json({"document": _leg_document()})),
    ("annotations:review-item-correct", "POST"): Expectation(
        "reviewer", payload=_review_on_head({"document": labelme_document()}), ok=frozenset({200, 409})),
    ("annotations:review-item-reject", "POST"): Expectation("reviewer", payload=_json({"reason": "blurred"}),
                                                            ok=frozenset({200, 409})),
    ("annotations:review-item-reopen", "POST"): Expectation("reviewer", payload=_json({}), ok=frozenset({200, 409})),
    ("annotations:review-item-assign", "POST"): Expectation("reviewer", payload=_json({"assignee": None})),
    ("annotations:image-review-events", "GET"): ANNOTATOR,
    ("annotations:align", "POST"): Expectation("annotator", payload=_json({"document": _leg_document()})),
    ("ui:case-list", "GET"): PAGE,
    ("ui:case-detail", "GET"): PAGE,
    ("ui:image-detail", "GET"): PAGE,
    ("ui:review-queue", "GET"): PAGE,
    ("ui:review-item", "GET"): PAGE,
    # SAM assist: a decode without a prompt is refused (400) after the role check, so no sam worker is needed.
    ("inference:sam-model-list", "GET"): ANNOTATOR,
    ("inference:sam-decode", "POST"): Expectation("annotator", payload=_json({}), ok=frozenset({400})),
    ("inference:sam-prelabel-start", "POST"): Expectation(
        "annotator", payload=lambda world: {"data": {"image_ids": [world.objects["image"].pk]}, "format": "json"}),
    ("inference:sam-prelabel-detail", "GET"): ANNOTATOR,
    # datasets, retraining, comparison, promotion (training app)
    ("training:snapshot-collection", "GET"): REVIEWER,
    ("training:snapshot-collection", "POST"): Expectation(
        "admin", payload=_json({"name": "permissions", "view": "AP", "n_folds": 2}), ok=frozenset({201, 400})),
    ("training:snapshot-detail", "GET"): REVIEWER,
    ("training:snapshot-export", "GET"): REVIEWER,
    ("training:ensemble-rollback", "POST"): Expectation("admin", payload=_json({"view": "AP"}),
                                                         ok=frozenset({200, 409})),
    ("training:ensemble-compare", "POST"): Expectation(
        "admin", payload=lambda world: {"data": {"dataset_snapshot": world.objects["snapshot"].pk}, "format": "json"}),
    ("training:ensemble-promote", "POST"): Expectation("admin", payload=_json({"repredict": False})),
    ("training:comparison-detail", "GET"): REVIEWER,
    ("training:repredict-job-detail", "GET"): REVIEWER,
    ("training:prediction-lineage", "GET"): ANNOTATOR,
    # SAM re-tuning: the world's snapshot is empty (400) and its run is an ensemble run (404 here)
    ("training:sam-tuning-run-collection", "GET"): ADMIN,
    ("training:sam-tuning-run-collection", "POST"): Expectation(
        "admin", payload=lambda world: {"data": {"snapshot": world.objects["snapshot"].pk}, "format": "json"},
        ok=frozenset({400})),
    ("training:sam-tuning-run-detail", "GET"): Expectation("admin", ok=frozenset({404})),
    ("training:sam-tuning-run-promote", "POST"): Expectation("admin", payload=_json({}), ok=frozenset({404})),
    ("training:sam-rollback", "POST"): Expectation("admin", payload=_json({}), ok=frozenset({409})),
    ("training:sam-promotion-list", "GET"): ADMIN,
    # clinical outputs
    ("clinical:image-calibration", "GET"): ANNOTATOR,
    ("clinical:image-calibration", "POST"): Expectation(
        "annotator", payload=_json({"method": "ruler", "points": [[0, 0], [0, 100]], "length_mm": 50.0})),
    ("clinical:patient-timeline", "GET"): ANNOTATOR,
    ("clinical:patient-timeline-csv", "GET"): ANNOTATOR,
    ("clinical:metrics-csv", "GET"): REVIEWER,
    ("clinical:reader-study-list", "GET"): ANNOTATOR,
    ("clinical:reader-study-create", "POST"): Expectation(
        "admin", payload=_json({"name": "x", "image_ids": [0], "readers": ["a", "b"]}), ok=frozenset({400})),
    # The matrix users read in no study: the study's own readers only (tests/clinical covers them).
    ("clinical:reader-study-tasks", "GET"): Expectation("annotator", ok=frozenset({403})),
    ("clinical:reader-study-reading-create", "POST"): Expectation(
        "annotator", payload=_json({"image": 0, "document": {}}), ok=frozenset({403})),
    ("clinical:reader-study-results", "GET"): ADMIN,
    ("clinical-ui:patient-timeline", "GET"): PAGE,
    ("clinical-ui:case-report", "GET"): PAGE,
    ("clinical-ui:case-report-pdf", "GET"): Expectation("annotator", page=True, ok=frozenset({200, 404})),
    ("clinical-ui:reader-study", "GET"): Expectation("admin", page=True),
    ("clinical-ui:reader-study-read", "GET"): Expectation("annotator", page=True, ok=frozenset({403})),  # readers only
}


@dataclass(frozen=True)
class Endpoint:
    name: str
    route: str
    method: str
    pattern: URLPattern


def _view_methods(pattern: URLPattern) -> list[str]:
    view_class = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
    if view_class is None:
        return ["GET"]  # a plain function view (the server-rendered pages)
    return [m.upper() for m in view_class.http_method_names if m not in {"options", "head"} and hasattr(view_class, m)]


def _walk(patterns: list, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        else:
            yield f"{namespace}{entry.name}", prefix + str(entry.pattern), entry


def all_endpoints() -> list[Endpoint]:
    """Every (route, method) the project serves, outside the Django admin site."""
    return [
        Endpoint(name, route, method, pattern)
        for name, route, pattern in _walk(get_resolver().url_patterns)
        if not route.startswith("admin/")
        for method in _view_methods(pattern)
    ]


def test_every_endpoint_has_an_expectation():
    missing = sorted((e.name, e.method, e.route) for e in all_endpoints() if (e.name, e.method) not in EXPECTATIONS)
    assert not missing, "add these endpoints to EXPECTATIONS in tests/annotations/test_permissions.py: " + repr(missing)


def _world(role: str, case, image, annotator) -> World:  # noqa: ANN001 - fixtures
    from annotations.services import annotation_revision_submit
    from clinical.models import ReaderStudy
    from inference.models import EnsembleVersion, Prediction, PrelabelJob, VersionStatus
    from training.models import DatasetSnapshot, EnsembleComparison, RepredictJob, TrainingRun

    revision = annotation_revision_submit(image=image, document=labelme_document(), base_revision_id=None,
                                          source="manual", author=annotator)
    ensemble = EnsembleVersion.objects.create(name="permissions", status=VersionStatus.ACTIVE,
                                              config={"path": "ensembles/none"})
    prediction = Prediction.objects.create(image=image, ensemble_version=ensemble)
    run = TrainingRun.objects.create(config_name="smoke")
    candidate = EnsembleVersion.objects.create(name="permissions-candidate", config={"path": "ensembles/none"})
    snapshot = DatasetSnapshot.objects.create(name="permissions")
    study = ReaderStudy.objects.create(name="permissions")
    study.images.add(image)
    return World(role=role, objects={
        "case": case, "image": image, "revision": revision, "prediction": prediction, "run": run,
        "item": _review_item(image, annotator), "ensemble": candidate, "snapshot": snapshot,
        "comparison": EnsembleComparison.objects.create(candidate=candidate, dataset_snapshot=snapshot),
        "repredict_job": RepredictJob.objects.create(ensemble=candidate), "patient": case.patient, "study": study,
        "job": PrelabelJob.objects.create(model="litemedsam", image_ids=[image.pk]),
    })


def _path(endpoint: Endpoint, world: World) -> str:
    parameters = {}
    for name in endpoint.pattern.pattern.converters:
        entity = name.removesuffix("_id")
        assert entity in world.objects, f"{endpoint.route}: no test object for the path parameter {name!r}"
        parameters[name] = world.objects[entity].pk
    return reverse(endpoint.name, kwargs=parameters)


def _user(role: str, django_user_model):  # noqa: ANN001, ANN202
    from django.contrib.auth.models import Group

    if role == "anonymous":
        return None
    user = django_user_model.objects.create_user(username=f"user-{role}")
    if role != "none":
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.mark.parametrize("role", ROLES)
def test_endpoint_role_matrix(role, case, image, annotator, django_user_model):
    world = _world(role, case, image, annotator)
    user = _user(role, django_user_model)
    client = api_client_for(user)
    for endpoint in all_endpoints():
        expectation = EXPECTATIONS.get((endpoint.name, endpoint.method))
        if expectation is None:
            continue  # reported by test_every_endpoint_has_an_expectation
        url = _path(endpoint, world)
        kwargs = expectation.payload(world) if expectation.payload else {}
        if expectation.page and user is not None:
            client.force_login(user)  # pages use the session (the logout endpoint may have ended it)
        response = getattr(client, endpoint.method.lower())(url, **kwargs)
        where = (role, endpoint.method, url, response.status_code)
        allowed = expectation.minimum == "public" or (
            role not in {"anonymous", "none"} and USER_RANK[role] >= ROLE_RANK[expectation.minimum])
        if allowed:
            assert response.status_code in expectation.ok, (*where, getattr(response, "content", b"")[:300])
        elif role == "anonymous" and expectation.page:
            assert response.status_code == 302 and "/accounts/login/" in response["Location"], where
        elif role == "anonymous":
            assert response.status_code == 401, where
        else:
            assert response.status_code == 403, where
            if not expectation.page:
                assert set(response.json()) == {"message", "extra"}, where


def test_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/images/{image_id}/revisions/create/" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_token_login_for_scripts(client, annotator):
    response = client.post("/api/auth/token/", {"username": "anna", "password": "pw-anna"})
    assert response.status_code == 200
    token = response.json()["token"]
    assert client.get("/api/cases/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200


def test_token_authentication_loads_the_highest_role_with_the_user(db, django_user_model,
                                                                    django_assert_num_queries):
    """One query gives the token's user and its highest role group; DRF's errors stay the same."""
    from django.contrib.auth.models import Group
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework.authtoken.models import Token

    from enllasd_web.authentication import RoleTokenAuthentication
    from enllasd_web.roles import Role, user_role

    both = django_user_model.objects.create_user("both", password="pw")
    both.groups.add(Group.objects.get(name="annotator"), Group.objects.get(name="reviewer"),
                    Group.objects.create(name="unrelated"))
    plain = django_user_model.objects.create_user("plain", password="pw")
    boss = django_user_model.objects.create_superuser("boss", password="pw")
    gone = django_user_model.objects.create_user("gone", password="pw", is_active=False)
    authentication = RoleTokenAuthentication()
    for user, role in ((both, Role.REVIEWER), (plain, Role.NONE), (boss, Role.ADMIN)):
        key = Token.objects.create(user=user).key
        with django_assert_num_queries(1):
            loaded, token = authentication.authenticate_credentials(key)
            assert (loaded.pk, loaded.username, token.key, user_role(loaded)) == (user.pk, user.username, key, role)
    with pytest.raises(AuthenticationFailed, match="Invalid token"):
        authentication.authenticate_credentials("0" * 40)
    with pytest.raises(AuthenticationFailed, match="inactive"):
        authentication.authenticate_credentials(Token.objects.create(user=gone).key)
