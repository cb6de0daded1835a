"""Prediction endpoints: request a prediction with the active ensemble, read predictions."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.models import Image
from inference import services
from inference.models import EnsembleVersion, Prediction


class PredictionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    image = serializers.IntegerField(source="image_id")
    ensemble_version = serializers.IntegerField(source="ensemble_version_id")
    status = serializers.CharField()
    document = serializers.JSONField(allow_null=True)
    alignment = serializers.JSONField(allow_null=True)
    uncertainty = serializers.JSONField()
    timings = serializers.JSONField()
    error = serializers.CharField()
    interactive = serializers.BooleanField()
    queue = serializers.SerializerMethodField(
        help_text="While queued: {ahead: predictions that run first, eta_seconds: about when it is done}; else null.")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field({"type": "object", "nullable": True, "properties": {
        "ahead": {"type": "integer"}, "eta_seconds": {"type": "number"}}})
    def get_queue(self, prediction: Prediction) -> dict[str, Any] | None:
        position = services.prediction_queue_position(prediction)
        return None if position is None else position.to_json()


class PredictionRequestApi(APIView):
    @extend_schema(request=None, responses={202: PredictionOutputSerializer})
    def post(self, request, image_id: int):  # noqa: ANN001, ANN201
        image = get_object_or_404(Image.objects.select_related("case"), pk=image_id)
        ensemble = None
        if "ensemble" in request.query_params:
            ensemble = get_object_or_404(EnsembleVersion, pk=request.query_params["ensemble"])
        prediction = services.prediction_request(image=image, ensemble=ensemble, interactive=True)
        return Response(PredictionOutputSerializer(prediction).data, status=status.HTTP_202_ACCEPTED)


class PredictionListApi(APIView):
    @extend_schema(responses=PredictionOutputSerializer(many=True))
    def get(self, request, image_id: int):  # noqa: ANN001, ANN201
        image = get_object_or_404(Image, pk=image_id)
        predictions = Prediction.objects.filter(image=image).order_by("-created_at")
        return Response(PredictionOutputSerializer(predictions, many=True).data)


class PredictionDetailApi(APIView):
    @extend_schema(responses=PredictionOutputSerializer)
    def get(self, request, prediction_id: int):  # noqa: ANN001, ANN201
        prediction = get_object_or_404(Prediction, pk=prediction_id)
        return Response(PredictionOutputSerializer(prediction).data)
