"""Recorded promotion and rollback of the active ensemble, and queued re-prediction with the new one.

The promotion itself is :func:`training.activation.ensemble_activate`; the re-prediction job runs in
:mod:`training.repredictions` (called by :func:`training.tasks.repredict_job_run`).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from annotations.models import Image
from enllasd_web.exceptions import Conflict, InvalidInput
from enllasd_web.queueing import publish_or_log
from inference.models import EnsembleVersion, VersionStatus
from training import tasks
from training.activation import ensemble_activate
from training.models import EnsembleComparison, EnsemblePromotion, RepredictJob


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
    with transaction.atomic():
        promotion = ensemble_activate(ensemble=ensemble, promoted_by=promoted_by, reason=reason, comparison=comparison,
                                      rollback_of=rollback_of)
        if repredict:
            repredict_job_create(ensemble=ensemble, image_ids=repredict_image_ids, created_by=promoted_by,
                                 promotion=promotion)
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
    # On failure the job stays queued; it can be re-queued from the admin.
    publish_or_log(tasks.repredict_job_run, args=[job_id], queue="inference", what=f"re-prediction job {job_id}")
