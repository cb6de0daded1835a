"""Celery tasks of the inference app (queue ``inference``).

Thin: each loads its row and calls the worker side (:mod:`inference.predictions`, :mod:`inference.sam_compute`);
:mod:`inference.services` and :mod:`inference.sam_services` queue them and are never imported here.
"""

from __future__ import annotations

import logging

from django.db import OperationalError

from annotations.models import Image
from enllasd_web.celery import app
from enllasd_web.exceptions import InvalidInput
from inference import sam_compute
from inference.models import Prediction
from inference.predictions import prediction_fail, prediction_run
from inference.sam.promptable import SamUnavailable
from inference.sam.registry import get_segmenter

logger = logging.getLogger(__name__)


@app.task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=3, time_limit=1800,
          soft_time_limit=1700)
def inference_prediction_run(self, prediction_id: int) -> str:  # noqa: ANN001 - Celery binds self
    """Run the ensemble for one Prediction row; safe to redeliver (the row is written once)."""
    prediction = Prediction.objects.select_related("image", "ensemble_version").filter(pk=prediction_id).first()
    if prediction is None:
        return "missing"
    try:
        prediction_run(prediction=prediction)
    except (OperationalError, ConnectionError, TimeoutError) as exc:  # transient: try again
        raise self.retry(exc=exc, countdown=10) from exc
    except Exception as exc:
        logger.exception("prediction %s failed", prediction_id)
        prediction_fail(prediction_id=prediction_id, error=f"{type(exc).__name__}: {exc}")
        raise
    return "succeeded"


# --- SAM assist: decodes on "sam", embeddings on "sam_precompute", pre-labelling on "sam_batch" --------------


@app.task(acks_late=True, reject_on_worker_lost=True, time_limit=1800, soft_time_limit=1700)
def sam_embedding_compute(image_id: int, model: str) -> str:
    """Cache the image's embedding by ``model`` (queued after upload); safe to run twice."""
    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        return "missing"
    computed = sam_compute.sam_embedding_compute(image=image, model=model)
    return "computed" if computed else "cached"


@app.task(acks_late=False, time_limit=600, soft_time_limit=570)
def sam_warmup(model: str) -> str:
    """Load ``model`` into this worker process (queued by a sam worker when it starts, see enllasd_web/celery.py)."""
    try:
        get_segmenter(model)
    except SamUnavailable as exc:  # the first click says why; nothing to retry
        logger.warning("SAM model %s not loaded at start: %s", model, exc)
        return "unavailable"
    return "loaded"


# The one task whose result is read (the API waits for it), hence ignore_result=False against the
# project-wide CELERY_TASK_IGNORE_RESULT; not acknowledged late, since a redelivered decode has no caller.
@app.task(acks_late=False, ignore_result=False, time_limit=600, soft_time_limit=570)
def sam_decode(image_id: int, model: str, points: list[list[float]] | None, labels: list[int] | None,
               box: list[float] | None, tolerance_px: float) -> dict:
    """Outline the prompted object; a caller is waiting, so expected failures come back as
    ``{"error": {"code", "message"}}`` instead of an exception."""
    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        return {"error": {"code": "not_found", "message": f"Image {image_id} does not exist."}}
    try:
        return sam_compute.sam_image_decode(image=image, model=model, points=points, labels=labels, box=box,
                                             tolerance_px=tolerance_px)
    except SamUnavailable as exc:
        return {"error": {"code": "model_unavailable", "message": str(exc)}}
    except InvalidInput as exc:
        return {"error": {"code": "invalid_prompt", "message": exc.message}}


@app.task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=3, time_limit=6 * 3600,
          soft_time_limit=6 * 3600 - 60)
def sam_prelabel_run(self, job_id: int) -> str:  # noqa: ANN001 - Celery binds self
    """Run a SAM pre-labelling job; a redelivered job resumes after its last saved image."""
    try:
        job = sam_compute.prelabel_job_run(job_id=job_id)
    except (OperationalError, ConnectionError, TimeoutError) as exc:  # transient: try again
        raise self.retry(exc=exc, countdown=10) from exc
    except Exception as exc:
        logger.exception("SAM pre-label job %s failed", job_id)
        sam_compute.prelabel_job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        raise
    return job.status
