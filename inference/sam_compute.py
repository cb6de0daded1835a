"""SAM assist, worker side: embeddings, decodes and pre-labelling jobs that run a model.

Called by the tasks in :mod:`inference.tasks` in a sam worker (and by tests and benchmarks in their own
process); :mod:`inference.sam_services` validates and queues them from the web process.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.utils import timezone

from annotations.core.raster import mask_to_polygon
from annotations.models import Image, RevisionSource
from annotations.services import annotation_revision_submit
from enllasd_web.exceptions import Conflict
from inference.models import JobStatus, PrelabelJob, PrelabelStatus, Prediction
from inference.predictions import image_pixels
from inference.sam.prelabel_prompts import BonePrompt, prompts_from_leg_boxes, prompts_from_prediction
from inference.sam.promptable import Embedding, PromptableSegmenter
from inference.sam.registry import embedding_cache, get_segmenter
from inference.sam.tuning_prompts import guess_bone
from inference.sam_prompts import prompts_checked
from inference.selectors import ensemble_active

logger = logging.getLogger(__name__)

PRELABEL_TOLERANCE_PX = 1.0


@dataclass(frozen=True)
class CachedEmbedding:
    """An image's embedding, whether it came from the cache, and the seconds it took to get."""

    embedding: Embedding
    cached: bool
    seconds: float


def sam_embedding_get_or_compute(*, image: Image, segmenter: PromptableSegmenter) -> CachedEmbedding:
    """The image's embedding by ``segmenter``: from the cache, else computed and cached."""
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
    checked_points, checked_labels, checked_box = prompts_checked(image, points, labels, box)
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
