"""Comparing a candidate ensemble with the active one on the approved revisions of an evaluation snapshot.

Here a comparison is recorded and queued; it runs in :mod:`training.comparison_runs` (called by
:func:`training.tasks.ensemble_comparison_run`).
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from enllasd_web.exceptions import InvalidInput
from enllasd_web.queueing import publish_or_log
from inference.models import EnsembleVersion
from inference.selectors import ensemble_active
from training import tasks
from training.models import DatasetSnapshot, EnsembleComparison


def ensemble_comparison_create(
    *,
    candidate: EnsembleVersion,
    dataset_snapshot: DatasetSnapshot,
    baseline: EnsembleVersion | None = None,
    created_by: AbstractBaseUser | None = None,
) -> EnsembleComparison:
    """Record a comparison and queue it on the ``inference`` queue.

    ``baseline`` defaults to the active ensemble of the candidate's view (none when the candidate
    is the active one itself: it is then evaluated alone).

    Raises
    ------
    InvalidInput
        The snapshot or the baseline is of another view, or baseline and candidate are the same.
    """
    if dataset_snapshot.view != candidate.view:
        raise InvalidInput(f"The snapshot is of view {dataset_snapshot.view}, the ensemble of {candidate.view}.",
                           {"code": "view_mismatch"})
    if baseline is None:
        active = ensemble_active(view=candidate.view)
        baseline = active if active is not None and active.pk != candidate.pk else None
    elif baseline.pk == candidate.pk or baseline.view != candidate.view:
        raise InvalidInput("The baseline must be another ensemble of the same view.", {"code": "invalid_baseline"})
    comparison = EnsembleComparison(candidate=candidate, baseline=baseline, dataset_snapshot=dataset_snapshot,
                                    created_by=created_by)
    comparison.full_clean()
    with transaction.atomic():
        comparison.save()
        transaction.on_commit(lambda: _enqueue(comparison.pk))
    return comparison


def _enqueue(comparison_id: int) -> None:
    # On failure it stays queued; it can be re-queued from the admin.
    publish_or_log(tasks.ensemble_comparison_run, args=[comparison_id], queue="inference", what=f"comparison {comparison_id}")
