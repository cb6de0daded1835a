"""REST API of the approval queue and of live alignment: one APIView per operation.

Listing and reading need the annotator role; decisions (accept, correct, reject, reopen, assign)
need the reviewer role. Errors have the project's shape ``{"message", "extra"}``.
"""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.db.models import F, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.apis import _paginated
from annotations.models import (
    AnnotationRevision,
    Cohort,
    Image,
    ReviewEvent,
    ReviewItem,
    ReviewStatus,
    SpacingSource,
    View,
)
from clinical.core.normal_ranges import classify
from clinical.core.presentation import patient_side_flag
from clinical.services import document_checks
from enllasd_web.exceptions import InvalidInput
from enllasd_web.pagination import LimitOffsetPagination
from enllasd_web.parsers import SafeJSONParser
from enllasd_web.roles import IsReviewer
from inference import document_alignment
from review import services as review_services

KEY_METRICS = ("hka_deviation_deg", "mLDFA", "MPTA")
_STATUS_ALL = "all"

_ERROR = inline_serializer("ReviewError", {"message": serializers.CharField(), "extra": serializers.JSONField()})


class MetricValueSdSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    sd = serializers.FloatField(allow_null=True)
    status = serializers.CharField(
        required=False, help_text="low, normal, high or no_reference: the report's judgement, with the normal "
                                  "range at the patient's age (clinical.core.normal_ranges).")


class LengthValueSerializer(serializers.Serializer):
    value = serializers.FloatField()
    unit = serializers.CharField()


class LegKeyMetricsSerializer(serializers.Serializer):
    image_side = serializers.CharField()
    anatomical_side = serializers.CharField(allow_null=True)
    hka_deviation_deg = MetricValueSdSerializer(allow_null=True)
    mLDFA = MetricValueSdSerializer(allow_null=True)
    MPTA = MetricValueSdSerializer(allow_null=True)
    leg_length = LengthValueSerializer(allow_null=True, required=False,
                                       help_text="Femoral-head apex to plafond centre, when the alignment has it.")


class ReviewImageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    thumbnail_url = serializers.SerializerMethodField()
    display_url = serializers.SerializerMethodField()

    def get_thumbnail_url(self, image: Image) -> str:
        return f"/api/images/{image.pk}/thumbnail/"

    def get_display_url(self, image: Image) -> str:
        return f"/api/images/{image.pk}/display/"


class ReviewCaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    acquisition_date = serializers.DateField(allow_null=True)
    view = serializers.CharField()


class ReviewEnsembleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def _age_years(birth_year: int | None, acquired: datetime.date | None) -> float | None:
    """Age at the visit in whole years, as the report computes it (``None`` when unknown: adult ranges)."""
    if birth_year is None or acquired is None or acquired.year < birth_year:
        return None
    return float(acquired.year - birth_year)


def _key_metrics(alignment: dict[str, Any] | None, age_years: float | None = None) -> list[dict[str, Any]]:
    """Per leg: sides and ``{"value", "sd", "status"}`` of the metrics a reviewer scans first.

    ``status`` is the report's judgement (the same table and the patient's age), so the queue colours
    a child's value as the report judges it (issue 16, item 6).
    """
    rows = []
    for leg in (alignment or {}).get("legs", []):
        metrics = leg.get("metrics", {})
        row: dict[str, Any] = {"image_side": leg.get("image_side"), "anatomical_side": leg.get("anatomical_side")}
        for name in KEY_METRICS:
            metric = metrics.get(name)
            row[name] = None if metric is None else {"value": metric.get("value"), "sd": metric.get("sd")}
            if metric is not None and metric.get("value") is not None:
                row[name]["status"] = classify(name, float(metric["value"]), unit="deg", age_years=age_years).status
        length = metrics.get("leg_length")
        if isinstance(length, dict) and length.get("value") is not None:
            row["leg_length"] = {"value": length["value"], "unit": length.get("unit") or "px"}
        rows.append(row)
    return rows


def _lld(alignment: dict[str, Any] | None) -> dict[str, Any] | None:
    """The alignment's leg-length difference (right minus left), when it has one."""
    lld = (alignment or {}).get("lld")
    if not isinstance(lld, dict) or lld.get("value") is None:
        return None
    return {"value": lld["value"], "unit": lld.get("unit") or "px"}


def _flags_in_words(components: dict[str, Any] | None, alignment: dict[str, Any] | None) -> list[str]:
    """The stored flags with their image-side prefixes said as the patient's side, as every page says them."""
    legs = (alignment or {}).get("legs") or []
    return [patient_side_flag(str(flag), legs) for flag in (components or {}).get("flags", [])]


def _shown_alignment(decided: dict[str, Any] | None, predicted: dict[str, Any] | None) -> dict[str, Any] | None:
    """The alignment a queue row shows: the decided revision's once there is one (a corrected item shows the
    corrected numbers, as the report does), else the prediction's."""
    return decided if decided is not None else predicted


class ReviewItemRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    priority = serializers.FloatField()
    priority_components = serializers.JSONField()
    image = ReviewImageSerializer()
    patient_code = serializers.CharField(source="image.case.patient.code")
    cohort = serializers.CharField(source="image.case.patient.cohort")
    case = ReviewCaseSerializer(source="image.case")
    prediction = serializers.IntegerField(source="prediction_id")
    outside_intended_use = serializers.BooleanField(help_text="The prediction found no leg in the image.")
    ensemble = ReviewEnsembleSerializer(source="prediction.ensemble_version")
    legs = serializers.SerializerMethodField()
    lld = serializers.SerializerMethodField()
    flags = serializers.SerializerMethodField(
        help_text="The flags as a person reads them: legs named by the patient's side, as in `legs`.")
    flag_codes = serializers.SerializerMethodField(
        help_text="The flags as stored (image-side prefixes such as 'left: ...'), for scripts.")
    head_revision = serializers.IntegerField(source="image.head_revision_id", allow_null=True)
    assignee = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()
    decided_at = serializers.DateTimeField(allow_null=True)
    revision = serializers.IntegerField(source="revision_id", allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(LegKeyMetricsSerializer(many=True))
    def get_legs(self, item: ReviewItem) -> list[dict[str, Any]]:
        case = item.image.case
        return _key_metrics(_shown_alignment(item.alignment, item.prediction.alignment),
                            _age_years(case.patient.birth_year, case.acquisition_date))

    @extend_schema_field(LengthValueSerializer(allow_null=True))
    def get_lld(self, item: ReviewItem) -> dict[str, Any] | None:
        return _lld(_shown_alignment(item.alignment, item.prediction.alignment))

    def get_flags(self, item: ReviewItem) -> list[str]:
        return _flags_in_words(item.priority_components, item.prediction.alignment)

    def get_flag_codes(self, item: ReviewItem) -> list[str]:
        return list((item.priority_components or {}).get("flags", []))

    def get_assignee(self, item: ReviewItem) -> str | None:
        return _username(item.assignee)

    def get_decided_by(self, item: ReviewItem) -> str | None:
        return _username(item.decided_by)


_ROW_VALUES = (
    "id", "status", "priority", "priority_components", "image_id", "image__width", "image__height",
    "image__head_revision_id", "image__case_id", "image__case__acquisition_date", "image__case__view",
    "image__case__patient__code", "image__case__patient__cohort", "image__case__patient__birth_year", "prediction_id",
    "prediction__ensemble_version_id", "prediction__ensemble_version__name", "prediction__alignment", "alignment",
    "outside_intended_use", "assignee_username", "decided_by_username", "decided_at", "revision_id", "created_at",
    "updated_at",
)


def _iso_datetime(value: datetime.datetime | None, zone: datetime.tzinfo) -> str | None:
    """What DRF's ``DateTimeField`` writes (ISO 8601 in ``zone``, ``Z`` for UTC), without its per-value
    lookup of the current time zone, which was a fifth of a 50-row page's CPU."""
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _review_item_values(queryset: QuerySet[ReviewItem]) -> QuerySet:
    """The columns a queue row shows, with no model instance built (see :func:`_review_row`)."""
    username = get_user_model().USERNAME_FIELD
    return queryset.values(*_ROW_VALUES, assignee_username=F(f"assignee__{username}"),
                           decided_by_username=F(f"decided_by__{username}"))


def _review_row(values: dict[str, Any], zone: datetime.tzinfo) -> dict[str, Any]:
    """One queue row, as :class:`ReviewItemRowSerializer` would render the item.

    A page of 50 items as model instances (seven related rows each) run through nested serializers
    cost about three times the CPU of this (docs/reliability.md, section 6); the serializer stays the
    documented schema, and a test keeps the two equal.
    """
    image_id = values["image_id"]
    acquired = values["image__case__acquisition_date"]
    shown = _shown_alignment(values["alignment"], values["prediction__alignment"])
    return {
        "id": values["id"],
        "status": values["status"],
        "priority": float(values["priority"]),
        "priority_components": values["priority_components"],
        "image": {"id": image_id, "width": values["image__width"], "height": values["image__height"],
                  "thumbnail_url": f"/api/images/{image_id}/thumbnail/",
                  "display_url": f"/api/images/{image_id}/display/"},
        "patient_code": values["image__case__patient__code"],
        "cohort": values["image__case__patient__cohort"],
        "case": {"id": values["image__case_id"], "view": values["image__case__view"],
                 "acquisition_date": None if acquired is None else acquired.isoformat()},
        "prediction": values["prediction_id"],
        "outside_intended_use": values["outside_intended_use"],
        "ensemble": {"id": values["prediction__ensemble_version_id"],
                     "name": values["prediction__ensemble_version__name"]},
        "legs": _key_metrics(shown, _age_years(values["image__case__patient__birth_year"], acquired)),
        "lld": _lld(shown),
        "flags": _flags_in_words(values["priority_components"], values["prediction__alignment"]),
        "flag_codes": list((values["priority_components"] or {}).get("flags", [])),
        "head_revision": values["image__head_revision_id"],
        "assignee": values["assignee_username"],
        "decided_by": values["decided_by_username"],
        "decided_at": _iso_datetime(values["decided_at"], zone),
        "revision": values["revision_id"],
        "created_at": _iso_datetime(values["created_at"], zone),
        "updated_at": _iso_datetime(values["updated_at"], zone),
    }


def _member_outputs_summary(member_outputs: dict[str, Any]) -> dict[str, Any]:
    """Members' joints with their mean score, members' IOU against the ensemble, and majority voting's IOU."""
    keypoint = [
        {"fold": row.get("fold"), "model": row.get("model"), "joints_xy": row.get("joints_xy"),
         "mean_score": _mean(row.get("scores"))}
        for row in member_outputs.get("keypoint", [])
    ]
    return {
        "keypoint": keypoint,
        "segmentation": member_outputs.get("segmentation", []),
        "majority_iou_vs_ensemble": member_outputs.get("majority_iou_vs_ensemble"),
    }


def _mean(values: Any) -> float | None:
    """Mean of a (nested) list of scores; None when there are none."""
    scores = np.asarray(values if values is not None else [], dtype=np.float64)
    return round(float(scores.mean()), 4) if scores.size else None


class ReviewItemDetailSerializer(ReviewItemRowSerializer):
    document = serializers.JSONField(source="prediction.document")
    alignment = serializers.JSONField(source="prediction.alignment")
    uncertainty = serializers.JSONField(source="prediction.uncertainty")
    timings = serializers.JSONField(source="prediction.timings")
    member_outputs = serializers.SerializerMethodField()
    acceptance_blockers = serializers.SerializerMethodField(
        help_text="Why the prediction cannot be accepted as it is (empty: it can): correct, reject, or accept "
                  "with override_reason.")
    next_item = serializers.SerializerMethodField(
        help_text="The pending item to review next (highest priority, this one excluded), or null.")

    def get_acceptance_blockers(self, item: ReviewItem) -> list[str]:
        return review_services.review_item_acceptance_blockers(item=item)

    def get_next_item(self, item: ReviewItem) -> int | None:
        return review_services.review_item_next(after=item)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_member_outputs(self, item: ReviewItem) -> dict[str, Any]:
        return _member_outputs_summary(item.prediction.member_outputs or {})


class ReviewEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    item = serializers.IntegerField(source="item_id")
    image = serializers.IntegerField(source="image_id")
    action = serializers.CharField()
    actor = serializers.SerializerMethodField()
    reason = serializers.CharField()
    revision = serializers.IntegerField(source="revision_id", allow_null=True)
    angle_deltas = serializers.JSONField()
    overridden_checks = serializers.ListField(
        child=serializers.CharField(), help_text="Accepts despite failed checks: the checks overridden (reason above).")
    created_at = serializers.DateTimeField()

    def get_actor(self, event: ReviewEvent) -> str | None:
        return _username(event.actor)


def _item_response(item: ReviewItem) -> Response:
    return Response(ReviewItemDetailSerializer(review_services.review_item_detail_queryset().get(pk=item.pk)).data)


class ReviewItemListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=[*ReviewStatus.choices, (_STATUS_ALL, "Every status")], default=ReviewStatus.PENDING
        )
        cohort = serializers.ChoiceField(choices=Cohort.choices, required=False)
        patient = serializers.CharField(required=False, help_text="Part of the patient code.")
        case = serializers.IntegerField(required=False)
        view = serializers.ChoiceField(choices=View.choices, required=False)
        date_from = serializers.DateField(required=False, help_text="Case acquisition date, inclusive.")
        date_to = serializers.DateField(required=False, help_text="Case acquisition date, inclusive.")
        ensemble = serializers.IntegerField(required=False, help_text="Ensemble version id.")
        not_a_leg = serializers.BooleanField(
            default=False, help_text="true: only the images in which no leg was found (outside intended use), "
                                     "which the queue otherwise leaves out.")

    @extend_schema(parameters=[FilterSerializer], responses=ReviewItemRowSerializer(many=True))
    def get(self, request):  # noqa: ANN001, ANN201
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        queryset = review_services.review_item_list(
            status=None if values["status"] == _STATUS_ALL else values["status"],
            cohort=values.get("cohort"),
            patient_code=values.get("patient"),
            case_id=values.get("case"),
            view=values.get("view"),
            date_from=values.get("date_from"),
            date_to=values.get("date_to"),
            ensemble_id=values.get("ensemble"),
            outside_intended_use=values["not_a_leg"],
        )
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(_review_item_values(queryset), request, view=self)
        zone = timezone.get_current_timezone()
        return paginator.get_paginated_response([_review_row(values, zone) for values in page])


class ReviewItemDetailApi(APIView):
    @extend_schema(responses=ReviewItemDetailSerializer)
    def get(self, request, item_id: int):  # noqa: ANN001, ANN201
        item = get_object_or_404(review_services.review_item_detail_queryset(), pk=item_id)
        return Response(ReviewItemDetailSerializer(item).data)


class ReviewItemAcceptApi(APIView):
    permission_classes = [IsReviewer]
    parser_classes = [SafeJSONParser]

    @extend_schema_serializer(component_name="ReviewItemAcceptInput")
    class InputSerializer(serializers.Serializer):
        base_revision = serializers.IntegerField(
            allow_null=True, help_text="The image's head revision the reviewer saw (null when it has none)."
        )
        override_reason = serializers.CharField(
            required=False, allow_blank=True, max_length=2000,
            help_text="Needed when the item has acceptance_blockers: why it is accepted anyway (recorded).")

    @extend_schema(request=InputSerializer, responses={200: ReviewItemDetailSerializer, 409: _ERROR})
    def post(self, request, item_id: int):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = get_object_or_404(ReviewItem, pk=item_id)
        item = review_services.review_accept(
            item=item, user=request.user, base_revision_id=data.validated_data["base_revision"],
            override_reason=data.validated_data.get("override_reason", ""),
        )
        return _item_response(item)


class ReviewItemChecksApi(APIView):
    """The checks of the document the reviewer is looking at (the prediction, their edit, a revision)."""

    parser_classes = [SafeJSONParser]

    @extend_schema_serializer(component_name="ReviewItemChecksInput")
    class InputSerializer(serializers.Serializer):
        document = serializers.JSONField(help_text="A LabelMe document of the item's image.")

    @extend_schema_serializer(component_name="ReviewItemChecksOutput")
    class OutputSerializer(serializers.Serializer):
        flags = serializers.ListField(child=serializers.CharField())
        blockers = serializers.ListField(child=serializers.CharField(),
                                         help_text="Failures that forbid accepting this document as it is.")

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer, 400: _ERROR})
    def post(self, request, item_id: int):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = get_object_or_404(ReviewItem.objects.select_related("image", "prediction"), pk=item_id)
        checks = document_checks(image=item.image, document=data.validated_data["document"])
        # What the leg localiser said of the image (sides read from the display, a leg found with low
        # confidence) holds whatever outlines are shown: it leads the document's own flags.
        localisation = (item.prediction.member_outputs or {}).get("localisation") or {}
        image_flags = [str(flag) for flag in localisation.get("flags", [])]
        checks["flags"] = list(dict.fromkeys([*image_flags, *checks["flags"]]))
        return Response(self.OutputSerializer(checks).data)


class ReviewItemCorrectApi(APIView):
    permission_classes = [IsReviewer]
    parser_classes = [SafeJSONParser]

    @extend_schema_serializer(component_name="ReviewItemCorrectInput")
    class InputSerializer(serializers.Serializer):
        base_revision = serializers.IntegerField(
            allow_null=True, help_text="The image's head revision the reviewer saw (null when it has none)."
        )
        document = serializers.JSONField(help_text="The corrected LabelMe document (imageData is dropped).")

    @extend_schema(request=InputSerializer, responses={200: ReviewItemDetailSerializer, 409: _ERROR})
    def post(self, request, item_id: int):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = get_object_or_404(ReviewItem, pk=item_id)
        item = review_services.review_correct(
            item=item, user=request.user, document=data.validated_data["document"],
            base_revision_id=data.validated_data["base_revision"],
        )
        return _item_response(item)


class ReviewItemRejectApi(APIView):
    permission_classes = [IsReviewer]
    parser_classes = [SafeJSONParser]

    @extend_schema_serializer(component_name="ReviewItemRejectInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(allow_blank=True, max_length=2000, help_text="Why (required, not blank).")

    @extend_schema(request=InputSerializer, responses={200: ReviewItemDetailSerializer, 409: _ERROR})
    def post(self, request, item_id: int):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = get_object_or_404(ReviewItem, pk=item_id)
        item = review_services.review_reject(item=item, user=request.user, reason=data.validated_data["reason"])
        return _item_response(item)


class ReviewItemReopenApi(APIView):
    permission_classes = [IsReviewer]
    parser_classes = [SafeJSONParser]

    @extend_schema_serializer(component_name="ReviewItemReopenInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(request=InputSerializer, responses={200: ReviewItemDetailSerializer, 409: _ERROR})
    def post(self, request, item_id: int):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = get_object_or_404(ReviewItem, pk=item_id)
        item = review_services.review_reopen(item=item, user=request.user, reason=data.validated_data["reason"])
        return _item_response(item)


class ReviewItemAssignApi(APIView):
    permission_classes = [IsReviewer]
    parser_classes = [SafeJSONParser]

    @extend_schema_serializer(component_name="ReviewItemAssignInput")
    class InputSerializer(serializers.Serializer):
        assignee = serializers.IntegerField(allow_null=True, help_text="User id of a reviewer; null unassigns.")

    @extend_schema(request=InputSerializer, responses={200: ReviewItemDetailSerializer})
    def post(self, request, item_id: int):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = get_object_or_404(ReviewItem, pk=item_id)
        assignee_id = data.validated_data["assignee"]
        assignee = None if assignee_id is None else get_object_or_404(get_user_model(), pk=assignee_id)
        item = review_services.review_assign(item=item, user=request.user, assignee=assignee)
        return _item_response(item)


class ImageReviewEventListApi(APIView):
    @extend_schema(responses=ReviewEventSerializer(many=True))
    def get(self, request, image_id: int):  # noqa: ANN001, ANN201
        image = get_object_or_404(Image, pk=image_id)
        return _paginated(self, request, review_services.review_event_list(image=image), ReviewEventSerializer)


class AlignApi(APIView):
    parser_classes = [SafeJSONParser]

    @extend_schema_serializer(component_name="AlignInput")
    class InputSerializer(serializers.Serializer):
        document = serializers.JSONField(help_text="LabelMe document: femur/tibia polygons, hip/knee/ankle points.")
        width = serializers.IntegerField(required=False, min_value=1, help_text="Default: imageWidth.")
        height = serializers.IntegerField(required=False, min_value=1, help_text="Default: imageHeight.")
        mc_samples = serializers.IntegerField(
            required=False, min_value=2, max_value=document_alignment.LIVE_MC_SAMPLES_MAX,
            default=document_alignment.LIVE_MC_SAMPLES_DEFAULT,
            help_text="Pixels per Monte-Carlo draw (default: the spec's 5000, as the reports use); fewer widens the "
                      "reported spread.",
        )
        image = serializers.IntegerField(
            required=False, min_value=1,
            help_text="The image the document belongs to: its scale (DICOM or a user calibration) gives lengths in mm.",
        )
        revision = serializers.IntegerField(
            required=False, min_value=1,
            help_text="A saved revision the document is unchanged from: its stored document is aligned instead of the "
                      "posted one (which the browser rounds to 0.01 px), so the values are the report's.",
        )

    @extend_schema(
        request=InputSerializer,
        responses={200: OpenApiTypes.OBJECT, 400: _ERROR},
        description="Alignment result JSON (architecture.md §6), as `manage.py align` prints it.",
    )
    def post(self, request):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        spacing = None
        image_id = None
        document = values["document"]
        if "revision" in values:
            revision = get_object_or_404(AnnotationRevision, pk=values["revision"])
            if values.get("image", revision.image_id) != revision.image_id:
                raise InvalidInput("The revision belongs to another image.", {"code": "revision_of_another_image"})
            values.setdefault("image", revision.image_id)
            document = revision.document
        if "image" in values:
            image = get_object_or_404(Image, pk=values["image"])
            image_id = image.pk
            if image.spacing_source != SpacingSource.NONE and (image.pixel_spacing_mm or 0) > 0:
                spacing = image.pixel_spacing_mm
        return Response(document_alignment.labelme_alignment_compute(
            document=document, width=values.get("width"), height=values.get("height"),
            pixel_spacing_mm=spacing, image_id=image_id, mc_samples=values["mc_samples"],
        ))
