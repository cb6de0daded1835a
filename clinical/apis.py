"""REST API of the clinical app: calibration, patient timeline, metrics export, reader studies.

Roles: reading is annotator and up (the project default); the dataset export needs a reviewer;
creating reader studies and reading their results needs an admin who is not a reader of the study
while it is open (so no reader can see the others' values). A study's tasks and readings are open
to its own readers only.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.models import Cohort, Image, Patient
from clinical import services
from clinical.core.timeline import LEG_ORDER, TIMELINE_METRICS
from clinical.models import DRAWN_METHODS, ReaderStudy, ReaderStudyStatus
from clinical.selectors.calibration import image_calibration_provenance
from clinical.selectors.reader_studies import (
    reader_study_list,
    reader_study_results,
    reader_study_results_allowed,
    reader_study_tasks,
    study_results_json,
)
from clinical.selectors.reports import export_cases, metrics_export_csv
from clinical.selectors.timeline import patient_timeline, timeline_csv, timeline_json
from enllasd_web.exceptions import InvalidInput
from enllasd_web.roles import IsAdmin, IsReviewer, Role, has_role


def _csv_response(content: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _list_param(request: Request, name: str, allowed: tuple[str, ...]) -> list[str] | None:
    """A comma-separated (or repeated) query parameter, validated against ``allowed``."""
    values = [v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()]
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise InvalidInput(f"Unknown {name}: {', '.join(unknown)}.", {"code": f"invalid_{name}", "allowed": allowed})
    return values or None


# --------------------------------------------------------------------------------------------------
# Calibration


class ImageCalibrationApi(APIView):
    """``GET``: how the image's scale is known. ``POST``: calibrate from a ruler or calibration object."""

    @extend_schema_serializer(component_name="ImageCalibrationInput")
    class InputSerializer(serializers.Serializer):
        method = serializers.ChoiceField(choices=[m.value for m in DRAWN_METHODS])
        points = serializers.ListField(
            child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
            min_length=2, max_length=2,
        )
        length_mm = serializers.FloatField(min_value=0.001)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, image_id: int) -> Response:
        image = get_object_or_404(Image, pk=image_id)
        return Response(image_calibration_provenance(image))

    @extend_schema(request=InputSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, image_id: int) -> Response:
        image = get_object_or_404(Image, pk=image_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.image_calibration_set(image=image, method=data.validated_data["method"],
                                       points=data.validated_data["points"],
                                       length_mm=data.validated_data["length_mm"], user=request.user)
        return Response(image_calibration_provenance(image), status=status.HTTP_201_CREATED)


# --------------------------------------------------------------------------------------------------
# Timeline and exports

_TIMELINE_PARAMETERS = [
    OpenApiParameter("leg", str, description=f"Comma-separated leg keys: {', '.join(LEG_ORDER)}."),
    OpenApiParameter("metric", str, description=f"Comma-separated metrics: {', '.join(TIMELINE_METRICS)}."),
]


class PatientTimelineApi(APIView):
    @extend_schema(parameters=_TIMELINE_PARAMETERS, responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, patient_id: int) -> Response:
        patient = get_object_or_404(Patient, pk=patient_id)
        timeline = patient_timeline(patient=patient, metrics=_list_param(request, "metric", TIMELINE_METRICS),
                                    legs=_list_param(request, "leg", LEG_ORDER))
        return Response(timeline_json(timeline))


class PatientTimelineCsvApi(APIView):
    @extend_schema(parameters=_TIMELINE_PARAMETERS, responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, patient_id: int) -> HttpResponse:
        patient = get_object_or_404(Patient, pk=patient_id)
        timeline = patient_timeline(patient=patient, metrics=_list_param(request, "metric", TIMELINE_METRICS),
                                    legs=_list_param(request, "leg", LEG_ORDER))
        return _csv_response(timeline_csv(timeline), f"timeline-{patient.code}.csv")


class MetricsCsvApi(APIView):
    permission_classes = [IsReviewer]

    class FilterSerializer(serializers.Serializer):
        cohort = serializers.ChoiceField(choices=Cohort.choices, required=False)
        case_ids = serializers.RegexField(r"^\d+(,\d+)*$", required=False,
                                          help_text="Comma-separated case ids.")

    @extend_schema(parameters=[FilterSerializer], responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request) -> HttpResponse:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        raw_ids = filters.validated_data.get("case_ids")
        cases = export_cases(cohort=filters.validated_data.get("cohort"),
                             case_ids=[int(v) for v in raw_ids.split(",")] if raw_ids else None)
        return _csv_response(metrics_export_csv(cases), "metrics.csv")


# --------------------------------------------------------------------------------------------------
# Reader studies


class ReaderStudyOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    status = serializers.CharField()
    include_model = serializers.BooleanField()
    readers = serializers.SerializerMethodField()
    image_count = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_readers(self, study: ReaderStudy) -> list[str]:
        return sorted(user.get_username() for user in study.readers.all())

    def get_image_count(self, study: ReaderStudy) -> int:
        return study.images.count()


def _study_for_reader(request: Request, study_id: int) -> ReaderStudy:
    study = get_object_or_404(ReaderStudy, pk=study_id)
    if not study.readers.filter(pk=request.user.pk).exists():
        raise services.Forbidden("You are not a reader of this study.", {"code": "not_a_reader"})
    return study


class ReaderStudyListApi(APIView):
    @extend_schema(responses=ReaderStudyOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        studies = reader_study_list(user=request.user, include_all=has_role(request.user, Role.ADMIN))
        return Response(ReaderStudyOutputSerializer(studies, many=True).data)


class ReaderStudyCreateApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema_serializer(component_name="ReaderStudyCreateInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        image_ids = serializers.ListField(child=serializers.IntegerField(), min_length=1)
        readers = serializers.ListField(child=serializers.CharField(), min_length=2, max_length=3,
                                        help_text="Usernames of the 2-3 readers.")
        include_model = serializers.BooleanField(default=True)

    @extend_schema(request=InputSerializer, responses={201: ReaderStudyOutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        images = list(Image.objects.select_related("case").filter(pk__in=values["image_ids"]))
        missing = sorted(set(values["image_ids"]) - {image.pk for image in images})
        users = list(get_user_model().objects.filter(username__in=values["readers"]))
        unknown = sorted(set(values["readers"]) - {user.get_username() for user in users})
        if missing or unknown:
            raise InvalidInput("Unknown images or readers.", {"code": "not_found", "image_ids": missing,
                                                               "readers": unknown})
        study = services.reader_study_create(name=values["name"], description=values["description"], images=images,
                                             readers=users, include_model=values["include_model"],
                                             created_by=request.user)
        return Response(ReaderStudyOutputSerializer(study).data, status=status.HTTP_201_CREATED)


class ReaderStudyTasksApi(APIView):
    """The images the requesting reader still has to read: pixels only, no annotation or prediction."""

    class TaskOutputSerializer(serializers.Serializer):
        image = serializers.IntegerField(source="pk")
        width = serializers.IntegerField()
        height = serializers.IntegerField()
        display_url = serializers.SerializerMethodField()

        def get_display_url(self, image: Image) -> str:
            return f"/api/images/{image.pk}/display/"

    @extend_schema(responses=TaskOutputSerializer(many=True))
    def get(self, request: Request, study_id: int) -> Response:
        study = _study_for_reader(request, study_id)
        images = reader_study_tasks(study=study, reader=request.user) if study.status == ReaderStudyStatus.OPEN else []
        return Response(self.TaskOutputSerializer(images, many=True).data)


class ReaderStudyReadingCreateApi(APIView):
    @extend_schema_serializer(component_name="ReaderStudyReadingInput")
    class InputSerializer(serializers.Serializer):
        image = serializers.IntegerField()
        document = serializers.JSONField()

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        image = serializers.IntegerField(source="image_id")
        aligned = serializers.SerializerMethodField()
        alignment_error = serializers.CharField()
        created_at = serializers.DateTimeField()

        def get_aligned(self, reading) -> bool:  # noqa: ANN001 - a ReaderStudyReading
            return reading.alignment is not None

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request, study_id: int) -> Response:
        study = _study_for_reader(request, study_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        image = get_object_or_404(Image, pk=data.validated_data["image"])
        reading = services.reader_study_reading_submit(study=study, image=image, reader=request.user,
                                                       document=data.validated_data["document"])
        return Response(self.OutputSerializer(reading).data, status=status.HTTP_201_CREATED)


class ReaderStudyResultsApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, study_id: int) -> Response:
        study = get_object_or_404(ReaderStudy, pk=study_id)
        if not reader_study_results_allowed(request.user, study):
            raise services.Forbidden("Readers of an open study cannot see its results.", {"code": "blinded"})
        return Response(study_results_json(reader_study_results(study=study)))
