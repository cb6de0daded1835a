"""Read-side queries for patients, cases, images and revisions."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from annotations.models import AnnotationRevision, Case, Image, Patient


def patient_list(*, cohort: str | None = None, code: str | None = None) -> QuerySet[Patient]:
    queryset = Patient.objects.annotate(case_count=Count("cases"))
    if cohort:
        queryset = queryset.filter(cohort=cohort)
    if code:
        queryset = queryset.filter(code__icontains=code)
    return queryset.order_by("code")


def case_list(
    *, patient_code: str | None = None, cohort: str | None = None, view: str | None = None
) -> QuerySet[Case]:
    queryset = Case.objects.select_related("patient").annotate(image_count=Count("images"))
    if patient_code:
        queryset = queryset.filter(patient__code__icontains=patient_code)
    if cohort:
        queryset = queryset.filter(patient__cohort=cohort)
    if view:
        queryset = queryset.filter(view=view)
    return queryset.order_by("patient__code", "acquisition_date", "id")


def image_list(*, case_id: int | None = None) -> QuerySet[Image]:
    queryset = Image.objects.select_related("case__patient", "head_revision")
    if case_id is not None:
        queryset = queryset.filter(case_id=case_id)
    return queryset.order_by("case_id", "id")


def revision_list(*, image: Image) -> QuerySet[AnnotationRevision]:
    return image.revisions.select_related("author").order_by("-number")
