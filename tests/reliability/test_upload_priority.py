"""A person's upload never waits behind a bulk import (issue 27, item 4).

During a 242-image LabelMe import a single upload to a new case waited 28.5 minutes showing "predicting…":
its prediction was queued behind the import's on the one ``inference`` queue. Uploads from the browser or the
API now go to the ``interactive`` queue, and the bulk worker takes its queues in the order listed
(``queue_order_strategy`` ``priority``), so the upload is predicted before the import's backlog.

A real worker with the bulk worker's queues (``settings.BULK_WORKER_QUEUES``) and the shipped starter: five
images are imported (bulk), then one is uploaded through the API, then the worker starts with all of it waiting.
"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from annotations.services import case_create, image_upload, patient_create
from inference.core.phantom import generate_phantom
from inference.models import JobStatus, Prediction
from inference.services import prediction_queue_position
from inference.starter import starter_ensemble_register
from tests.clinical.factories import png_of
from tests.reliability.processes import celery_worker_process
from tests.workers import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

N_BULK = 5


def test_an_upload_is_predicted_before_the_import_queued_ahead_of_it(settings, tmp_path, annotator_client):
    settings.MODEL_STORE = str(tmp_path / "store")
    settings.SAM_PRECOMPUTE_ON_UPLOAD = False  # embeddings come last anyway; they would only slow the test
    starter_ensemble_register()
    imported = case_create(patient=patient_create(code="IMPORT-1"))
    for seed in range(N_BULK):
        image_upload(case=imported, data=png_of(generate_phantom(seed=3000 + seed, legs=2)),
                     filename=f"import-{seed}.png", uploaded_by=None)
    clinic = case_create(patient=patient_create(code="CLINIC-1"))
    response = annotator_client.post(reverse("annotations:image-upload"),
                                     {"case": clinic.pk, "file": _file(png_of(generate_phantom(seed=3100, legs=2)))},
                                     format="multipart")
    assert response.status_code == 201, response.content
    upload = Prediction.objects.get(image_id=response.json()["id"])
    bulk = Prediction.objects.filter(image__case=imported)
    assert upload.interactive and not bulk.filter(interactive=True).exists()
    # Before any worker runs, the API says where the upload stands: nothing interactive is ahead of it.
    assert prediction_queue_position(upload).ahead == 0
    assert prediction_queue_position(bulk.order_by("-created_at").first()).ahead == N_BULK  # 4 bulk + the upload

    with celery_worker_process(queues=",".join(django_settings.BULK_WORKER_QUEUES), log=tmp_path / "worker.log"):
        done = lambda: Prediction.objects.filter(status=JobStatus.SUCCEEDED).count() == N_BULK + 1  # noqa: E731
        assert wait_for(done, timeout=300), (tmp_path / "worker.log").read_text()
    upload.refresh_from_db()
    finished_before = bulk.filter(finished_at__lt=upload.finished_at).count()
    assert finished_before == 0, f"{finished_before} imported image(s) were predicted before the upload"


def _file(data: bytes):  # noqa: ANN202 - an uploaded file
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("clinic.png", data, content_type="image/png")
