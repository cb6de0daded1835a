"""Recorded promotion and rollback of the SAM bone weights (``litemedsam_bone``), like the ensembles'.

A promotion makes a SAM tuning run's candidate (a ``promptable`` ModelVersion) the weights every worker
loads from its next call on (:func:`inference.sam.registry.get_segmenter`); a rollback undoes the latest
promotion still in force, down to the file shipped in ``models/sam/litemedsam_bone/``. Each change is a
:class:`~training.models.SamPromotion` row: who, when, why, what was active before, which promotion a
rollback undid.
"""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from enllasd_web.exceptions import Conflict
from inference.models import ModelVersion, VersionStatus
from inference.sam.registry import shipped_bone_weights
from inference.sam_services import sam_bone_weights_activate
from training.models import RunStatus, SamPromotion, TrainingRun
from training.sam_tuning import SAM_TUNING_CONFIG, sam_tuning_candidate

logger = logging.getLogger(__name__)


def _activate(*, weights: ModelVersion | None, promoted_by: AbstractBaseUser | None, reason: str,
              rollback_of: SamPromotion | None = None) -> SamPromotion:
    with transaction.atomic():
        previous = sam_bone_weights_activate(weights=weights)
        sha256 = weights.sha256 if weights is not None else (shipped_bone_weights().sha256 or "")
        promotion = SamPromotion(weights=weights, previous=previous, sha256=sha256, rollback_of=rollback_of,
                                 promoted_by=promoted_by, reason=reason[:500])
        promotion.full_clean()
        promotion.save()
    logger.info("SAM bone weights %s active (was %s, promotion %s)", weights.pk if weights else "shipped",
                previous.pk if previous else "shipped", promotion.pk)
    return promotion


def sam_tuning_run_promote(*, run: TrainingRun, promoted_by: AbstractBaseUser | None,
                           reason: str = "") -> SamPromotion:
    """Make the candidate of a finished SAM tuning run the active SAM bone weights, and record it.

    Raises
    ------
    Conflict
        Not a SAM tuning run, not finished, or its candidate is already active.
    """
    if run.config_name != SAM_TUNING_CONFIG:
        raise Conflict(f"Run {run.pk} is a {run.config_name} run, not a SAM tuning run.", {"code": "not_sam_run"})
    candidate = sam_tuning_candidate(run)
    if run.status != RunStatus.SUCCEEDED or candidate is None:
        raise Conflict(f"Run {run.pk} is {run.status}; only a succeeded SAM tuning run can be promoted.",
                       {"code": "run_not_succeeded"})
    if candidate.status == VersionStatus.ACTIVE:
        raise Conflict(f"The weights of run {run.pk} are already the active SAM bone weights.",
                       {"code": "already_active"})
    return _activate(weights=candidate, promoted_by=promoted_by, reason=reason)


def sam_weights_rollback(*, promoted_by: AbstractBaseUser | None, reason: str = "") -> SamPromotion:
    """Undo the latest SAM promotion still in force: the weights active before it become active again.

    Rollbacks stack: promoting A then B and rolling back twice returns to the shipped file.

    Raises
    ------
    Conflict
        No promotion to undo, or the active weights were not set by the latest one.
    """
    latest = (SamPromotion.objects.filter(rollback_of__isnull=True, rolled_back_by__isnull=True)
              .select_related("weights", "previous").order_by("-id").first())
    if latest is None:
        raise Conflict("Nothing to roll back: the shipped SAM bone weights are active.",
                       {"code": "nothing_to_roll_back"})
    if latest.weights is None or latest.weights.status != VersionStatus.ACTIVE:
        raise Conflict(f"The active SAM bone weights were not set by promotion {latest.pk}.",
                       {"code": "promotion_not_in_force", "promotion": latest.pk})
    return _activate(weights=latest.previous, promoted_by=promoted_by,
                     reason=reason or f"Rollback of SAM promotion {latest.pk}", rollback_of=latest)
