"""SAM endpoints without a sam worker: models, validation, roles, 503s, starting and reading jobs.

Decoding and pre-labelling by a real worker are in test_sam_worker.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.urls import reverse

from inference.models import PrelabelJob, PrelabelStatus
from tests.conftest import REPO_ROOT, api_client_for

pytestmark = pytest.mark.django_db


def _decode_url(image_id: int) -> str:
    return reverse("inference:sam-decode", kwargs={"image_id": image_id})


def test_models_list_the_default_and_why_one_cannot_run(annotator_client, settings, tmp_path):
    settings.SAM_CHECKPOINT = str(tmp_path / "sam_vit_b_01ec64.pth")
    response = annotator_client.get(reverse("inference:sam-model-list"))
    assert response.status_code == 200
    body = response.json()
    assert body["default"] == "litemedsam_bone"
    assert [m["name"] for m in body["models"]] == ["litemedsam_bone", "litemedsam", "sam_vit_b"]  # default first
    models = {m["name"]: m for m in body["models"]}
    assert models["litemedsam_bone"] == {"name": "litemedsam_bone", "available": True, "message": ""}
    assert models["litemedsam"] == {"name": "litemedsam", "available": True, "message": ""}
    assert models["sam_vit_b"] == {
        "name": "sam_vit_b", "available": False,
        "message": f"SAM checkpoint not found at {tmp_path / 'sam_vit_b_01ec64.pth'}; set SAM_CHECKPOINT."}


def test_unset_checkpoint_is_reported(annotator_client, settings):
    settings.SAM_CHECKPOINT = ""
    models = {m["name"]: m for m in annotator_client.get(reverse("inference:sam-model-list")).json()["models"]}
    assert models["sam_vit_b"]["message"].startswith("SAM checkpoint not set; set SAM_CHECKPOINT")


def test_missing_checkpoint_is_503_with_a_plain_message(annotator_client, image, settings, tmp_path):
    settings.SAM_CHECKPOINT = str(tmp_path / "missing.pth")
    response = annotator_client.post(_decode_url(image.pk), {"model": "sam_vit_b", "box": [5, 5, 40, 100]},
                                     format="json")
    assert response.status_code == 503
    assert response.json() == {
        "message": f"SAM checkpoint not found at {tmp_path / 'missing.pth'}; set SAM_CHECKPOINT.",
        "extra": {"code": "model_unavailable", "model": "sam_vit_b"},
    }


@pytest.mark.parametrize(("body", "message"), [
    ({}, "give at least one prompt"),
    ({"points": [[70, 5]]}, "lies outside the 64x128 image"),
    ({"points": [[10, 5], [20, 30]], "labels": [1]}, "labels must be 2 values"),
    ({"box": [40, 5, 10, 100]}, "x0 < x1"),
    ({"box": [5, 5, 40, 100], "model": "medsam2"}, "Unknown SAM model 'medsam2'"),
])
def test_bad_prompts_are_400(annotator_client, image, body, message):
    response = annotator_client.post(_decode_url(image.pk), body, format="json")
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_malformed_shapes_are_field_errors(annotator_client, image):
    response = annotator_client.post(_decode_url(image.pk), {"points": [[1, 2, 3]], "box": [1, 2]}, format="json")
    assert response.status_code == 400
    assert set(response.json()["extra"]["fields"]) == {"points", "box"}


def test_no_worker_answering_is_503_saying_there_is_none(annotator_client, image, settings):
    settings.SAM_DECODE_TIMEOUT_S = 1
    response = annotator_client.post(_decode_url(image.pk), {"box": [5, 5, 40, 100]}, format="json")
    assert response.status_code == 503
    assert response.json()["extra"]["code"] == "sam_worker_absent"
    assert response.json()["message"].startswith("No SAM worker is running: nothing consumes the 'sam' queue.")


def test_unknown_image_is_404(annotator_client):
    assert annotator_client.post(_decode_url(999999), {"box": [1, 1, 5, 5]}, format="json").status_code == 404


@pytest.mark.parametrize(("client_role", "expected"), [("anonymous", 401), ("none", 403)])
def test_roles_are_required(client_role, expected, no_role_user, image):
    client = api_client_for(None if client_role == "anonymous" else no_role_user)
    job = PrelabelJob.objects.create(model="litemedsam", image_ids=[image.pk], total=1)
    calls = [
        client.get(reverse("inference:sam-model-list")),
        client.post(_decode_url(image.pk), {"box": [5, 5, 40, 100]}, format="json"),
        client.post(reverse("inference:sam-prelabel-start"), {"image_ids": [image.pk]}, format="json"),
        client.get(reverse("inference:sam-prelabel-detail", kwargs={"job_id": job.pk})),
    ]
    assert [response.status_code for response in calls] == [expected] * 4


def test_prelabel_start_queues_a_job_and_detail_reads_it(annotator_client, annotator, image, case):
    response = annotator_client.post(reverse("inference:sam-prelabel-start"),
                                     {"case_ids": [case.pk], "boxes": {str(image.pk): [[2, 2, 60, 126]]}},
                                     format="json")
    assert response.status_code == 202
    job = PrelabelJob.objects.get(pk=response.json()["job"])
    assert (job.status, job.model, job.image_ids, job.total, job.created_by) == (
        PrelabelStatus.QUEUED, "litemedsam_bone", [image.pk], 1, annotator)
    assert job.boxes == {str(image.pk): [[2.0, 2.0, 60.0, 126.0]]}
    detail = annotator_client.get(reverse("inference:sam-prelabel-detail", kwargs={"job_id": job.pk})).json()
    assert {key: detail[key] for key in ("status", "total", "done", "skipped", "failed", "errors", "created_by")} == {
        "status": "queued", "total": 1, "done": 0, "skipped": 0, "failed": 0, "errors": {}, "created_by": "anna"}
    assert detail["created_at"] and detail["started_at"] is None and detail["finished_at"] is None


@pytest.mark.parametrize(("body", "message"), [
    ({}, "Give either image_ids or case_ids."),
    ({"image_ids": [999999]}, "Unknown image ids: [999999]."),
    ({"image_ids": "IMAGE", "boxes": {"123456": [[0, 0, 5, 5]]}}, "which is not in the job"),
    ({"image_ids": "IMAGE", "boxes": {"IMAGE": [[5, 0, 1, 5]]}}, "x0 < x1"),
    ({"image_ids": "IMAGE", "model": "sam_vit_h"}, "Unknown SAM model 'sam_vit_h'"),
])
def test_prelabel_start_rejects_bad_requests(annotator_client, image, body, message):
    body = {key: ([image.pk] if value == "IMAGE" else value) for key, value in body.items()}
    if "boxes" in body:
        body["boxes"] = {(str(image.pk) if k == "IMAGE" else k): v for k, v in body["boxes"].items()}
    response = annotator_client.post(reverse("inference:sam-prelabel-start"), body, format="json")
    assert response.status_code == 400
    assert message in str(response.json())


def test_web_side_never_imports_torch():
    code = (
        "import sys, django\n"
        "django.setup()\n"
        "import inference.urls, inference.apis_sam, inference.sam_services, inference.tasks, annotations.services\n"
        "from inference.sam.registry import available_models\n"
        "available_models()\n"
        "print('torch loaded:', 'torch' in sys.modules)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "enllasd_web.settings.test"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "torch loaded: False"


def test_admin_actions_queue_sam_drafts_for_images_and_cases(admin_user_role, image, case, settings):
    from django.test import Client

    admin_user_role.is_staff = True
    admin_user_role.save()
    client = Client()
    client.force_login(admin_user_role)
    response = client.post(reverse("admin:annotations_image_changelist"),
                           {"action": "draft_images_with_sam", "_selected_action": [image.pk]}, follow=True)
    job = PrelabelJob.objects.get()
    assert (job.image_ids, job.status, job.created_by) == ([image.pk], PrelabelStatus.QUEUED, admin_user_role)
    assert "SAM pre-labelling job" in response.content.decode()

    client.post(reverse("admin:annotations_case_changelist"),
                {"action": "draft_cases_with_sam", "_selected_action": [case.pk]}, follow=True)
    assert PrelabelJob.objects.latest("pk").image_ids == [image.pk]

    settings.SAM_DEFAULT_MODEL, settings.SAM_CHECKPOINT = "sam_vit_b", "/nowhere/sam_vit_b.pth"
    refused = client.post(reverse("admin:annotations_image_changelist"),
                          {"action": "draft_images_with_sam", "_selected_action": [image.pk]}, follow=True)
    assert "SAM drafts not started" in refused.content.decode()
    assert PrelabelJob.objects.count() == 2
