"""REST API of the annotations app: one APIView per operation, nested input/output serializers."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import selectors, services
from annotations.derivatives import image_display_ensure
from annotations.models import Case, Cohort, Image, Patient, RevisionSource, Sex, View
from enllasd_web.exceptions import InvalidInput
from enllasd_web.pagination import LimitOffsetPagination
from enllasd_web.parsers import SafeJSONParser
from enllasd_web.roles import IsAdmin, Role, user_role

# Sources a role may write directly; the review flow writes `model`/`corrected`, imports `imported`.
_SOURCES_BY_ROLE = {
    Role.ANNOTATOR: {RevisionSource.MANUAL, RevisionSource.SAM_ASSISTED},
    Role.REVIEWER: {RevisionSource.MANUAL, RevisionSource.SAM_ASSISTED, RevisionSource.CORRECTED},
    Role.ADMIN: set(RevisionSource.values),
}


class PatientOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    cohort = serializers.CharField()
    birth_year = serializers.IntegerField(allow_null=True)
    sex = serializers.CharField()


class CaseOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    patient = PatientOutputSerializer()
    acquisition_date = serializers.DateField(allow_null=True)
    view = serializers.CharField()
    notes = serializers.CharField()
    image_count = serializers.SerializerMethodField()

    def get_image_count(self, case: Case) -> int:
        return getattr(case, "image_count", None) or case.images.count()


class ImageOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    uid = serializers.UUIDField()
    case = serializers.IntegerField(source="case_id")
    name = serializers.CharField(source="original_name")
    sha256 = serializers.CharField()
    size_bytes = serializers.IntegerField()
    format = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    bit_depth = serializers.IntegerField()
    photometric = serializers.CharField()
    pixel_spacing_mm = serializers.FloatField(allow_null=True)
    spacing_source = serializers.CharField()
    dicom_metadata = serializers.JSONField()
    derivative_status = serializers.CharField()
    head_revision = serializers.IntegerField(source="head_revision_id", allow_null=True)
    display_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_display_url(self, image: Image) -> str:
        return f"/api/images/{image.pk}/display/"

    def get_thumbnail_url(self, image: Image) -> str:
        return f"/api/images/{image.pk}/thumbnail/"


class RevisionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    image = serializers.IntegerField(source="image_id")
    number = serializers.IntegerField()
    parent = serializers.IntegerField(source="parent_id", allow_null=True)
    source = serializers.CharField()
    author = serializers.SerializerMethodField()
    model_version = serializers.IntegerField(source="model_version_id", allow_null=True)
    message = serializers.CharField()
    created_at = serializers.DateTimeField()
    document = serializers.JSONField()

    def get_author(self, revision) -> str | None:  # noqa: ANN001
        return revision.author.get_username() if revision.author else None


def _paginated(view: APIView, request, queryset, serializer_class) -> Response:  # noqa: ANN001
    """Limit/offset page of ``queryset`` (``?limit=&offset=``) in the project's list shape."""
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class PatientListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        cohort = serializers.ChoiceField(choices=Cohort.choices, required=False)
        code = serializers.CharField(required=False)

    @extend_schema(parameters=[FilterSerializer], responses=PatientOutputSerializer(many=True))
    def get(self, request):  # noqa: ANN001, ANN201
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = selectors.patient_list(**filters.validated_data)
        return _paginated(self, request, queryset, PatientOutputSerializer)


class PatientCreateApi(APIView):
    @extend_schema_serializer(component_name="PatientCreateInput")
    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=64)
        cohort = serializers.ChoiceField(choices=Cohort.choices, default=Cohort.UNKNOWN)
        birth_year = serializers.IntegerField(required=False, allow_null=True, min_value=1900, max_value=2100)
        sex = serializers.ChoiceField(choices=Sex.choices, default=Sex.UNKNOWN)

    @extend_schema(request=InputSerializer, responses={201: PatientOutputSerializer})
    def post(self, request):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        patient = services.patient_create(**data.validated_data)
        return Response(PatientOutputSerializer(patient).data, status=status.HTTP_201_CREATED)


class CaseListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        patient = serializers.CharField(required=False, help_text="Part of the patient code.")
        cohort = serializers.ChoiceField(choices=Cohort.choices, required=False)
        view = serializers.ChoiceField(choices=View.choices, required=False)

    @extend_schema(parameters=[FilterSerializer], responses=CaseOutputSerializer(many=True))
    def get(self, request):  # noqa: ANN001, ANN201
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        queryset = selectors.case_list(
            patient_code=values.get("patient"), cohort=values.get("cohort"), view=values.get("view")
        )
        return _paginated(self, request, queryset, CaseOutputSerializer)


class CaseCreateApi(APIView):
    @extend_schema_serializer(component_name="CaseCreateInput")
    class InputSerializer(serializers.Serializer):
        patient = serializers.IntegerField(required=False, help_text="Patient id.")
        patient_code = serializers.CharField(required=False, help_text="Or a patient code (created if new).")
        cohort = serializers.ChoiceField(choices=Cohort.choices, required=False,
                                         help_text="Cohort of a patient created by this call (a known patient keeps "
                                                   "its own).")
        acquisition_date = serializers.DateField(required=False, allow_null=True)
        view = serializers.ChoiceField(choices=View.choices, default=View.AP)
        notes = serializers.CharField(required=False, allow_blank=True, default="")
        birth_year = serializers.IntegerField(
            required=False, allow_null=True, min_value=1900, max_value=2100,
            help_text="The patient's birth year (children's films are judged against their age's normal ranges).")
        age_years = serializers.IntegerField(
            required=False, allow_null=True, min_value=0, max_value=120,
            help_text="Or the age in whole years at acquisition (needs acquisition_date); gives the birth year.")
        sex = serializers.ChoiceField(choices=Sex.choices, required=False)

        def validate(self, attrs):  # noqa: ANN001, ANN201
            if not attrs.get("patient") and not attrs.get("patient_code"):
                raise serializers.ValidationError("Give either patient or patient_code.")
            if attrs.get("age_years") is not None:
                if attrs.get("birth_year") is not None:
                    raise serializers.ValidationError("Give birth_year or age_years, not both.")
                if not attrs.get("acquisition_date"):
                    raise serializers.ValidationError({"age_years": "An age needs the acquisition date."})
                attrs["birth_year"] = attrs["acquisition_date"].year - attrs["age_years"]
            born = attrs.get("birth_year")
            if born is not None and attrs.get("acquisition_date") and born > attrs["acquisition_date"].year:
                raise serializers.ValidationError({"birth_year": "The birth year is after the acquisition date."})
            return attrs

    @extend_schema(request=InputSerializer, responses={201: CaseOutputSerializer})
    def post(self, request):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        demographics = {key: values[key] for key in ("birth_year", "sex") if values.get(key) is not None}
        if values.get("patient"):
            patient = get_object_or_404(Patient, pk=values["patient"])
        else:
            patient = Patient.objects.filter(code=values["patient_code"]).first() or services.patient_create(
                code=values["patient_code"], **({"cohort": values["cohort"]} if values.get("cohort") else {}),
                **demographics)
        services.patient_demographics_update(patient=patient, **demographics)
        case = services.case_create(
            patient=patient,
            acquisition_date=values.get("acquisition_date"),
            view=values["view"],
            notes=values["notes"],
        )
        return Response(CaseOutputSerializer(case).data, status=status.HTTP_201_CREATED)


class CaseDetailApi(APIView):
    @extend_schema(responses=CaseOutputSerializer)
    def get(self, request, case_id: int):  # noqa: ANN001, ANN201
        case = get_object_or_404(selectors.case_list(), pk=case_id)
        return Response(CaseOutputSerializer(case).data)


class CaseLabelMeExportApi(APIView):
    """The case's annotated images as a LabelMe 5.x zip (each image's head revision next to its image file)."""

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, case_id: int):  # noqa: ANN001, ANN201
        case = get_object_or_404(selectors.case_list(), pk=case_id)
        archive = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)  # noqa: SIM115 - FileResponse closes it
        services.labelme_export_zip(images=selectors.image_list(case_id=case.pk).iterator(chunk_size=200),
                                    out=archive)
        archive.seek(0)
        return FileResponse(archive, as_attachment=True, content_type="application/zip",
                            filename=f"{case.patient.code}-case{case.pk}-labelme.zip")


class ImageListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        case = serializers.IntegerField(required=False)

    @extend_schema(parameters=[FilterSerializer], responses=ImageOutputSerializer(many=True))
    def get(self, request):  # noqa: ANN001, ANN201
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = selectors.image_list(case_id=filters.validated_data.get("case"))
        return _paginated(self, request, queryset, ImageOutputSerializer)


class ImageUploadApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema_serializer(component_name="ImageUploadInput")
    class InputSerializer(serializers.Serializer):
        case = serializers.IntegerField()
        file = serializers.FileField(allow_empty_file=True)

    @extend_schema(request=InputSerializer, responses={201: ImageOutputSerializer})
    def post(self, request):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = get_object_or_404(Case, pk=data.validated_data["case"])
        upload = data.validated_data["file"]
        image = services.image_upload(
            case=case, data=upload.read(), filename=upload.name, uploaded_by=request.user, interactive=True
        )
        return Response(ImageOutputSerializer(image).data, status=status.HTTP_201_CREATED)


class ImageDetailApi(APIView):
    @extend_schema(responses=ImageOutputSerializer)
    def get(self, request, image_id: int):  # noqa: ANN001, ANN201
        image = get_object_or_404(selectors.image_list(), pk=image_id)
        return Response(ImageOutputSerializer(image).data)


class _ImageFileApi(APIView):
    field_name = "display"

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, image_id: int):  # noqa: ANN001, ANN201
        image = image_display_ensure(image=get_object_or_404(Image, pk=image_id))
        response = FileResponse(getattr(image, self.field_name).open("rb"), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class ImageDisplayApi(_ImageFileApi):
    field_name = "display"


class ImageThumbnailApi(_ImageFileApi):
    field_name = "thumbnail"


class ImageLabelMeApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("embed", bool, description="Embed the display image as imageData.")],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, image_id: int):  # noqa: ANN001, ANN201
        image = get_object_or_404(Image, pk=image_id)
        embed = request.query_params.get("embed") in {"1", "true", "yes"}
        return Response(services.image_labelme_document(image=image, embed_image_data=embed))


class RevisionListApi(APIView):
    @extend_schema(responses=RevisionOutputSerializer(many=True))
    def get(self, request, image_id: int):  # noqa: ANN001, ANN201
        image = get_object_or_404(Image, pk=image_id)
        return _paginated(self, request, selectors.revision_list(image=image), RevisionOutputSerializer)


class RevisionCreateApi(APIView):
    parser_classes = [SafeJSONParser]

    @extend_schema_serializer(component_name="RevisionCreateInput")
    class InputSerializer(serializers.Serializer):
        base_revision = serializers.IntegerField(
            allow_null=True, help_text="The head revision this edit started from (null for the first one)."
        )
        document = serializers.JSONField(help_text="LabelMe document (imageData is dropped).")
        source = serializers.ChoiceField(choices=RevisionSource.choices, default=RevisionSource.MANUAL)
        message = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: RevisionOutputSerializer,
            409: inline_serializer(
                "RevisionConflict",
                {"message": serializers.CharField(), "extra": serializers.JSONField()},
            ),
        },
    )
    def post(self, request, image_id: int):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if values["source"] not in _SOURCES_BY_ROLE.get(user_role(request.user), set()):
            raise InvalidInput(
                f"Your role cannot save revisions with source {values['source']!r}.", {"code": "source_not_allowed"}
            )
        image = get_object_or_404(Image, pk=image_id)
        revision = services.annotation_revision_submit(
            image=image,
            document=values["document"],
            base_revision_id=values["base_revision"],
            source=values["source"],
            author=request.user,
            message=values["message"],
        )
        return Response(RevisionOutputSerializer(revision).data, status=status.HTTP_201_CREATED)


class RevisionDetailApi(APIView):
    @extend_schema(responses=RevisionOutputSerializer)
    def get(self, request, revision_id: int):  # noqa: ANN001, ANN201
        from annotations.models import AnnotationRevision

        revision = get_object_or_404(AnnotationRevision.objects.select_related("author"), pk=revision_id)
        return Response(RevisionOutputSerializer(revision).data)


class LabelMeImportApi(APIView):
    permission_classes = [IsAdmin]
    parser_classes = [MultiPartParser]

    @extend_schema_serializer(component_name="LabelMeImportInput")
    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="A .zip of images and LabelMe JSON files.")
        cohort = serializers.ChoiceField(choices=Cohort.choices, default=Cohort.UNKNOWN)

    @extend_schema(request=InputSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bundle.zip"
            with path.open("wb") as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
            report = services.labelme_bundle_import(
                path=path, user=request.user, cohort=data.validated_data["cohort"]
            )
        return Response(report.as_dict(), status=status.HTTP_201_CREATED)


