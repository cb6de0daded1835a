"""Recorded promotion and rollback of the active ensemble, and re-prediction with the new one."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotations.models import Image
from enllasd_web.exceptions import Conflict, InvalidInput
from enllasd_web.queueing import publish_or_log
from inference.models import EnsembleVersion, JobStatus, Prediction, VersionStatus
from inference.services import ensemble_version_promote, prediction_fail, prediction_request, prediction_run
from training.models import EnsembleComparison, EnsemblePromotion, RepredictJob, RunStatus
from training.selectors import pending_images

logger = logging.getLogger(__name__)


def ensemble_promote(
    *,
    ensemble: EnsembleVersion,
    promoted_by: AbstractBaseUser | None,
    reason: str = "",
    comparison: EnsembleComparison | None = None,
    repredict: bool = True,
    repredict_image_ids: Sequence[int] = (),
    rollback_of: EnsemblePromotion | None = None,
) -> EnsemblePromotion:
    """Make ``ensemble`` the active one of its view and record who did it, when and why.

    With ``repredict`` a :class:`RepredictJob` then predicts the view's pending images (and
    ``repredict_image_ids``) with it.

    Raises
    ------
    Conflict
        ``ensemble`` is already active.
    InvalidInput
        ``comparison`` is not about ``ensemble``.
    """
    if comparison is not None and comparison.candidate_id != ensemble.pk:
        raise InvalidInput(
            f"Comparison {comparison.pk} is about ensemble {comparison.candidate_id}, not {ensemble.pk}.",
            {"code": "comparison_mismatch"})
    with transaction.atomic():
        previous = (EnsembleVersion.objects.select_for_update()
                    .filter(view=ensemble.view, status=VersionStatus.ACTIVE).first())
        if previous is not None and previous.pk == ensemble.pk:
            raise Conflict(f"Ensemble {ensemble.pk} is already the active one of view {ensemble.view}.",
                           {"code": "already_active"})
        ensemble_version_promote(ensemble=ensemble)
        promotion = EnsemblePromotion(ensemble=ensemble, previous_active=previous, comparison=comparison,
                                      rollback_of=rollback_of, promoted_by=promoted_by, reason=reason[:500])
        promotion.full_clean()
        promotion.save()
        if repredict:
            repredict_job_create(ensemble=ensemble, image_ids=repredict_image_ids, created_by=promoted_by,
                                 promotion=promotion)
    logger.info("ensemble %s promoted (view %s, previous %s)", ensemble.pk, ensemble.view,
                previous.pk if previous else None)
    return promotion


def ensemble_rollback(*, view: str, promoted_by: AbstractBaseUser | None, reason: str = "") -> EnsemblePromotion:
    """Undo the latest promotion of ``view`` that is still in force: its previous ensemble becomes active.

    Rollbacks stack: rolling back twice after promoting A, B, C makes A active again.

    Raises
    ------
    Conflict
        No promotion to undo, the latest one had no previous ensemble, or the active ensemble was not
        set by it.
    """
    latest = (EnsemblePromotion.objects.filter(ensemble__view=view, rollback_of__isnull=True,
                                               rolled_back_by__isnull=True)
              .select_related("ensemble", "previous_active").order_by("-id").first())
    if latest is None or latest.previous_active is None:
        raise Conflict(f"Nothing to roll back to for view {view}.", {"code": "nothing_to_roll_back"})
    if latest.ensemble.status != VersionStatus.ACTIVE:
        raise Conflict(f"The active ensemble of view {view} was not set by promotion {latest.pk}.",
                       {"code": "promotion_not_in_force", "promotion": latest.pk})
    return ensemble_promote(ensemble=latest.previous_active, promoted_by=promoted_by,
                            reason=reason or f"Rollback of promotion {latest.pk}", rollback_of=latest)


def repredict_job_create(
    *,
    ensemble: EnsembleVersion,
    image_ids: Sequence[int] = (),
    include_pending: bool = True,
    created_by: AbstractBaseUser | None = None,
    promotion: EnsemblePromotion | None = None,
) -> RepredictJob:
    """Record a re-prediction job and queue it on the ``inference`` queue.

    Raises
    ------
    InvalidInput
        A selected image does not exist or is not of the ensemble's view.
    """
    selected = sorted(set(int(i) for i in image_ids))
    found = set(Image.objects.filter(pk__in=selected, case__view=ensemble.view).values_list("pk", flat=True))
    if missing := [i for i in selected if i not in found]:
        raise InvalidInput(f"Images {missing} do not exist or are not {ensemble.view} images.",
                           {"code": "invalid_images", "images": missing})
    job = RepredictJob(ensemble=ensemble, image_ids=selected, include_pending=include_pending,
                       created_by=created_by, promotion=promotion)
    job.full_clean()
    with transaction.atomic():
        job.save()
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from training.tasks import repredict_job_run as task

    # On failure the job stays queued; it can be re-queued from the admin.
    publish_or_log(task, args=[job_id], queue="inference", what=f"re-prediction job {job_id}")


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
