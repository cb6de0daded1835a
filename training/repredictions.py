"""Running a re-prediction job (worker side): every image of the job predicted by its ensemble, in this process.

Called by :func:`training.tasks.repredict_job_run`; :mod:`training.promotions` creates and queues the jobs.
"""

from __future__ import annotations

import logging

from django.db.models import F
from django.utils import timezone

from annotations.models import Image
from inference.models import JobStatus, Prediction
from inference.predictions import prediction_fail, prediction_run
from inference.services import prediction_request
from training.models import RepredictJob, RunStatus
from training.selectors import pending_images

logger = logging.getLogger(__name__)


def _job_images(job: RepredictJob) -> list[Image]:
    chosen = set(job.image_ids)
    if job.include_pending:
        chosen.update(pending_images(view=job.ensemble.view).values_list("pk", flat=True))
    return list(Image.objects.filter(pk__in=chosen).select_related("case").order_by("id"))


def repredict_job_run(*, job: RepredictJob) -> RepredictJob:
    """Predict every image of the job that ``job.ensemble`` has not yet predicted successfully.

    Progress is kept on the row: ``total`` images, of which ``skipped`` already had a prediction,
    ``done`` succeeded and ``failed`` failed (the error is on the Prediction row).
    """
    if job.status in {RunStatus.SUCCEEDED, RunStatus.CANCELLED}:
        return job
    images = _job_images(job)
    predicted = set(Prediction.objects.filter(ensemble_version=job.ensemble, image__in=images,
                                              status=JobStatus.SUCCEEDED).values_list("image_id", flat=True))
    RepredictJob.objects.filter(pk=job.pk).update(status=RunStatus.RUNNING, total=len(images),
                                                  skipped=len(predicted), done=0, failed=0)
    try:
        for image in images:
            if image.pk in predicted:
                continue
            prediction = prediction_request(image=image, ensemble=job.ensemble, enqueue=False)
            try:
                prediction_run(prediction=prediction)
            except Exception as exc:  # noqa: BLE001 - recorded on the prediction; the job goes on
                logger.exception("re-prediction job %s: image %s failed", job.pk, image.pk)
                prediction_fail(prediction_id=prediction.pk, error=f"{type(exc).__name__}: {exc}")
                RepredictJob.objects.filter(pk=job.pk).update(failed=F("failed") + 1)
            else:
                RepredictJob.objects.filter(pk=job.pk).update(done=F("done") + 1)
    except Exception as exc:
        RepredictJob.objects.filter(pk=job.pk).update(status=RunStatus.FAILED, error=str(exc)[:10000],
                                                      finished_at=timezone.now())
        raise
    RepredictJob.objects.filter(pk=job.pk).update(status=RunStatus.SUCCEEDED, finished_at=timezone.now())
    job.refresh_from_db()
    return job
