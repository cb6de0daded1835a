"""Server-rendered pages. Each is a shell that loads one module of the browser UI (frontend/):

* ``/``                  case and image list with filters (rendered here; the module only enhances it)
* ``/cases/<id>/``       the images of one case
* ``/images/<id>/``      the image editor (frontend/src/pages/editor.ts)
* ``/review/``           the approval queue (frontend/src/pages/review.ts)
* ``/review/<item id>/`` the editor in review mode

The modules get what they need from a ``json_script`` block (ids, the user's role) and then talk to
the REST API; no page embeds patient data beyond what its table shows.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.dateparse import parse_date

from annotations import selectors
from annotations.models import Case, Cohort, Image, View
from clinical.core.normal_ranges import normal_range_table
from clinical.selectors.measurements import image_measurement_summary, normal_ranges_for_image
from enllasd_web.roles import Role, has_role, page_user_context
from inference.models import JobStatus, Prediction
from inference.services import prediction_queue_position


class ImageStatus:
    """What the list's status filter means for one image (the most advanced state wins)."""

    UNLABELLED = "unlabelled"
    PREDICTED = "predicted"
    LABELLED = "labelled"
    IN_REVIEW = "in_review"
    NOT_A_LEG = "not_a_leg"
    APPROVED = "approved"

    CHOICES = (
        (UNLABELLED, "Unlabelled"),
        (LABELLED, "Labelled"),
        (PREDICTED, "Predicted"),
        (IN_REVIEW, "In review"),
        (NOT_A_LEG, "Not a leg: no leg found (outside intended use)"),
        (APPROVED, "Approved"),
    )


def _require_annotator(request: HttpRequest) -> None:
    if not has_role(request.user, Role.ANNOTATOR):
        raise PermissionDenied("Your account has no role in this application yet.")


def _review_item_model():  # noqa: ANN202 - a model class or None
    """``annotations.ReviewItem`` when the review queue is installed, else None."""
    try:
        return apps.get_model("annotations", "ReviewItem")
    except LookupError:
        return None


def _image_statuses(images: QuerySet[Image]) -> dict[int, str]:
    """Status per image id: approved > not a leg > in review > labelled > predicted > unlabelled."""
    queryset = images.annotate(
        has_prediction=Exists(Prediction.objects.filter(image=OuterRef("pk"), status=JobStatus.SUCCEEDED))
    )
    review_item = _review_item_model()
    if review_item is not None:
        queryset = queryset.annotate(
            review_pending=Exists(review_item.objects.filter(image=OuterRef("pk"), status="pending")),
            not_a_leg=Exists(review_item.objects.filter(image=OuterRef("pk"), status="pending",
                                                        outside_intended_use=True)),
            review_approved=Exists(
                review_item.objects.filter(image=OuterRef("pk"), status__in=("accepted", "corrected", "approved"))
            ),
        )
    statuses: dict[int, str] = {}
    for image in queryset:
        if getattr(image, "review_approved", False):
            status = ImageStatus.APPROVED
        elif getattr(image, "not_a_leg", False):
            status = ImageStatus.NOT_A_LEG
        elif getattr(image, "review_pending", False):
            status = ImageStatus.IN_REVIEW
        elif image.head_revision_id is not None:
            status = ImageStatus.LABELLED
        elif image.has_prediction:
            status = ImageStatus.PREDICTED
        else:
            status = ImageStatus.UNLABELLED
        statuses[image.pk] = status
    return statuses


def _date(value: str | None) -> date | None:
    try:
        return parse_date(value) if value else None
    except ValueError:
        return None


#: Cases per page of the case list (issue 27, item 8: 260 cases were one page).
CASES_PER_PAGE = 50
#: With an image-status filter, how many cases (in list order) are looked at.
STATUS_FILTER_MAX_CASES = 2000


def _case_rows(cases: list[Case], status: str) -> list[dict[str, Any]]:
    """Each case with its images and their statuses; with ``status``, only cases having an image in it."""
    images = Image.objects.filter(case__in=cases).select_related("head_revision").order_by("case_id", "id")
    statuses = _image_statuses(images)
    labels = dict(ImageStatus.CHOICES)
    by_case: dict[int, list[dict[str, Any]]] = {case.pk: [] for case in cases}
    for image in images:
        image_status = statuses.get(image.pk, ImageStatus.UNLABELLED)
        if status and image_status != status:
            continue
        by_case[image.case_id].append({"image": image, "status": image_status, "status_label": labels[image_status]})
    return [{"case": case, "images": by_case[case.pk]} for case in cases if not status or by_case[case.pk]]


@login_required
def case_list_page(request: HttpRequest) -> HttpResponse:
    _require_annotator(request)
    params = request.GET
    status = params.get("status") or ""
    date_from, date_to = _date(params.get("date_from")), _date(params.get("date_to"))
    cases = selectors.case_list(
        patient_code=params.get("patient") or None,
        cohort=params.get("cohort") or None,
        view=params.get("view") or None,
    )
    if date_from:
        cases = cases.filter(acquisition_date__gte=date_from)
    if date_to:
        cases = cases.filter(acquisition_date__lte=date_to)
    if status:  # an image status is known only once computed: filter the first cases, then page the rows
        rows = _case_rows(list(cases[:STATUS_FILTER_MAX_CASES]), status)
        page = Paginator(rows, CASES_PER_PAGE).get_page(params.get("page"))
        rows = list(page.object_list)
    else:
        page = Paginator(cases, CASES_PER_PAGE).get_page(params.get("page"))
        rows = _case_rows(list(page.object_list), status)
    query = params.copy()
    query.pop("page", None)
    return render(
        request,
        "annotations/case_list.html",
        {
            "rows": rows,
            "page": page,
            "page_query": query.urlencode(),
            "filters": {key: value for key, value in params.items() if key != "page"},
            "cohorts": Cohort.choices,
            "views": View.choices,
            "statuses": ImageStatus.CHOICES,
            "page_context": {
                "user": page_user_context(request),
                "cohorts": [{"value": value, "label": label} for value, label in Cohort.choices],
                "views": [value for value, _ in View.choices],
            },
        },
    )


@login_required
def case_detail_page(request: HttpRequest, case_id: int) -> HttpResponse:
    _require_annotator(request)
    case: Case = get_object_or_404(selectors.case_list(), pk=case_id)
    images = selectors.image_list(case_id=case.pk)
    statuses = _image_statuses(images)
    labels = dict(ImageStatus.CHOICES)
    rows = [
        {"image": image, "status": statuses[image.pk], "status_label": _waiting_label(image)
         or labels[statuses[image.pk]], "measurement": image_measurement_summary(image)}
        for image in images
    ]
    return render(request, "annotations/case_detail.html", {"case": case, "rows": rows})


def _waiting_label(image: Image) -> str | None:
    """``"Predicting… (3 ahead, about 9 s)"`` while the image's prediction waits or runs (issue 27, item 4)."""
    waiting = Prediction.objects.filter(image=image, status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).first()
    if waiting is None:
        return None
    position = prediction_queue_position(waiting)
    if position is None or position.ahead == 0:
        return "Predicting…"
    return f"Predicting… ({position.ahead} ahead, about {round(position.eta_seconds)} s)"


@login_required
def image_detail_page(request: HttpRequest, image_id: int) -> HttpResponse:
    """The editor: canvas, tools, SAM assist, live angles, save as a new revision."""
    _require_annotator(request)
    image = get_object_or_404(selectors.image_list(), pk=image_id)
    return render(
        request,
        "annotations/editor.html",
        {
            "image": image,
            "page_context": {
                "mode": "edit",
                "image_id": image.pk,
                "review_item_id": None,
                "user": page_user_context(request),
                "normal_ranges": normal_ranges_for_image(image),
            },
        },
    )


@login_required
def review_queue_page(request: HttpRequest) -> HttpResponse:
    """The approval queue; the list itself comes from ``GET /api/review/items/``."""
    _require_annotator(request)
    return render(
        request,
        "annotations/review_queue.html",
        {
            "page_context": {
                "user": page_user_context(request),
                "normal_ranges": normal_range_table(age_years=None),
                "cohorts": [{"value": value, "label": label} for value, label in Cohort.choices],
                "filters": {
                    key: request.GET.get(key, "")
                    for key in ("status", "cohort", "patient", "date_from", "date_to", "not_a_leg")
                },
            }
        },
    )


@login_required
def review_item_page(request: HttpRequest, item_id: int) -> HttpResponse:
    """The editor in review mode: the prediction is the working document; reviewers decide."""
    _require_annotator(request)
    image = None
    review_item = _review_item_model()
    if review_item is not None:
        item = get_object_or_404(review_item.objects.select_related("image__case__patient"), pk=item_id)
        image = item.image
    return render(
        request,
        "annotations/editor.html",
        {
            "image": image,
            "review_item_id": item_id,
            "page_context": {
                "mode": "review",
                "image_id": image.pk if image else None,
                "review_item_id": item_id,
                "user": page_user_context(request),
                "normal_ranges": normal_ranges_for_image(image),
            },
        },
    )
