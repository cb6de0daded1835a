"""Training-run endpoints (admins): start (from folders/phantoms or a dataset snapshot), list, read progress, cancel."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from enllasd_web.roles import IsAdmin
from training import services
from training.models import DatasetSnapshot, TrainingRun


class TrainingRunOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    config_name = serializers.CharField()
    config = serializers.JSONField()
    seed = serializers.IntegerField()
    dataset_snapshot = serializers.IntegerField(source="dataset_snapshot_id", allow_null=True)
    code_version = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.JSONField()
    loss_history = serializers.JSONField()
    metrics = serializers.JSONField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class TrainingRunStartApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema_serializer(component_name="TrainingRunStartInput")
    class InputSerializer(serializers.Serializer):
        config = serializers.ChoiceField(choices=services.CONFIG_NAMES, default="tiny")
        data_dirs = serializers.ListField(child=serializers.CharField(), required=False, default=list)
        phantoms = serializers.IntegerField(min_value=0, max_value=10000, default=0)
        dataset_snapshot = serializers.PrimaryKeyRelatedField(queryset=DatasetSnapshot.objects.all(),
                                                              allow_null=True, default=None)
        seed = serializers.IntegerField(default=0)
        activate = serializers.BooleanField(default=False)

    @extend_schema(request=InputSerializer, responses={202: TrainingRunOutputSerializer})
    def post(self, request):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        run = services.training_run_create(
            config_name=values["config"], data_dirs=values["data_dirs"], phantoms=values["phantoms"],
            dataset_snapshot=values["dataset_snapshot"], seed=values["seed"], activate=values["activate"],
            started_by=request.user,
        )
        return Response(TrainingRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunListApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses=TrainingRunOutputSerializer(many=True))
    def get(self, request):  # noqa: ANN001, ANN201
        return Response(TrainingRunOutputSerializer(TrainingRun.objects.all()[:100], many=True).data)


class TrainingRunDetailApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses=TrainingRunOutputSerializer)
    def get(self, request, run_id):  # noqa: ANN001, ANN201
        return Response(TrainingRunOutputSerializer(get_object_or_404(TrainingRun, pk=run_id)).data)


class TrainingRunCancelApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(request=None, responses=TrainingRunOutputSerializer)
    def post(self, request, run_id):  # noqa: ANN001, ANN201
        run = services.training_run_cancel(run=get_object_or_404(TrainingRun, pk=run_id))
        return Response(TrainingRunOutputSerializer(run).data)
