"""Read-only queries of the training app: approved revisions, pending images, a snapshot's entries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db.models import OuterRef, QuerySet, Subquery

from annotations.models import APPROVED_REVISION_SOURCES, AnnotationRevision, Image
from training.models import DatasetSnapshot, DatasetSnapshotEntry

APPROVED_SOURCES: tuple[str, ...] = APPROVED_REVISION_SOURCES
"""Revision sources a surgeon stands behind; ``sam_assisted`` drafts are not approved."""


def approved_revisions(
    *,
    view: str,
    case_ids: Sequence[int] = (),
    cohort: str | None = None,
    created_before: datetime | None = None,
) -> QuerySet[AnnotationRevision]:
    """The approved revision of every image of ``view``, ordered by image id.

    An image's revision is its head (or, with ``created_before``, the newest revision created before
    that time); it counts when its source is one of :data:`APPROVED_SOURCES`. ``case_ids`` and
    ``cohort`` (the patient's) narrow the images.
    """
    images = Image.objects.filter(case__view=view)
    if case_ids:
        images = images.filter(case_id__in=list(case_ids))
    if cohort:
        images = images.filter(case__patient__cohort=cohort)
    if created_before is None:
        chosen = images.values("head_revision")
    else:
        newest = (AnnotationRevision.objects.filter(image=OuterRef("pk"), created_at__lt=created_before)
                  .order_by("-number").values("pk")[:1])
        chosen = images.annotate(chosen_revision=Subquery(newest)).values("chosen_revision")
    return (AnnotationRevision.objects.filter(pk__in=chosen, source__in=APPROVED_SOURCES)
            .select_related("image__case__patient").order_by("image_id"))


def pending_images(*, view: str) -> QuerySet[Image]:
    """Images of ``view`` whose head revision is missing or not approved (they wait for review)."""
    return Image.objects.filter(case__view=view).exclude(head_revision__source__in=APPROVED_SOURCES).order_by("id")


def snapshot_entries(snapshot: DatasetSnapshot) -> list[DatasetSnapshotEntry]:
    """The snapshot's entries with their images and frozen revisions, in the order they were frozen."""
    return list(snapshot.entries.select_related("image", "revision").order_by("id"))
