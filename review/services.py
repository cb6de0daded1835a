"""The approval queue: review items for successful predictions, reviewers' decisions and their
append-only history (the rows, :class:`~annotations.models.ReviewItem` and ``ReviewEvent``, live in
``annotations``; the live alignment of LabelMe documents in :mod:`inference.document_alignment`).

A review item is created for each prediction of an active ensemble that succeeds: :mod:`review.apps` registers
:func:`review_item_create_for_prediction` as a hook of :func:`inference.predictions.prediction_run`.

State table (action: statuses it may start from -> status it leads to)::

    accept   pending                      -> accepted   (adds a revision, source "model"; refused while the
                                                        prediction fails a blocking check, unless the reviewer
                                                        overrides with a reason: clinical.core.acceptance)
    correct  pending                      -> corrected  (adds a revision, source "corrected")
    reject   pending                      -> rejected
    reopen   accepted, corrected, rejected -> pending

Every decision needs the reviewer role (or admin), locks the item row, and appends a
:class:`~annotations.models.ReviewEvent`; a decision on an item in another state raises
:class:`~enllasd_web.exceptions.Conflict` with the item's current state in ``extra.item``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotations.models import (
    AnnotationRevision,
    Image,
    ReviewAction,
    ReviewEvent,
    ReviewItem,
    ReviewStatus,
    RevisionSource,
)
from annotations.models import APPROVED_REVISION_SOURCES
from annotations.services import annotation_revision_submit
from clinical.services import acceptance_blockers_for_prediction, plausibility_flags_for_prediction
from enllasd_web.exceptions import ApplicationError, Conflict, InvalidInput
from enllasd_web.roles import Role, has_role
from inference.core.alignment import METRIC_NAMES
from inference.document_alignment import labelme_alignment_compute
from inference.models import JobStatus, Prediction

logger = logging.getLogger(__name__)

# Priority: weights of the normalised uncertainty components, and the fixed bump for any flag.
PRIORITY_WEIGHTS: Mapping[str, float] = {"joint_spread": 0.3, "angle_spread": 0.4, "member_disagreement": 0.3}
PRIORITY_FLAG_BUMP = 0.5
# Spreads at which a component saturates at 1.
JOINT_SD_FULL_SCALE_FRACTION_OF_HEIGHT = 0.01  # about 1 cm on a long-leg film
HKA_SD_FULL_SCALE_DEG = 2.0
MEMBER_DISAGREEMENT_FULL_SCALE = 0.3  # mean (1 - IOU) of the members against the ensemble

_DECIDED = (ReviewStatus.ACCEPTED, ReviewStatus.CORRECTED, ReviewStatus.REJECTED)


@dataclass(frozen=True)
class _Transition:
    sources: tuple[str, ...]
    target: str


_TRANSITIONS: Mapping[str, _Transition] = {
    ReviewAction.ACCEPTED: _Transition((ReviewStatus.PENDING,), ReviewStatus.ACCEPTED),
    ReviewAction.CORRECTED: _Transition((ReviewStatus.PENDING,), ReviewStatus.CORRECTED),
    ReviewAction.REJECTED: _Transition((ReviewStatus.PENDING,), ReviewStatus.REJECTED),
    ReviewAction.REOPENED: _Transition(_DECIDED, ReviewStatus.PENDING),
}


class ReviewForbidden(ApplicationError):
    status_code = 403


class ImplausiblePrediction(ApplicationError):
    """Accepting as it is a prediction that fails a blocking check, without an override reason."""

    status_code = 409


# --------------------------------------------------------------------------------------------------
# Priority


@dataclass(frozen=True)
class ReviewPriority:
    """A queue priority and the normalised components it was computed from."""

    priority: float
    components: dict[str, Any]


def _saturating(value: float | None, full_scale: float) -> float:
    """``min(1, value / full_scale)``; an unknown value (None) counts as 1."""
    if value is None:
        return 1.0
    return round(min(1.0, max(0.0, float(value)) / full_scale), 4)


def review_priority(*, uncertainty: Mapping[str, Any], flags: Sequence[str], image_height: int) -> ReviewPriority:
    """Queue priority of a prediction (higher = review first).

    Notes
    -----
    With the prediction's uncertainty (``inference.pipeline._uncertainty``)::

        joint_spread        j = min(1, joint_sd_px / (0.01 * image_height))
        angle_spread        a = min(1, hka_sd_deg / 2 deg)
        member_disagreement m = min(1, member_disagreement / 0.3)
        priority            = 0.3 j + 0.4 a + 0.3 m + 0.5 * [any flag]

    so the priority lies in [0, 1.5]. A missing input (None) counts as 1: a spread that could not
    be measured is reviewed as early as a large one.
    """
    components: dict[str, Any] = {
        "joint_spread": _saturating(
            uncertainty.get("joint_sd_px"), JOINT_SD_FULL_SCALE_FRACTION_OF_HEIGHT * max(image_height, 1)
        ),
        "angle_spread": _saturating(uncertainty.get("hka_sd_deg"), HKA_SD_FULL_SCALE_DEG),
        "member_disagreement": _saturating(uncertainty.get("member_disagreement"), MEMBER_DISAGREEMENT_FULL_SCALE),
    }
    priority = sum(weight * components[name] for name, weight in PRIORITY_WEIGHTS.items())
    if flags:
        priority += PRIORITY_FLAG_BUMP
    components["flags"] = list(flags)
    return ReviewPriority(priority=round(priority, 4), components=components)


def _prediction_flags(prediction: Prediction, pipeline_flags: Iterable[str]) -> list[str]:
    """The pipeline's flags, then every leg's alignment flags as ``"<image side>: <flag>"``, once each."""
    legs = (prediction.alignment or {}).get("legs") or []
    flags = list(pipeline_flags)
    flags += [f"{leg.get('image_side') or 'leg'}: {flag}" for leg in legs for flag in leg.get("flags", [])]
    if not legs:
        flags.append("no leg aligned")
    return list(dict.fromkeys(flags))


def review_item_create_for_prediction(*, prediction: Prediction,
                                      pipeline_flags: Iterable[str] = ()) -> ReviewItem | None:
    """The review item of a succeeded prediction, created with its priority on first call.

    ``pipeline_flags`` are the ensemble's own flags (key points, pruning, knee update), which the
    Prediction row does not store; the alignment's per-leg flags are read from the row.
    Calling it again returns the existing item unchanged.

    An image whose head revision is already approved (imported, manual, accepted or corrected outlines)
    gets no item: nobody needs to review a prediction of outlines a surgeon already stands behind, and
    an import of annotated images must not flood the queue. Its prediction is kept; ensemble comparisons
    on a snapshot score such predictions against the approved outlines. Returns None then.

    Raises
    ------
    InvalidInput
        The prediction has not succeeded.
    """
    if prediction.status != JobStatus.SUCCEEDED:
        raise InvalidInput(
            f"Prediction {prediction.pk} has status {prediction.status}; only succeeded ones are reviewed.",
            {"code": "prediction_not_succeeded"},
        )
    existing = ReviewItem.objects.filter(prediction=prediction).first()
    if existing is not None:
        return existing
    head_source = AnnotationRevision.objects.filter(pk=prediction.image.head_revision_id).values_list(
        "source", flat=True).first()
    if head_source in APPROVED_REVISION_SOURCES:
        logger.info("prediction %s not queued for review: image %s has approved outlines (%s)",
                    prediction.pk, prediction.image_id, head_source)
        return None
    flags = _prediction_flags(prediction, pipeline_flags)
    flags += plausibility_flags_for_prediction(prediction)  # clinical plausibility raises priority
    ranked = review_priority(uncertainty=prediction.uncertainty or {}, flags=flags,
                             image_height=prediction.image.height)
    try:
        with transaction.atomic():
            item = ReviewItem(image_id=prediction.image_id, prediction=prediction, priority=ranked.priority,
                              priority_components=ranked.components,
                              outside_intended_use=not (prediction.alignment or {}).get("legs"))
            item.full_clean(validate_unique=False)
            item.save()
            ReviewEvent.objects.create(item=item, image_id=item.image_id, action=ReviewAction.CREATED)
    except IntegrityError:  # a concurrent call created it first
        return ReviewItem.objects.get(prediction=prediction)
    logger.info("review item %s created for prediction %s (priority %.3f)", item.pk, prediction.pk, item.priority)
    return item


def review_items_backfill() -> int:
    """Create the missing review items of every succeeded prediction; returns how many were created."""
    missing = Prediction.objects.filter(status=JobStatus.SUCCEEDED, review_item__isnull=True).select_related("image")
    count = 0
    for prediction in missing.iterator():
        if review_item_create_for_prediction(prediction=prediction) is not None:
            count += 1
    return count


def alignment_deltas(predicted: Mapping[str, Any], corrected: Mapping[str, Any]) -> dict[str, Any]:
    """Per leg (matched by ``image_side``) and metric: ``{"predicted", "corrected", "delta"}``.

    ``delta = corrected - predicted``; it is None when either value is missing. Legs present in
    only one of the two alignments are left out.
    """
    predicted_legs = {leg["image_side"]: leg for leg in predicted.get("legs", [])}
    deltas: dict[str, Any] = {}
    for leg in corrected.get("legs", []):
        before = predicted_legs.get(leg["image_side"])
        if before is None:
            continue
        per_metric = {}
        for name in METRIC_NAMES:
            old = (before["metrics"].get(name) or {}).get("value")
            new = (leg["metrics"].get(name) or {}).get("value")
            delta = None if old is None or new is None else round(new - old, 6)
            per_metric[name] = {"predicted": old, "corrected": new, "delta": delta}
        deltas[leg["image_side"]] = per_metric
    return deltas


def _corrected_alignment(item: ReviewItem, document: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The corrected document's alignment (``None`` when it has none) and its angle deltas against the
    prediction, or ``{"error": why}`` as deltas when there is no alignment."""
    image = item.image
    try:
        corrected = labelme_alignment_compute(document=document, width=image.width, height=image.height,
                                              pixel_spacing_mm=image.pixel_spacing_mm, image_id=image.pk)
    except InvalidInput as exc:
        if exc.extra.get("code") == "invalid_labelme":
            raise
        return None, {"error": exc.message}
    return corrected, alignment_deltas(item.prediction.alignment or {}, corrected)


# --------------------------------------------------------------------------------------------------
# Decisions


def _require_reviewer(user: AbstractBaseUser) -> None:
    if not has_role(user, Role.REVIEWER):
        raise ReviewForbidden("Reviewer role required to decide on review items.", {"code": "reviewer_required"})


def review_item_state(item: ReviewItem) -> dict[str, Any]:
    """The fields a client needs to see who decided what (used in 409 bodies)."""
    return {
        "id": item.pk,
        "status": item.status,
        "decided_by": item.decided_by.get_username() if item.decided_by else None,
        "decided_at": item.decided_at.isoformat() if item.decided_at else None,
        "revision": item.revision_id,
    }


def _lock_for(item: ReviewItem, action: str, user: AbstractBaseUser) -> ReviewItem:
    """The item locked for ``action``; must run inside a transaction."""
    _require_reviewer(user)
    locked = (
        ReviewItem.objects.select_for_update(of=("self",))
        .select_related("prediction__ensemble_version", "image")
        .get(pk=item.pk)
    )
    if locked.status not in _TRANSITIONS[action].sources:
        code = "not_decided" if action == ReviewAction.REOPENED else "already_decided"
        raise Conflict(
            f"This review item is {locked.status}; it cannot be {action} now.",
            {"code": code, "item": review_item_state(locked)},
        )
    return locked


def _record(locked: ReviewItem, *, action: str, user: AbstractBaseUser, revision: AnnotationRevision | None = None,
            alignment: dict[str, Any] | None = None, reason: str = "", angle_deltas: dict[str, Any] | None = None,
            overridden_checks: Sequence[str] = ()) -> ReviewItem:
    """Move the locked item along ``action`` and append its event; ``alignment`` is the decided revision's."""
    locked.status = _TRANSITIONS[action].target
    decided = action != ReviewAction.REOPENED
    locked.decided_by = user if decided else None
    locked.decided_at = timezone.now() if decided else None
    locked.revision = revision
    locked.alignment = alignment
    locked.full_clean(validate_unique=False)
    locked.save()
    ReviewEvent.objects.create(item=locked, image_id=locked.image_id, actor=user, action=action, reason=reason,
                               revision=revision, angle_deltas=angle_deltas or {},
                               overridden_checks=list(overridden_checks))
    return locked


def review_item_acceptance_blockers(*, item: ReviewItem) -> list[str]:
    """Why the item's prediction must not be accepted as it is (empty: one click may accept it)."""
    return acceptance_blockers_for_prediction(item.prediction)


def review_accept(*, item: ReviewItem, user: AbstractBaseUser, base_revision_id: int | None,
                  override_reason: str = "") -> ReviewItem:
    """Accept the prediction as it is: its document becomes the image's new head revision (source "model").

    A prediction that fails a blocking check (:func:`review_item_acceptance_blockers`: no leg, a missing
    bone, an HKA deviation beyond any anatomy, joints out of order or outside the bones) is accepted only
    with ``override_reason``; the event keeps the reason and the overridden checks, the revision message
    says so, and dataset snapshots record it with the revision. The revision message names the
    prediction and its ensemble (revisions have no ensemble field).

    Raises
    ------
    ReviewForbidden
        ``user`` is not a reviewer or admin.
    ImplausiblePrediction
        The prediction fails a blocking check and no override reason was given (``extra.blockers``).
    Conflict
        The item is already decided, or ``base_revision_id`` is not the image's head (nothing is written).
    """
    _require_reviewer(user)
    override_reason = (override_reason or "").strip()
    blockers = review_item_acceptance_blockers(item=item)  # before locking: the checks take a moment
    if blockers and not override_reason:
        raise ImplausiblePrediction(
            "This prediction fails checks that make it unsafe to accept as it is: correct it, reject it, or "
            "accept it with a reason for overriding the checks.",
            {"code": "implausible_prediction", "blockers": blockers},
        )
    with transaction.atomic():
        locked = _lock_for(item, ReviewAction.ACCEPTED, user)
        prediction = locked.prediction
        ensemble = prediction.ensemble_version
        message = f"Accepted prediction {prediction.pk} of ensemble {ensemble.name} (#{ensemble.pk})"
        if blockers:
            message += f", overriding {len(blockers)} failed check(s): {override_reason}"
        revision = annotation_revision_submit(
            image=locked.image, document=prediction.document, base_revision_id=base_revision_id,
            source=RevisionSource.MODEL, author=user, message=message,
        )
        # The revision's document is the prediction's, measurement record included: the same alignment.
        return _record(locked, action=ReviewAction.ACCEPTED, user=user, revision=revision,
                       alignment=prediction.alignment, reason=override_reason if blockers else "", overridden_checks=blockers)


def review_correct(*, item: ReviewItem, user: AbstractBaseUser, document: Any,
                   base_revision_id: int | None) -> ReviewItem:
    """Store the reviewer's corrected document (source "corrected") and the angle deltas it causes.

    The deltas compare the corrected document's alignment with the prediction's, per leg and metric
    (:func:`alignment_deltas`); they are stored on the event.

    Raises
    ------
    ReviewForbidden
        ``user`` is not a reviewer or admin.
    InvalidInput
        The document is not valid LabelMe or does not fit the image.
    Conflict
        The item is already decided, or ``base_revision_id`` is not the image's head (nothing is written).
    """
    _require_reviewer(user)
    corrected, deltas = _corrected_alignment(item, document)  # before locking: the alignment takes a moment
    with transaction.atomic():
        locked = _lock_for(item, ReviewAction.CORRECTED, user)
        prediction = locked.prediction
        revision = annotation_revision_submit(
            image=locked.image, document=document, base_revision_id=base_revision_id,
            source=RevisionSource.CORRECTED, author=user,
            message=f"Corrected prediction {prediction.pk} of ensemble {prediction.ensemble_version.name}",
        )
        return _record(locked, action=ReviewAction.CORRECTED, user=user, revision=revision, alignment=corrected,
                       angle_deltas=deltas)


def review_reject(*, item: ReviewItem, user: AbstractBaseUser, reason: str) -> ReviewItem:
    """Reject the prediction; the image's annotation is left as it is.

    Raises
    ------
    InvalidInput
        ``reason`` is empty.
    ReviewForbidden, Conflict
        As for :func:`review_accept`.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Give a reason for rejecting the prediction.", {"code": "reason_required"})
    with transaction.atomic():
        locked = _lock_for(item, ReviewAction.REJECTED, user)
        return _record(locked, action=ReviewAction.REJECTED, user=user, reason=reason)


def review_reopen(*, item: ReviewItem, user: AbstractBaseUser, reason: str = "") -> ReviewItem:
    """Put a decided item back in the queue; revisions it produced stay in the image's history.

    Raises
    ------
    ReviewForbidden
        ``user`` is not a reviewer or admin.
    Conflict
        The item is pending already.
    """
    with transaction.atomic():
        locked = _lock_for(item, ReviewAction.REOPENED, user)
        return _record(locked, action=ReviewAction.REOPENED, user=user, reason=reason.strip())


def review_assign(*, item: ReviewItem, user: AbstractBaseUser, assignee: AbstractBaseUser | None) -> ReviewItem:
    """Assign the item to ``assignee`` (None: unassign), in any state, and record it.

    Raises
    ------
    ReviewForbidden
        ``user`` is not a reviewer or admin.
    InvalidInput
        ``assignee`` is not a reviewer or admin.
    """
    _require_reviewer(user)
    if assignee is not None and not has_role(assignee, Role.REVIEWER):
        raise InvalidInput("Review items can only be assigned to reviewers.", {"code": "assignee_not_reviewer"})
    with transaction.atomic():
        locked = ReviewItem.objects.select_for_update().get(pk=item.pk)
        locked.assignee = assignee
        locked.save(update_fields=["assignee", "updated_at"])
        reason = f"Assigned to {assignee.get_username()}" if assignee is not None else "Unassigned"
        ReviewEvent.objects.create(item=locked, image_id=locked.image_id, actor=user, action=ReviewAction.ASSIGNED,
                                   reason=reason)
    return locked


# --------------------------------------------------------------------------------------------------
# Read side


def review_item_list(
    *,
    status: str | None = ReviewStatus.PENDING,
    cohort: str | None = None,
    patient_code: str | None = None,
    case_id: int | None = None,
    view: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    ensemble_id: int | None = None,
    outside_intended_use: bool | None = False,
) -> QuerySet[ReviewItem]:
    """The queue, highest priority first then oldest; ``status=None`` lists every status.

    Items whose prediction found no leg (``outside_intended_use``) are listed apart: by default the queue
    holds the others, ``True`` lists only them (the queue's "not a leg" filter), ``None`` both.

    The caller picks the columns it shows (``.values()``): the API's rows need no model instances.
    """
    queryset = ReviewItem.objects.all()
    filters = {
        "status": status,
        "image__case__patient__cohort": cohort,
        "image__case__patient__code__icontains": patient_code,
        "image__case_id": case_id,
        "image__case__view": view,
        "image__case__acquisition_date__gte": date_from,
        "image__case__acquisition_date__lte": date_to,
        "prediction__ensemble_version_id": ensemble_id,
        "outside_intended_use": outside_intended_use,
    }
    queryset = queryset.filter(**{key: value for key, value in filters.items() if value not in (None, "")})
    return queryset.order_by("-priority", "created_at", "id")


def review_item_detail_queryset() -> QuerySet[ReviewItem]:
    """Items with everything their detail view shows (the whole prediction)."""
    return ReviewItem.objects.select_related(
        "image__case__patient", "prediction__ensemble_version", "assignee", "decided_by"
    )


def review_item_next(*, after: ReviewItem) -> int | None:
    """The id of the pending item a reviewer should open after ``after``: the queue's first, ``after`` excluded."""
    return review_item_list(status=ReviewStatus.PENDING).exclude(pk=after.pk).values_list("pk", flat=True).first()


def review_event_list(*, image: Image) -> QuerySet[ReviewEvent]:
    """Review history of an image, newest first."""
    return image.review_events.select_related("actor").order_by("-created_at", "-id")
