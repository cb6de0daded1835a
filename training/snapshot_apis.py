"""Dataset-snapshot endpoints: create (admins), list, read and export as a LabelMe zip (reviewers and up)."""

from __future__ import annotations

import tempfile

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.models import Cohort, View
from enllasd_web.roles import IsAdmin, IsReviewer
from training.models import DatasetSnapshot
from training.snapshots import dataset_snapshot_create, dataset_snapshot_export

EXPORT_SPOOL_BYTES = 64 * 1024 * 1024


class DatasetSnapshotEntrySerializer(serializers.Serializer):
    image = serializers.IntegerField(source="image_id")
    revision = serializers.IntegerField(source="revision_id")
    patient_code = serializers.CharField()
    fold = serializers.IntegerField()
    acceptance_override = serializers.JSONField(
        help_text='{"reason", "checks", "by", "at"} when the revision is a prediction accepted despite failed '
                  "checks (the reviewer's override), else {}.")


class DatasetSnapshotOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    view = serializers.CharField()
    n_folds = serializers.IntegerField()
    seed = serializers.IntegerField()
    filters = serializers.JSONField()
    excluded = serializers.JSONField()
    notes = serializers.CharField()
    code_version = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    n_images = serializers.SerializerMethodField()

    def get_n_images(self, snapshot: DatasetSnapshot) -> int:
        return snapshot.entries.count()


class DatasetSnapshotDetailSerializer(DatasetSnapshotOutputSerializer):
    entries = DatasetSnapshotEntrySerializer(many=True)


class DatasetSnapshotCollectionApi(APIView):
    """``GET``: the snapshots, newest first (reviewers). ``POST``: freeze a new one (admins)."""

    @extend_schema_serializer(component_name="DatasetSnapshotCreateInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        view = serializers.ChoiceField(choices=View.choices, default=View.AP)
        n_folds = serializers.IntegerField(min_value=2, max_value=10, default=4)
        seed = serializers.IntegerField(default=0)
        notes = serializers.CharField(required=False, default="", allow_blank=True)
        case_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
        cohort = serializers.ChoiceField(choices=Cohort.choices, required=False, allow_null=True, default=None)
        created_before = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def get_permissions(self) -> list:
        return [IsAdmin()] if self.request.method == "POST" else [IsReviewer()]

    @extend_schema(responses=DatasetSnapshotOutputSerializer(many=True))
    def get(self, request):  # noqa: ANN001, ANN201
        snapshots = DatasetSnapshot.objects.select_related("created_by")[:200]
        return Response(DatasetSnapshotOutputSerializer(snapshots, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: DatasetSnapshotOutputSerializer})
    def post(self, request):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        snapshot = dataset_snapshot_create(**data.validated_data, created_by=request.user)
        return Response(DatasetSnapshotOutputSerializer(snapshot).data, status=status.HTTP_201_CREATED)


class DatasetSnapshotDetailApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(responses=DatasetSnapshotDetailSerializer)
    def get(self, request, snapshot_id: int):  # noqa: ANN001, ANN201
        snapshot = get_object_or_404(DatasetSnapshot.objects.prefetch_related("entries"), pk=snapshot_id)
        return Response(DatasetSnapshotDetailSerializer(snapshot).data)


class DatasetSnapshotExportApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, snapshot_id: int):  # noqa: ANN001, ANN201
        snapshot = get_object_or_404(DatasetSnapshot, pk=snapshot_id)
        buffer = tempfile.SpooledTemporaryFile(max_size=EXPORT_SPOOL_BYTES)  # noqa: SIM115 - FileResponse closes it
        dataset_snapshot_export(snapshot=snapshot, out=buffer)
        buffer.seek(0)
        return FileResponse(buffer, as_attachment=True, filename=f"dataset-snapshot-{snapshot.pk}.zip",
                            content_type="application/zip")
