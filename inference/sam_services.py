"""SAM assist: interactive decoding, embedding precompute, batch pre-labelling (services, web side).

The web process only validates, enqueues (decodes on the interactive ``sam`` queue, embeddings after upload
on ``sam_precompute``, pre-labelling jobs on ``sam_batch``) and waits (:func:`sam_decode_request`,
:func:`prelabel_job_start`, :func:`sam_embedding_enqueue`); it never imports torch. The functions that
run a model (:func:`~inference.sam_compute.sam_image_decode`, :func:`~inference.sam_compute.prelabel_job_run`,
...) live in :mod:`inference.sam_compute` and run in a sam worker, called by the tasks in :mod:`inference.tasks`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from annotations.models import Image
from enllasd_web.exceptions import ApplicationError, InvalidInput
from enllasd_web.queueing import BrokerUnavailable, publish
from inference import tasks
from inference.models import ModelKind, ModelVersion, PrelabelJob, PrelabelStatus, VersionStatus
from inference.sam.prelabel_prompts import prompts_from_leg_boxes
from inference.sam.registry import LITEMEDSAM_BONE, model_availability, model_names
from inference.sam_prompts import prompts_checked

logger = logging.getLogger(__name__)

DEFAULT_TOLERANCE_PX = 1.5



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


def sam_decode_request(*, image: Image, model: str | None = None, points: Sequence[Sequence[float]] | None = None,
                       labels: Sequence[int] | None = None, box: Sequence[float] | None = None,
                       tolerance_px: float = DEFAULT_TOLERANCE_PX) -> dict[str, Any]:
    """Outline the object the prompts point at, by a sam worker, and wait for the answer.

    Returns the :func:`~inference.sam_compute.sam_image_decode` payload plus ``model``.

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

    name = _model_ready(model)
    checked_points, checked_labels, checked_box = prompts_checked(image, points, labels, box)
    timeout = settings.SAM_DECODE_TIMEOUT_S
    try:
        result = publish(tasks.sam_decode, args=[image.pk, name, checked_points, checked_labels, checked_box, tolerance_px],
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


def sam_embedding_enqueue(*, image: Image, queue: str = "sam_precompute") -> None:
    """Queue the default model's embedding of a new image on ``queue``, when configured and the model can run.

    Never raises: an upload must not fail because Redis or the model is missing (a warning is logged
    and the embedding is made on the first decode instead).
    """
    if not settings.SAM_PRECOMPUTE_ON_UPLOAD:
        return
    name = settings.SAM_DEFAULT_MODEL
    try:
        if not model_availability(name).available:
            return
        publish(tasks.sam_embedding_compute, args=[image.pk, name], queue=queue)
    except Exception as exc:  # noqa: BLE001 - any failure here must not fail the upload
        logger.warning("Could not queue the SAM embedding of image %s: %s", image.pk, exc)


def sam_embedding_enqueue_for_upload(*, image: Image, interactive: bool) -> None:
    """Upload hook (registered by :class:`inference.apps.InferenceConfig`): :func:`sam_embedding_enqueue`.

    A person's upload is embedded on ``interactive_sam``, which the bulk worker takes after every upload's
    prediction and before any import's work, so that the first SAM click on a fresh upload finds its embedding
    (issue 26, item 4) without a second upload's prediction waiting for the first one's embedding (issue 27,
    item 4); an import's images go to ``sam_precompute``, last.
    """
    sam_embedding_enqueue(image=image, queue="interactive_sam" if interactive else "sam_precompute")


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
    try:
        publish(tasks.sam_prelabel_run, args=[job_id], queue="sam_batch")
    except BrokerUnavailable as exc:  # the job stays queued; the error is on the row
        logger.warning("Could not queue SAM pre-label job %s: %s", job_id, exc)
        PrelabelJob.objects.filter(pk=job_id).update(error=f"Could not be queued: {exc}"[:10000])


def prelabel_job_cancel(*, job: PrelabelJob) -> PrelabelJob:
    """Stop a queued or running job after its current image; finished jobs are left as they are."""
    PrelabelJob.objects.filter(pk=job.pk, status__in=[PrelabelStatus.QUEUED, PrelabelStatus.RUNNING]).update(
        status=PrelabelStatus.CANCELLED, finished_at=timezone.now())
    job.refresh_from_db()
    return job
