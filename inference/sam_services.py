"""SAM assist: interactive decoding, embedding precompute, batch pre-labelling (services).

The web process only validates, enqueues (decodes on the interactive ``sam`` queue, embeddings after upload
on ``sam_precompute``, pre-labelling jobs on ``sam_batch``) and waits (:func:`sam_decode_request`,
:func:`prelabel_job_start`, :func:`sam_embedding_enqueue`); it never imports torch. The functions that
run a model (:func:`sam_image_decode`, :func:`sam_embedding_get_or_compute`, :func:`prelabel_job_run`)
run in a sam worker, called by the tasks in :mod:`inference.tasks`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from annotations.models import Image, RevisionSource
from enllasd_web.exceptions import ApplicationError, Conflict, InvalidInput
from enllasd_web.queueing import BrokerUnavailable, publish
from inference.models import (
    JobStatus,
    ModelKind,
    ModelVersion,
    PrelabelJob,
    PrelabelStatus,
    Prediction,
    VersionStatus,
)
from inference.sam.prelabel_prompts import BonePrompt, prompts_from_leg_boxes, prompts_from_prediction
from inference.sam.promptable import Embedding, PromptableSegmenter, check_prompts
from inference.sam.registry import LITEMEDSAM_BONE, embedding_cache, get_segmenter, model_availability, model_names
from inference.sam.tuning_prompts import guess_bone

logger = logging.getLogger(__name__)

DEFAULT_TOLERANCE_PX = 1.5
PRELABEL_TOLERANCE_PX = 1.0


class SamModelUnavailable(ApplicationError):
    """The SAM model cannot answer now (no checkpoint, no package, no sam worker): HTTP 503."""

    status_code = 503


# --------------------------------------------------------------------------------------------------
# Web side: validate and enqueue


def _model_ready(model: str | None) -> str:
    """The model name to use (default when ``None``), checked to exist and be able to run here."""
    name = model or settings.SAM_DEFAULT_MODEL
    if name not in model_names():
        raise InvalidInput(f"Unknown SAM model {name!r}; known: {', '.join(model_names())}.",
                           {"code": "unknown_model", "models": model_names()})
    availability = model_availability(name)
    if not availability.available:
        raise SamModelUnavailable(availability.message, {"code": "model_unavailable", "model": name})
    return name


def _prompts(image: Image, points: Sequence[Sequence[float]] | None, labels: Sequence[int] | None,
             box: Sequence[float] | None) -> tuple[list[list[float]] | None, list[int] | None, list[float] | None]:
    """Prompts as JSON lists, validated against the image (labels default to all positive)."""
    if points is not None and labels is None:
        labels = [1] * len(points)
    try:
        checked_points, checked_labels, checked_box = check_prompts(
            None if points is None else np.asarray(points, dtype=np.float64),
            None if labels is None else np.asarray(labels),
            None if box is None else np.asarray(box, dtype=np.float64),
            size_hw=(image.height, image.width),
        )
    except (ValueError, TypeError) as exc:
        raise InvalidInput(str(exc), {"code": "invalid_prompt"}) from exc
    return (None if checked_points is None else checked_points.tolist(),
            None if checked_labels is None else checked_labels.tolist(),
            None if checked_box is None else checked_box.tolist())


def sam_decode_request(*, image: Image, model: str | None = None, points: Sequence[Sequence[float]] | None = None,
                       labels: Sequence[int] | None = None, box: Sequence[float] | None = None,
                       tolerance_px: float = DEFAULT_TOLERANCE_PX) -> dict[str, Any]:
    """Outline the object the prompts point at, by a sam worker, and wait for the answer.

    Returns the :func:`sam_image_decode` payload plus ``model``.

    Raises
    ------
    InvalidInput
        Unknown model, no prompt, bad shapes, points outside the image.
    SamModelUnavailable
        The model cannot run (e.g. no checkpoint), the queue is unreachable, or no sam worker answered
        within ``SAM_DECODE_TIMEOUT_S``.
    """
    from celery.exceptions import TaskRevokedError
    from celery.exceptions import TimeoutError as CeleryTimeout

    from inference.tasks import sam_decode

    name = _model_ready(model)
    checked_points, checked_labels, checked_box = _prompts(image, points, labels, box)
    timeout = settings.SAM_DECODE_TIMEOUT_S
    try:
        result = publish(sam_decode, args=[image.pk, name, checked_points, checked_labels, checked_box, tolerance_px],
                         queue="sam", expires=timeout)
    except BrokerUnavailable as exc:
        logger.warning("Could not queue a SAM decode for image %s: %s", image.pk, exc)
        raise SamModelUnavailable("The SAM queue cannot be reached; try again later.",
                                  {"code": "sam_queue_unreachable"}) from exc
    try:
        payload = result.get(timeout=timeout)
    except (CeleryTimeout, TaskRevokedError) as exc:  # revoked: it expired before a worker took it
        raise _sam_timeout(timeout) from exc
    result.forget()
    error = payload.get("error")
    if error is not None:
        error_class = SamModelUnavailable if error["code"] == "model_unavailable" else InvalidInput
        raise error_class(error["message"], {"code": error["code"]})
    return {**payload, "model": name}


def _sam_timeout(timeout: int) -> SamModelUnavailable:
    """Why no answer came: the sam worker is running but busy, or there is none (worker heartbeats)."""
    from enllasd_web.worker_status import queue_state

    try:
        state = queue_state(queue="sam")
    except Exception as exc:  # noqa: BLE001 - Redis went away meanwhile: say what is known
        logger.warning("Could not read the sam queue's state: %s", exc)
        return SamModelUnavailable(f"No SAM worker answered within {timeout} s.",
                                   {"code": "sam_worker_timeout", "timeout_s": timeout})
    if state.consumed:
        return SamModelUnavailable(
            f"The SAM worker is running but busy: it did not answer within {timeout} s "
            f"({state.waiting} request(s) in its queue). Try again in a moment.",
            {"code": "sam_worker_busy", "timeout_s": timeout, "waiting": state.waiting,
             "workers": list(state.workers)})
    return SamModelUnavailable(
        "No SAM worker is running: nothing consumes the 'sam' queue. Start one (scripts/run does; "
        "celery -A enllasd_web worker -Q sam --concurrency 1 --prefetch-multiplier 1).",
        {"code": "sam_worker_absent", "timeout_s": timeout})


def sam_embedding_enqueue(*, image: Image) -> None:
    """Queue the default model's embedding of a new image, when configured and the model can run.

    Never raises: an upload must not fail because Redis or the model is missing (a warning is logged
    and the embedding is made on the first decode instead).
    """
    if not settings.SAM_PRECOMPUTE_ON_UPLOAD:
        return
    name = settings.SAM_DEFAULT_MODEL
    try:
        if not model_availability(name).available:
            return
        from inference.tasks import sam_embedding_compute

        publish(sam_embedding_compute, args=[image.pk, name], queue="sam_precompute")
    except Exception as exc:  # noqa: BLE001 - any failure here must not fail the upload
        logger.warning("Could not queue the SAM embedding of image %s: %s", image.pk, exc)


def sam_bone_weights_activate(*, weights: ModelVersion | None) -> ModelVersion | None:
    """Make ``weights`` the tuned decoder ``litemedsam_bone`` loads (``None``: the shipped file) and retire
    the one active before, which is returned (``None``: it was the shipped file).

    Every worker loads the new weights on its next call (:func:`inference.sam.registry.get_segmenter`).
    Recording who did it and why is :mod:`training.sam_promotions`' job.

    Raises
    ------
    InvalidInput
        ``weights`` is not a tuned SAM bone decoder.
    """
    if weights is not None and (weights.kind != ModelKind.PROMPTABLE or weights.backend != LITEMEDSAM_BONE):
        raise InvalidInput(f"Model version {weights.pk} is not a tuned {LITEMEDSAM_BONE} decoder.",
                           {"code": "not_sam_weights"})
    with transaction.atomic():
        active = ModelVersion.objects.select_for_update().filter(
            kind=ModelKind.PROMPTABLE, backend=LITEMEDSAM_BONE, status=VersionStatus.ACTIVE)
        previous = active.first()
        active.exclude(pk=None if weights is None else weights.pk).update(status=VersionStatus.RETIRED)
        if weights is not None:
            weights.status = VersionStatus.ACTIVE
            weights.save(update_fields=["status"])
    logger.info("SAM bone weights: %s active (was %s)", weights.pk if weights else "shipped",
                previous.pk if previous else "shipped")
    return previous


def _leg_boxes(boxes: dict[str, Any] | None, image_ids: Sequence[int]) -> dict[str, list[list[float]]]:
    checked: dict[str, list[list[float]]] = {}
    for key, legs in (boxes or {}).items():
        if str(key) not in {str(i) for i in image_ids}:
            raise InvalidInput(f"Boxes given for image {key}, which is not in the job.", {"code": "invalid_boxes"})
        try:
            prompts_from_leg_boxes(legs)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"Boxes of image {key}: {exc}", {"code": "invalid_boxes"}) from exc
        checked[str(key)] = [[float(v) for v in box] for box in legs]
    return checked


def prelabel_job_start(*, image_ids: Sequence[int], boxes: dict[str, Any] | None = None, model: str | None = None,
                       user: AbstractBaseUser | None = None) -> PrelabelJob:
    """Create a pre-labelling job for ``image_ids`` and queue it on the sam queue.

    ``boxes`` maps an image id to one whole-leg box per leg (see
    :mod:`inference.sam.prelabel_prompts`); images without boxes need a prediction by the active
    ensemble. Also the entry point for a Django admin action on images.

    Raises
    ------
    InvalidInput
        No images, unknown image ids, bad boxes, unknown model.
    SamModelUnavailable
        The model cannot run here.
    """
    name = _model_ready(model)
    ids = list(dict.fromkeys(int(i) for i in image_ids))
    if not ids:
        raise InvalidInput("Give at least one image.", {"code": "no_images"})
    found = set(Image.objects.filter(pk__in=ids).values_list("pk", flat=True))
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidInput(f"Unknown image ids: {missing[:20]}.", {"code": "unknown_images", "image_ids": missing})
    with transaction.atomic():
        job = PrelabelJob(model=name, image_ids=ids, boxes=_leg_boxes(boxes, ids), total=len(ids), created_by=user)
        job.full_clean()
        job.save()
        transaction.on_commit(lambda: _prelabel_enqueue(job.pk))
    return job


def _prelabel_enqueue(job_id: int) -> None:
    from inference.tasks import sam_prelabel_run

    try:
        publish(sam_prelabel_run, args=[job_id], queue="sam_batch")
    except BrokerUnavailable as exc:  # the job stays queued; the error is on the row
        logger.warning("Could not queue SAM pre-label job %s: %s", job_id, exc)
        PrelabelJob.objects.filter(pk=job_id).update(error=f"Could not be queued: {exc}"[:10000])


def prelabel_job_cancel(*, job: PrelabelJob) -> PrelabelJob:
    """Stop a queued or running job after its current image; finished jobs are left as they are."""
    PrelabelJob.objects.filter(pk=job.pk, status__in=[PrelabelStatus.QUEUED, PrelabelStatus.RUNNING]).update(
        status=PrelabelStatus.CANCELLED, finished_at=timezone.now())
    job.refresh_from_db()
    return job


# --------------------------------------------------------------------------------------------------
# Worker side: run the model


@dataclass(frozen=True)
class CachedEmbedding:
    """An image's embedding, whether it came from the cache, and the seconds it took to get."""

    embedding: Embedding
    cached: bool
    seconds: float


def sam_embedding_get_or_compute(*, image: Image, segmenter: PromptableSegmenter) -> CachedEmbedding:
    """The image's embedding by ``segmenter``: from the cache, else computed and cached."""
    from inference.services import image_pixels

    started = time.perf_counter()
    cache = embedding_cache()
    embedding = cache.get(model=segmenter.name, sha256=image.sha256, weights_id=segmenter.weights_id)
    if embedding is not None:
        return CachedEmbedding(embedding, True, time.perf_counter() - started)
    pixels, _ = image_pixels(image)
    embedding = cache.put(segmenter.embed(pixels), sha256=image.sha256)
    logger.info("SAM embedding of image %s by %s computed", image.pk, segmenter.name)
    return CachedEmbedding(embedding, False, time.perf_counter() - started)


def _outline(mask: np.ndarray, tolerance_px: float) -> list[list[list[float]]]:
    """The outer boundary of the mask's largest component as ``[[[x, y], ...]]`` ([] for an empty mask)."""
    from annotations.core.raster import mask_to_polygon

    rings = mask_to_polygon(mask, tolerance_px=tolerance_px)[:1]
    return [np.round(ring, 2).tolist() for ring in rings]


def sam_image_decode(*, image: Image, model: str, points: list[list[float]] | None, labels: list[int] | None,
                     box: list[float] | None, tolerance_px: float) -> dict[str, Any]:
    """Decode the prompts on the image (worker side).

    Returns
    -------
    dict
        ``{"polygons": [[[x, y], ...]], "score", "bone_guess", "embedding_cached", "timings": {"embed_s",
        "decode_s", "total_s"}}``; ``bone_guess`` is ``"femur"``/``"tibia"`` from where the mask lies
        (:func:`~inference.sam.tuning_prompts.guess_bone`; ``None`` for an empty mask); ``polygons`` holds the outer ring of the largest component (empty when the model
        found nothing), simplified with Douglas-Peucker at ``tolerance_px``.

    Raises
    ------
    SamUnavailable
        The model cannot be loaded.
    InvalidInput
        Prompts that do not fit the image.
    """
    started = time.perf_counter()
    checked_points, checked_labels, checked_box = _prompts(image, points, labels, box)
    segmenter = get_segmenter(model)
    cached = sam_embedding_get_or_compute(image=image, segmenter=segmenter)
    decode_started = time.perf_counter()
    decoded = segmenter.decode(
        cached.embedding,
        None if checked_points is None else np.asarray(checked_points),
        None if checked_labels is None else np.asarray(checked_labels),
        None if checked_box is None else np.asarray(checked_box),
    )
    polygons = _outline(decoded.mask, tolerance_px)
    decode_s = time.perf_counter() - decode_started
    return {
        "polygons": polygons,
        "score": round(decoded.score, 4),
        "bone_guess": guess_bone(decoded.mask),
        "embedding_cached": cached.cached,
        "timings": {"embed_s": round(cached.seconds, 4), "decode_s": round(decode_s, 4),
                    "total_s": round(time.perf_counter() - started, 4)},
    }


def sam_embedding_compute(*, image: Image, model: str) -> bool:
    """Make sure the image's embedding by ``model`` is cached; True when it had to be computed."""
    return not sam_embedding_get_or_compute(image=image, segmenter=get_segmenter(model)).cached


def _prelabel_prompts(job: PrelabelJob, image: Image) -> list[BonePrompt]:
    """Prompts from the active ensemble's prediction, else from the job's leg boxes for the image."""
    from inference.services import ensemble_active

    ensemble = ensemble_active(view=image.case.view)
    prediction = None if ensemble is None else Prediction.objects.filter(
        image=image, ensemble_version=ensemble, status=JobStatus.SUCCEEDED).first()
    if prediction is not None and prediction.document:
        prompts = prompts_from_prediction(prediction.document)
        if prompts:
            return prompts
    boxes = job.boxes.get(str(image.pk))
    if boxes:
        return prompts_from_leg_boxes(boxes)
    raise ValueError("no prompts: the active ensemble has no prediction for this image and no leg box was given")


def _prelabel_image(job: PrelabelJob, image: Image, segmenter: PromptableSegmenter) -> int | None:
    """Draft and store one image's outlines; the new revision's id, or None when it already had one."""
    from annotations.services import annotation_revision_submit

    if image.head_revision_id is not None:
        return None
    prompts = _prelabel_prompts(job, image)
    embedding = sam_embedding_get_or_compute(image=image, segmenter=segmenter).embedding
    two_legs = len({prompt.leg for prompt in prompts}) > 1
    shapes = []
    for prompt in prompts:
        decoded = segmenter.decode(embedding, prompt.points_xy, prompt.point_labels, prompt.box_xyxy)
        rings = _outline(decoded.mask, PRELABEL_TOLERANCE_PX)
        if not rings:
            raise ValueError(f"SAM found no {prompt.bone} in leg {prompt.leg}")
        shapes.append({"label": prompt.bone, "points": rings[0], "group_id": prompt.leg if two_legs else None,
                       "description": f"SAM {segmenter.name}, score {decoded.score:.3f}", "shape_type": "polygon",
                       "flags": {}})
    document = {"version": "5.2.1", "flags": {}, "shapes": shapes, "imagePath": image.original_name,
                "imageData": None, "imageHeight": image.height, "imageWidth": image.width}
    try:
        revision = annotation_revision_submit(image=image, document=document, base_revision_id=None,
                                              source=RevisionSource.SAM_ASSISTED, author=job.created_by,
                                              message=f"SAM pre-label job {job.pk} ({segmenter.name})")
    except Conflict:  # someone annotated it meanwhile: theirs wins
        return None
    return revision.pk


def prelabel_job_run(*, job_id: int) -> PrelabelJob:
    """Run (or resume after a redelivery) a pre-labelling job, saving progress after every image.

    Images that already have a revision are skipped; an image that fails is recorded in ``errors``
    and the job goes on. A job cancelled meanwhile stops before its next image.

    Raises
    ------
    SamUnavailable
        The model cannot be loaded (the task then marks the job failed).
    """
    job = PrelabelJob.objects.get(pk=job_id)
    if job.status not in (PrelabelStatus.QUEUED, PrelabelStatus.RUNNING):
        return job
    job.status, job.started_at = PrelabelStatus.RUNNING, job.started_at or timezone.now()
    job.save(update_fields=["status", "started_at"])
    segmenter = get_segmenter(job.model)
    for image_id in job.image_ids[job.done + job.skipped + job.failed:]:
        if PrelabelJob.objects.filter(pk=job.pk, status=PrelabelStatus.CANCELLED).exists():
            break
        image = Image.objects.select_related("case").filter(pk=image_id).first()
        try:
            if image is None:
                raise ValueError("the image no longer exists")
            if _prelabel_image(job, image, segmenter) is None:
                job.skipped += 1
            else:
                job.done += 1
        except Exception as exc:  # noqa: BLE001 - one bad image must not stop the batch; recorded below
            logger.warning("SAM pre-label job %s: image %s failed: %s", job.pk, image_id, exc)
            job.failed += 1
            job.errors[str(image_id)] = f"{type(exc).__name__}: {exc}"[:1000]
        job.save(update_fields=["done", "skipped", "failed", "errors"])
    PrelabelJob.objects.filter(pk=job.pk, status=PrelabelStatus.RUNNING).update(
        status=PrelabelStatus.SUCCEEDED, finished_at=timezone.now())
    job.refresh_from_db()
    return job


def prelabel_job_fail(*, job_id: int, error: str) -> None:
    """Mark a job failed as a whole (the model could not load, the database went away, ...)."""
    PrelabelJob.objects.filter(pk=job_id, status__in=[PrelabelStatus.QUEUED, PrelabelStatus.RUNNING]).update(
        status=PrelabelStatus.FAILED, error=error[:10000], finished_at=timezone.now())

