"""Making an ensemble the active one of its view, with the promotion recorded (who, when, why, what was before).

Used by :func:`training.promotions.ensemble_promote` (which may queue a re-prediction as well) and by a training
run that activates its own result (:mod:`training.runs`); it queues nothing itself.
"""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from enllasd_web.exceptions import Conflict, InvalidInput
from inference.models import EnsembleVersion, VersionStatus
from inference.services import ensemble_version_promote
from training.models import EnsembleComparison, EnsemblePromotion

logger = logging.getLogger(__name__)


def ensemble_activate(
    *,
    ensemble: EnsembleVersion,
    promoted_by: AbstractBaseUser | None,
    reason: str = "",
    comparison: EnsembleComparison | None = None,
    rollback_of: EnsemblePromotion | None = None,
) -> EnsemblePromotion:
    """Make ``ensemble`` the active one of its view and record the promotion.

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
    logger.info("ensemble %s promoted (view %s, previous %s)", ensemble.pk, ensemble.view,
                previous.pk if previous else None)
    return promotion
