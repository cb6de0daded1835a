"""Server-rendered pages: case list, case detail and an image page with its head revision drawn."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from annotations import selectors
from annotations.core.labelme import canonical_label
from annotations.models import Cohort, View
from enllasd_web.roles import Role, has_role

_SHAPE_COLOURS = {"femur": "#ff5555", "tibia": "#55dd55", "hip": "#ffd000", "knee": "#00c8ff", "ankle": "#ff66ff"}


def _require_annotator(request: HttpRequest) -> None:
    if not has_role(request.user, Role.ANNOTATOR):
        raise PermissionDenied("Your account has no role in this application yet.")


@login_required
def case_list_page(request: HttpRequest) -> HttpResponse:
    _require_annotator(request)
    filters = {
        "patient_code": request.GET.get("patient") or None,
        "cohort": request.GET.get("cohort") or None,
        "view": request.GET.get("view") or None,
    }
    cases = selectors.case_list(**filters).prefetch_related("images")[:500]
    return render(
        request,
        "annotations/case_list.html",
        {"cases": cases, "filters": request.GET, "cohorts": Cohort.choices, "views": View.choices},
    )


@login_required
def case_detail_page(request: HttpRequest, case_id: int) -> HttpResponse:
    _require_annotator(request)
    case = get_object_or_404(selectors.case_list(), pk=case_id)
    return render(request, "annotations/case_detail.html", {"case": case, "images": selectors.image_list(case_id=case.pk)})


def _overlay_shapes(document: dict | None) -> list[dict]:
    """Shapes of a LabelMe document prepared for SVG drawing (points as 'x,y x,y' strings)."""
    shapes = []
    for shape in (document or {}).get("shapes", []):
        points = shape.get("points") or []
        canonical = canonical_label(shape.get("label", "")) or "other"
        shapes.append(
            {
                "label": shape.get("label", ""),
                "canonical": canonical,
                "type": shape.get("shape_type") or "polygon",
                "points": " ".join(f"{x:.2f},{y:.2f}" for x, y in points),
                "first": points[0] if points else (0, 0),
                "group_id": shape.get("group_id"),
                "colour": _SHAPE_COLOURS.get(canonical, "#ffffff"),
            }
        )
    return shapes


@login_required
def image_detail_page(request: HttpRequest, image_id: int) -> HttpResponse:
    _require_annotator(request)
    image = get_object_or_404(selectors.image_list(), pk=image_id)
    head = image.head_revision
    return render(
        request,
        "annotations/image_detail.html",
        {
            "image": image,
            "head": head,
            "shapes": _overlay_shapes(head.document if head else None),
            "revisions": selectors.revision_list(image=image)[:20],
        },
    )
