"""SAM assist end to end: the API and services with a real Celery worker on the ``sam`` queue.

The worker runs LiteMedSAM (real weights) on synthetic phantoms; it shares one media folder with the
tests of this module so that it reads their uploads and they read its embedding files.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.test import override_settings
from django.urls import reverse
from PIL import Image as PILImage

from annotations.core.raster import rasterize_polygon
from annotations.models import AnnotationRevision, RevisionSource
from annotations.services import annotation_revision_submit, image_upload
from inference.core.phantom import generate_phantom
from inference.models import EnsembleVersion, JobStatus, PrelabelJob, PrelabelStatus, Prediction, VersionStatus
from tests.conftest import labelme_document, png_bytes
from tests.workers import celery_worker, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

WORKER_TIMEOUT_S = 900  # the CPU embedding takes ~10 s alone, minutes on a loaded 2-core machine


@pytest.fixture(scope="module")
def sam_media(tmp_path_factory):
    return tmp_path_factory.mktemp("sam-media")


@pytest.fixture(scope="module")
def sam_worker(sam_media, django_db_setup):
    with override_settings(MEDIA_ROOT=sam_media), celery_worker(queues="sam,sam_batch,sam_precompute") as process:
        yield process


@pytest.fixture
def shared_media(sam_worker, sam_media, settings):
    settings.MEDIA_ROOT = sam_media
    settings.SAM_DECODE_TIMEOUT_S = WORKER_TIMEOUT_S
    return sam_media


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _iou(outline_xy: np.ndarray, truth_xy: np.ndarray, shape: tuple[int, int]) -> float:
    a, b = rasterize_polygon(outline_xy, *shape), rasterize_polygon(truth_xy, *shape)
    return float(np.count_nonzero(a & b) / np.count_nonzero(a | b))


def test_decode_api_outlines_the_tibia_and_caches_the_embedding(shared_media, annotator_client, case, settings):
    settings.SAM_PRECOMPUTE_ON_UPLOAD = False
    phantom = generate_phantom(seed=4, legs=1)
    image = image_upload(case=case, data=_png(phantom.image), filename="phantom4.png", uploaded_by=None)
    tibia = phantom.polygons_xy[0][1]
    low, high = tibia.min(axis=0), tibia.max(axis=0)
    box = np.concatenate([low - 0.05 * (high - low), high + 0.05 * (high - low)]).tolist()
    url = reverse("inference:sam-decode", kwargs={"image_id": image.pk})

    first = annotator_client.post(url, {"box": box, "label": "tibia"}, format="json")
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["model"] == "litemedsam_bone" and body["embedding_cached"] is False
    assert (body["label"], body["label_inferred"]) == ("tibia", False)
    assert set(body["timings"]) == {"embed_s", "decode_s", "total_s"}
    assert len(body["polygons"]) == 1
    assert _iou(np.asarray(body["polygons"][0]), tibia, phantom.image.shape) > 0.8

    click = [[float(v) for v in tibia.mean(axis=0)]]
    second = annotator_client.post(url, {"box": box, "points": click, "tolerance_px": 3}, format="json").json()
    assert second["embedding_cached"] is True
    assert (second["label"], second["label_inferred"]) == ("tibia", True)  # guessed from the outline
    assert second["timings"]["embed_s"] < body["timings"]["embed_s"] / 10
    assert (shared_media / "sam_embeddings" / "litemedsam_bone" / f"{image.sha256}.npz").is_file()


def test_prelabel_job_drafts_unlabelled_images(shared_media, annotator_client, annotator, case):
    by_boxes, by_prediction = generate_phantom(seed=5, legs=1), generate_phantom(seed=4, legs=1)
    boxed = image_upload(case=case, data=_png(by_boxes.image), filename="boxed.png", uploaded_by=annotator)
    predicted = image_upload(case=case, data=_png(by_prediction.image), filename="predicted.png",
                             uploaded_by=annotator)
    labelled = image_upload(case=case, data=png_bytes(seed=1), filename="labelled.png", uploaded_by=annotator)
    annotation_revision_submit(image=labelled, document=labelme_document(), base_revision_id=None, source="manual",
                               author=annotator)
    unprompted = image_upload(case=case, data=png_bytes(seed=2), filename="unprompted.png", uploaded_by=annotator)
    # The uploads queued their embeddings (SAM_PRECOMPUTE_ON_UPLOAD): the worker writes them.
    embeddings = shared_media / "sam_embeddings" / "litemedsam_bone"
    assert wait_for(lambda: (embeddings / f"{boxed.sha256}.npz").is_file(), timeout=WORKER_TIMEOUT_S)

    ensemble = EnsembleVersion.objects.create(name="sam-prompts", status=VersionStatus.ACTIVE)
    Prediction.objects.create(image=predicted, ensemble_version=ensemble, status=JobStatus.SUCCEEDED,
                              document=by_prediction.labelme)
    femur, tibia = by_boxes.polygons_xy[0]
    leg = np.concatenate([np.minimum(femur.min(0), tibia.min(0)) - 10, np.maximum(femur.max(0), tibia.max(0)) + 10])
    response = annotator_client.post(reverse("inference:sam-prelabel-start"), {
        "image_ids": [boxed.pk, predicted.pk, labelled.pk, unprompted.pk],
        "boxes": {str(boxed.pk): [leg.tolist()]},
    }, format="json")
    assert response.status_code == 202
    job_id = response.json()["job"]
    finished = (PrelabelStatus.SUCCEEDED, PrelabelStatus.FAILED)
    assert wait_for(lambda: PrelabelJob.objects.get(pk=job_id).status in finished, timeout=WORKER_TIMEOUT_S)

    detail = annotator_client.get(reverse("inference:sam-prelabel-detail", kwargs={"job_id": job_id})).json()
    assert (detail["status"], detail["total"], detail["done"], detail["skipped"], detail["failed"]) == (
        "succeeded", 4, 2, 1, 1)
    assert list(detail["errors"]) == [str(unprompted.pk)] and "no prompts" in detail["errors"][str(unprompted.pk)]
    assert detail["started_at"] and detail["finished_at"]
    for image, phantom in ((boxed, by_boxes), (predicted, by_prediction)):
        revision = AnnotationRevision.objects.get(image=image)
        assert (revision.source, revision.author, revision.number) == (RevisionSource.SAM_ASSISTED, annotator, 1)
        shapes = revision.document["shapes"]
        assert [(s["label"], s["shape_type"], s["group_id"]) for s in shapes] == [
            ("femur", "polygon", None), ("tibia", "polygon", None)]
    predicted_tibia = AnnotationRevision.objects.get(image=predicted).document["shapes"][1]["points"]
    assert _iou(np.asarray(predicted_tibia), by_prediction.polygons_xy[0][1], by_prediction.image.shape) > 0.8
    assert AnnotationRevision.objects.filter(image=labelled).count() == 1
