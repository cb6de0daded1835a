"""Server-rendered clinical pages (no JavaScript framework; charts are inline SVG made on the server).

* ``/patients/<id>/timeline/``  every metric per leg over the visits, filters ``leg`` and ``metric``
* ``/cases/<id>/report/``       printable report of a case (image with overlay, metrics, ranges)
* ``/cases/<id>/report.pdf``    the one-page PDF of one image of the case (``?image=<id>``)
* ``/reader-studies/<id>/``     agreement results with Bland–Altman plots (admins), or a reader's progress
* ``/reader-studies/<id>/read/`` the reader's next image in the editor, blind (mode ``read``)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from PIL import Image as PILImage

from annotations.models import Case, Patient
from annotations.derivatives import image_display_ensure
from enllasd_web.roles import page_user_context
from clinical.core.normal_ranges import METRIC_LABELS
from clinical.core.svg import bland_altman_svg, overlay_svg, timeline_svg
from clinical.core.timeline import LEG_ORDER, TIMELINE_METRICS
from clinical.models import ReaderStudy, ReaderStudyStatus
from clinical.selectors.measurements import normal_ranges_for_image
from clinical.selectors.reader_studies import reader_study_results, reader_study_results_allowed, reader_study_tasks
from clinical.selectors.reports import ImageReport, case_report
from clinical.selectors.timeline import patient_timeline
from enllasd_web.authentication import login_or_token_required
from enllasd_web.roles import Role, has_role


def _require_annotator(request: HttpRequest) -> None:
    if not has_role(request.user, Role.ANNOTATOR):
        raise PermissionDenied("Your account has no role in this application yet.")


def _choice(request: HttpRequest, name: str, allowed: tuple[str, ...]) -> str:
    value = request.GET.get(name) or ""
    return value if value in allowed else ""


LEG_TITLES = {"right": "Right leg", "left": "Left leg", "image-left": "Leg on the image left",
              "image-right": "Leg on the image right", "both": "Both legs"}


@login_required
def patient_timeline_page(request: HttpRequest, patient_id: int) -> HttpResponse:
    _require_annotator(request)
    patient = get_object_or_404(Patient, pk=patient_id)
    metric, leg = _choice(request, "metric", TIMELINE_METRICS), _choice(request, "leg", LEG_ORDER)
    timeline = patient_timeline(patient=patient, metrics=[metric] if metric else None, legs=[leg] if leg else None)
    rows: dict[str, list[dict[str, Any]]] = {}
    for series in timeline.series:
        rows.setdefault(series.metric, []).append({
            "series": series,
            "svg": mark_safe(timeline_svg(series, date_range=timeline.date_range)),  # noqa: S308 - escaped inside
        })
    query = request.GET.urlencode()
    return render(request, "clinical/timeline.html", {
        "patient": patient,
        "timeline": timeline,
        "metric_rows": [(METRIC_LABELS.get(name, name), charts) for name, charts in rows.items()],
        "metric_choices": [(name, METRIC_LABELS.get(name, name)) for name in TIMELINE_METRICS],
        "leg_choices": [(key, LEG_TITLES.get(key, key)) for key in LEG_ORDER],
        "selected_metric": metric,
        "selected_leg": leg,
        "csv_url": f"/api/patients/{patient.pk}/timeline.csv" + (f"?{query}" if query else ""),
    })


def _overlay_markup(image_report: ImageReport) -> str:
    image = image_report.image
    return mark_safe(overlay_svg(image_report.overlay, width=image.width, height=image.height,  # noqa: S308
                                 labels=image_report.overlay_labels()))


@login_required
def case_report_page(request: HttpRequest, case_id: int) -> HttpResponse:
    _require_annotator(request)
    case = get_object_or_404(Case.objects.select_related("patient"), pk=case_id)
    report = case_report(case=case)
    return render(request, "clinical/case_report.html", {
        "report": report,
        "case": case,
        "images": [(image_report, _overlay_markup(image_report)) for image_report in report.images],
    })


def _display_pixels(image_report: ImageReport) -> np.ndarray:
    image = image_display_ensure(image=image_report.image)
    with image.display.open("rb") as handle:
        return np.asarray(PILImage.open(handle).convert("L"))


@login_or_token_required  # scripts download reports with their API token
def case_report_pdf(request: HttpRequest, case_id: int) -> HttpResponse:
    _require_annotator(request)
    case = get_object_or_404(Case.objects.select_related("patient"), pk=case_id)
    report = case_report(case=case)
    wanted = request.GET.get("image")
    chosen = [r for r in report.images if wanted is None or str(r.image.pk) == wanted]
    if not chosen:
        raise Http404("No measured image in this case.")
    from clinical.report_pdf import report_pdf_bytes  # matplotlib is loaded only when a PDF is asked for

    pdf = report_pdf_bytes(report, chosen[0], _display_pixels(chosen[0]))
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="report-{case.patient.code}-case{case.pk}.pdf"'
    return response


@login_required
def reader_study_page(request: HttpRequest, study_id: int) -> HttpResponse:
    _require_annotator(request)
    study = get_object_or_404(ReaderStudy, pk=study_id)
    is_reader = study.readers.filter(pk=request.user.pk).exists()
    if not reader_study_results_allowed(request.user, study):
        if not is_reader:
            raise PermissionDenied("Only admins and the study's readers can open this page.")
        return render(request, "clinical/reader_study.html", {
            "study": study, "results": None,
            "remaining": reader_study_tasks(study=study, reader=request.user).count(),
        })
    results = reader_study_results(study=study)
    sections = []
    for metric in results.metrics:
        plots = []
        for pair in (*metric.reader_pairs, *metric.reader_vs_model):
            if pair.result is not None and pair.result.bland_altman is not None:
                plots.append({"pair": pair, "svg": mark_safe(bland_altman_svg(  # noqa: S308 - escaped inside
                    pair.result.bland_altman, unit=metric.unit, label_a=pair.rater_a, label_b=pair.rater_b))})
        sections.append({"metric": metric, "label": METRIC_LABELS.get(metric.metric, metric.metric), "plots": plots})
    return render(request, "clinical/reader_study.html", {
        "study": study, "results": results, "sections": sections, "is_reader": is_reader,
    })


@login_required
def reader_study_read_page(request: HttpRequest, study_id: int) -> HttpResponse:
    """A reader's next study image in the editor, blind: no revisions, predictions or other readings.

    ``?image=<id>`` picks one of the reader's remaining images; without it, the first. When nothing is
    left (or the study is closed) the reader goes back to the study page.
    """
    _require_annotator(request)
    study = get_object_or_404(ReaderStudy, pk=study_id)
    if not study.readers.filter(pk=request.user.pk).exists():
        raise PermissionDenied("Only the study's readers read its images.")
    remaining = reader_study_tasks(study=study, reader=request.user)
    if study.status != ReaderStudyStatus.OPEN or not remaining.exists():
        return redirect("clinical-ui:reader-study", study_id=study.pk)
    chosen = request.GET.get("image", "")
    image = (remaining.filter(pk=int(chosen)).first() if chosen.isdigit() else None) or remaining.first()
    return render(request, "annotations/editor.html", {
        "image": image,
        "reading": True,
        "page_context": {
            "mode": "read",
            "image_id": image.pk,
            "review_item_id": None,
            "study": {"id": study.pk, "name": study.name, "remaining": remaining.count()},
            "user": page_user_context(request),
            "normal_ranges": normal_ranges_for_image(image),
        },
    })
