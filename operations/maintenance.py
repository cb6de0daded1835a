"""Re-queue background jobs whose Celery message was lost.

A job's message is lost when the broker was unreachable at the moment it was published (uploads still
succeed: the enqueue runs after commit and only logs the failure) or when a worker died holding it and
the broker's visibility timeout (days, see settings) has not yet handed it to another worker. The
database still says what should exist, so :func:`requeue_pending_jobs` publishes again:

* the display derivatives of images still ``pending`` after ``queued_for``;
* a prediction by each active ensemble for images of its view that have none;
* predictions still ``queued`` after ``queued_for``, or ``running`` longer than ``running_for`` (longer
  than the inference task's hard time limit, so their worker is gone).

Publishing twice is safe: both tasks are idempotent and a Prediction is written once. Run it from cron
or a loop (``python manage.py requeue_pending``) every few minutes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from enllasd_web.queueing import publish_or_log

logger = logging.getLogger(__name__)

DEFAULT_QUEUED_FOR = timedelta(minutes=10)
DEFAULT_RUNNING_FOR = timedelta(minutes=35)  # inference_prediction_run's time_limit is 30 min


@dataclass(frozen=True)
class RequeueReport:
    """How many jobs were published again, and how many could not be (broker still down)."""

    derivatives: int
    predictions_created: int
    predictions: int
    failed: int

    def summary(self) -> str:
        return (f"{self.derivatives} derivative job(s) and {self.predictions} prediction job(s) re-queued, "
                f"{self.predictions_created} missing prediction(s) requested, {self.failed} failed to publish")


def _publish_each(ids: Iterable[int], task: Any, queue: str, kind: str) -> tuple[int, int]:
    """Publish one message per id; returns (published, failed). A broker error is logged, not raised, and
    opens the publishing circuit breaker, so a hung Redis costs one socket timeout, not one per job."""
    published = failed = 0
    for job_id in ids:
        if publish_or_log(task, args=[job_id], queue=queue, what=f"{kind} {job_id}"):
            published += 1
        else:
            failed += 1
    return published, failed


def requeue_pending_jobs(*, queued_for: timedelta = DEFAULT_QUEUED_FOR,
                         running_for: timedelta = DEFAULT_RUNNING_FOR) -> RequeueReport:
    """Publish again every derivative and prediction job the database says is still owed.

    Predictions missing altogether are requested through
    :func:`inference.services.predictions_request_missing` (which logs publishing failures itself).
    """
    from annotations.models import DerivativeStatus, Image
    from annotations.tasks import image_derivatives_create
    from inference.models import EnsembleVersion, JobStatus, Prediction, VersionStatus
    from inference.services import prediction_queue, predictions_request_missing
    from inference.tasks import inference_prediction_run

    now = timezone.now()
    pending_images = Image.objects.filter(derivative_status=DerivativeStatus.PENDING, created_at__lt=now - queued_for)
    derivatives, derivative_failures = _publish_each(
        pending_images.values_list("pk", flat=True), image_derivatives_create, "default", "derivatives of image")

    stale = Prediction.objects.filter(
        Q(status=JobStatus.QUEUED, created_at__lt=now - queued_for)
        | Q(status=JobStatus.RUNNING, created_at__lt=now - running_for)
    )
    predictions = prediction_failures = 0
    for interactive in (True, False):
        published, failed = _publish_each(
            list(stale.filter(interactive=interactive).values_list("pk", flat=True)), inference_prediction_run,
            prediction_queue(interactive=interactive), "prediction")
        predictions, prediction_failures = predictions + published, prediction_failures + failed
    created = sum(predictions_request_missing(ensemble=ensemble)
                  for ensemble in EnsembleVersion.objects.filter(status=VersionStatus.ACTIVE))
    report = RequeueReport(derivatives=derivatives, predictions_created=created, predictions=predictions,
                           failed=derivative_failures + prediction_failures)
    logger.info("requeue_pending_jobs: %s", report.summary())
    return report
