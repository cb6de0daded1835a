"""SAM re-tuning endpoints (admins): start a tuning run on a dataset snapshot, follow it, promote its candidate,
roll the SAM bone weights back, list the promotions."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from enllasd_web.roles import IsAdmin
from training.apis import TrainingRunOutputSerializer
from training.models import DatasetSnapshot, SamPromotion, TrainingRun
from training.sam_promotions import sam_tuning_run_promote, sam_weights_rollback
from training.sam_tuning import MAX_EPOCHS, SAM_TUNING_CONFIG, sam_tuning_candidate, sam_tuning_run_create


@extend_schema_serializer(component_name="SamTuningRun")
class SamTuningRunOutputSerializer(TrainingRunOutputSerializer):
    candidate = serializers.SerializerMethodField(
        help_text="The tuned weights once the run succeeded: {model_version, path, sha256, status}; "
                  "status active means every SAM worker uses them.")

    def get_candidate(self, run: TrainingRun) -> dict | None:
        version = sam_tuning_candidate(run)
        if version is None:
            return None
        return {"model_version": version.pk, "path": version.artifact_path, "sha256": version.sha256,
                "status": version.status}


@extend_schema_serializer(component_name="SamPromotion")
class SamPromotionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    weights = serializers.IntegerField(source="weights_id", allow_null=True,
                                       help_text="Model version made active; null: the shipped file.")
    training_run = serializers.UUIDField(source="weights.training_run_id", allow_null=True, default=None)
    previous = serializers.IntegerField(source="previous_id", allow_null=True,
                                        help_text="Model version active before; null: the shipped file.")
    sha256 = serializers.CharField()
    rollback_of = serializers.IntegerField(source="rollback_of_id", allow_null=True)
    promoted_by = serializers.CharField(source="promoted_by.username", allow_null=True, default=None)
    promoted_at = serializers.DateTimeField()
    reason = serializers.CharField()


def _sam_runs():  # noqa: ANN202 - a queryset
    return TrainingRun.objects.filter(config_name=SAM_TUNING_CONFIG)


class SamTuningRunCollectionApi(APIView):
    """``GET``: the SAM tuning runs, newest first; ``POST``: start one (202)."""

    permission_classes = [IsAdmin]

    @extend_schema_serializer(component_name="SamTuningRunStartInput")
    class InputSerializer(serializers.Serializer):
        snapshot = serializers.PrimaryKeyRelatedField(queryset=DatasetSnapshot.objects.all(),
                                                      help_text="Dataset snapshot of approved outlines.")
        epochs = serializers.IntegerField(min_value=1, max_value=MAX_EPOCHS, required=False, help_text="Default 3.")
        holdout_fold = serializers.IntegerField(min_value=0, required=False,
                                                help_text="Fold evaluated on; default: the snapshot's highest.")
        lr = serializers.FloatField(min_value=1e-7, max_value=0.01, required=False, help_text="Default 1e-4.")
        batch_size = serializers.IntegerField(min_value=1, max_value=64, required=False, help_text="Default 8.")
        examples_per_image = serializers.IntegerField(min_value=1, max_value=32, required=False,
                                                      help_text="Default 2.")
        seed = serializers.IntegerField(default=0)

    @extend_schema(responses=SamTuningRunOutputSerializer(many=True))
    def get(self, request):  # noqa: ANN001, ANN201
        return Response(SamTuningRunOutputSerializer(_sam_runs()[:100], many=True).data)

    @extend_schema(request=InputSerializer, responses={202: SamTuningRunOutputSerializer})
    def post(self, request):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        run = sam_tuning_run_create(dataset_snapshot=values.pop("snapshot"), started_by=request.user, **values)
        return Response(SamTuningRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class SamTuningRunDetailApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses=SamTuningRunOutputSerializer)
    def get(self, request, run_id):  # noqa: ANN001, ANN201
        return Response(SamTuningRunOutputSerializer(get_object_or_404(_sam_runs(), pk=run_id)).data)


@extend_schema_serializer(component_name="SamPromoteInput")
class _ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class SamTuningRunPromoteApi(APIView):
    permission_classes = [IsAdmin]
    InputSerializer = _ReasonSerializer

    @extend_schema(request=InputSerializer, responses=SamPromotionOutputSerializer)
    def post(self, request, run_id):  # noqa: ANN001, ANN201
        run = get_object_or_404(_sam_runs(), pk=run_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        promotion = sam_tuning_run_promote(run=run, promoted_by=request.user, **data.validated_data)
        return Response(SamPromotionOutputSerializer(promotion).data)


class SamRollbackApi(APIView):
    permission_classes = [IsAdmin]
    InputSerializer = _ReasonSerializer

    @extend_schema(request=InputSerializer, responses=SamPromotionOutputSerializer)
    def post(self, request):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        promotion = sam_weights_rollback(promoted_by=request.user, **data.validated_data)
        return Response(SamPromotionOutputSerializer(promotion).data)


class SamPromotionListApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses=SamPromotionOutputSerializer(many=True))
    def get(self, request):  # noqa: ANN001, ANN201
        promotions = SamPromotion.objects.select_related("weights", "promoted_by")[:100]
        return Response(SamPromotionOutputSerializer(promotions, many=True).data)
