"""Ensemble lifecycle endpoints: compare (admins), promote and roll back (admins), follow the resulting
comparison and re-prediction jobs (reviewers and up), and a prediction's lineage (everyone with a role)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.apis import _paginated
from annotations.models import View
from enllasd_web.roles import IsAdmin, IsAnnotator, IsReviewer
from inference.models import EnsembleVersion, Prediction
from training.comparisons import ensemble_comparison_create
from training.lineage import prediction_lineage
from training.models import DatasetSnapshot, EnsembleComparison, EnsemblePromotion, RepredictJob
from training.promotions import ensemble_promote, ensemble_rollback


class EnsembleListOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    view = serializers.CharField()
    status = serializers.CharField(help_text="active (predicts new images), candidate or retired.")
    created_at = serializers.DateTimeField()
    training_run = serializers.UUIDField(source="training_run_id", allow_null=True)
    members = serializers.IntegerField(source="member_count", help_text="Member models.")
    metrics = serializers.JSONField(help_text="Evaluation recorded at training (Table II layout), when there is one.")


class EnsembleListApi(APIView):
    """Every ensemble version, newest first (``?view=AP``, ``?status=active``)."""

    permission_classes = [IsAnnotator]

    @extend_schema_serializer(component_name="EnsembleListFilter")
    class FilterSerializer(serializers.Serializer):
        view = serializers.ChoiceField(choices=View.choices, required=False)
        status = serializers.CharField(required=False)

    @extend_schema(parameters=[FilterSerializer], responses=EnsembleListOutputSerializer(many=True))
    def get(self, request):  # noqa: ANN001, ANN201
        from django.db.models import Count

        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        ensembles = EnsembleVersion.objects.annotate(member_count=Count("members")).order_by("-created_at", "-id")
        ensembles = ensembles.filter(**filters.validated_data)
        return _paginated(self, request, ensembles, EnsembleListOutputSerializer)


class EnsembleComparisonOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    candidate = serializers.IntegerField(source="candidate_id")
    baseline = serializers.IntegerField(source="baseline_id", allow_null=True)
    dataset_snapshot = serializers.IntegerField(source="dataset_snapshot_id")
    status = serializers.CharField()
    progress = serializers.JSONField()
    metrics = serializers.JSONField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class RepredictJobOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ensemble = serializers.IntegerField(source="ensemble_id")
    promotion = serializers.IntegerField(source="promotion_id", allow_null=True)
    include_pending = serializers.BooleanField()
    image_ids = serializers.JSONField()
    status = serializers.CharField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    skipped = serializers.IntegerField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class EnsemblePromotionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ensemble = serializers.IntegerField(source="ensemble_id")
    previous_active = serializers.IntegerField(source="previous_active_id", allow_null=True)
    comparison = serializers.IntegerField(source="comparison_id", allow_null=True)
    rollback_of = serializers.IntegerField(source="rollback_of_id", allow_null=True)
    promoted_by = serializers.CharField(source="promoted_by.username", allow_null=True, default=None)
    promoted_at = serializers.DateTimeField()
    reason = serializers.CharField()
    repredict_job = serializers.SerializerMethodField()

    def get_repredict_job(self, promotion: EnsemblePromotion) -> int | None:
        job = promotion.repredict_jobs.order_by("id").first()
        return None if job is None else job.pk


class EnsembleCompareApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema_serializer(component_name="EnsembleCompareInput")
    class InputSerializer(serializers.Serializer):
        dataset_snapshot = serializers.PrimaryKeyRelatedField(queryset=DatasetSnapshot.objects.all())
        baseline = serializers.PrimaryKeyRelatedField(queryset=EnsembleVersion.objects.all(), allow_null=True,
                                                      default=None, help_text="Default: the active ensemble.")

    @extend_schema(request=InputSerializer, responses={202: EnsembleComparisonOutputSerializer})
    def post(self, request, ensemble_id: int):  # noqa: ANN001, ANN201
        candidate = get_object_or_404(EnsembleVersion, pk=ensemble_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        comparison = ensemble_comparison_create(candidate=candidate, created_by=request.user, **data.validated_data)
        return Response(EnsembleComparisonOutputSerializer(comparison).data, status=status.HTTP_202_ACCEPTED)


class EnsembleComparisonDetailApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(responses=EnsembleComparisonOutputSerializer)
    def get(self, request, comparison_id: int):  # noqa: ANN001, ANN201
        comparison = get_object_or_404(EnsembleComparison, pk=comparison_id)
        return Response(EnsembleComparisonOutputSerializer(comparison).data)


class EnsemblePromoteApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema_serializer(component_name="EnsemblePromoteInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
        comparison = serializers.PrimaryKeyRelatedField(queryset=EnsembleComparison.objects.all(), allow_null=True,
                                                        default=None)
        repredict = serializers.BooleanField(default=True, help_text="Re-predict pending images afterwards.")
        repredict_image_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list,
                                                    help_text="Images to re-predict besides the pending ones.")

    @extend_schema(request=InputSerializer, responses=EnsemblePromotionOutputSerializer)
    def post(self, request, ensemble_id: int):  # noqa: ANN001, ANN201
        ensemble = get_object_or_404(EnsembleVersion, pk=ensemble_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        promotion = ensemble_promote(ensemble=ensemble, promoted_by=request.user, **data.validated_data)
        return Response(EnsemblePromotionOutputSerializer(promotion).data)


class EnsembleRollbackApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema_serializer(component_name="EnsembleRollbackInput")
    class InputSerializer(serializers.Serializer):
        view = serializers.ChoiceField(choices=View.choices, default=View.AP)
        reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)

    @extend_schema(request=InputSerializer, responses=EnsemblePromotionOutputSerializer)
    def post(self, request):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        promotion = ensemble_rollback(promoted_by=request.user, **data.validated_data)
        return Response(EnsemblePromotionOutputSerializer(promotion).data)


class RepredictJobDetailApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(responses=RepredictJobOutputSerializer)
    def get(self, request, repredict_job_id: int):  # noqa: ANN001, ANN201
        return Response(RepredictJobOutputSerializer(get_object_or_404(RepredictJob, pk=repredict_job_id)).data)


class PredictionLineageApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, prediction_id: int):  # noqa: ANN001, ANN201
        prediction = get_object_or_404(
            Prediction.objects.select_related("ensemble_version__training_run__dataset_snapshot"), pk=prediction_id)
        return Response(prediction_lineage(prediction=prediction))
