"""SAM assist endpoints: list models, outline a prompted object, start and follow batch pre-labelling.

The web process never runs a model: decoding waits for a sam worker (``SAM_DECODE_TIMEOUT_S``), batch
jobs are queued and followed by id.
"""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.models import Image
from enllasd_web.roles import IsAnnotator
from inference import sam_services
from inference.core.click_labels import bone_at
from inference.models import JobStatus, PrelabelJob, Prediction
from inference.sam.registry import active_bone_weights, available_models


@extend_schema_serializer(component_name="SamModel")
class SamModelSerializer(serializers.Serializer):
    name = serializers.CharField()
    available = serializers.BooleanField()
    message = serializers.CharField(allow_blank=True)


@extend_schema_serializer(component_name="SamBoneWeights")
class SamBoneWeightsSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=["shipped", "tuned"],
                                     help_text="shipped: models/sam/litemedsam_bone; tuned: promoted from a run.")
    path = serializers.CharField(help_text="The shipped file in the repository, or a tuned one under MODEL_STORE.")
    sha256 = serializers.CharField(allow_null=True)
    model_version = serializers.IntegerField(allow_null=True)
    training_run = serializers.UUIDField(allow_null=True)


@extend_schema_serializer(component_name="SamModelsOutput")
class SamModelsOutputSerializer(serializers.Serializer):
    default = serializers.CharField()
    models = SamModelSerializer(many=True)
    bone_weights = SamBoneWeightsSerializer(help_text="The tuned decoder litemedsam_bone loads now.")


@extend_schema_serializer(component_name="SamTimings")
class SamTimingsSerializer(serializers.Serializer):
    embed_s = serializers.FloatField(help_text="Getting the image embedding (from the cache, or computing it).")
    decode_s = serializers.FloatField(help_text="Prompt decoding and outline tracing.")
    total_s = serializers.FloatField(help_text="The whole task on the worker.")


@extend_schema_serializer(component_name="SamDecodeOutput")
class SamDecodeOutputSerializer(serializers.Serializer):
    model = serializers.CharField()
    polygons = serializers.ListField(
        child=serializers.ListField(child=serializers.ListField(child=serializers.FloatField(), min_length=2,
                                                                max_length=2)),
        help_text="[[[x, y], ...]]: the outer ring of the largest region (empty when nothing was found).",
    )
    score = serializers.FloatField(help_text="The model's own predicted IoU (not calibrated).")
    embedding_cached = serializers.BooleanField()
    timings = SamTimingsSerializer()
    label = serializers.CharField(
        required=False, allow_null=True,
        help_text="The request's label; without one, the bone guessed from where the outline lies (femur above "
                  "the image's middle, tibia below; null when nothing was found).")
    label_inferred = serializers.BooleanField(help_text="True when label was guessed, not given.")


@extend_schema_serializer(component_name="SamPrelabelJob")
class PrelabelJobOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    model = serializers.CharField()
    image_ids = serializers.ListField(child=serializers.IntegerField())
    total = serializers.IntegerField()
    done = serializers.IntegerField(help_text="Images that got a sam_assisted revision.")
    skipped = serializers.IntegerField(help_text="Images that already had a revision.")
    failed = serializers.IntegerField()
    errors = serializers.DictField(child=serializers.CharField(), help_text="Image id -> why it failed.")
    error = serializers.CharField(allow_blank=True, help_text="Why the whole job failed.")
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_created_by(self, job: PrelabelJob) -> str | None:
        return job.created_by.get_username() if job.created_by else None


def _point_field() -> serializers.ListField:
    return serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2)


def _box_field(**kwargs: object) -> serializers.ListField:
    return serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4, **kwargs)


class SamModelListApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(responses=SamModelsOutputSerializer)
    def get(self, request):  # noqa: ANN001, ANN201
        data = {"default": settings.SAM_DEFAULT_MODEL, "models": available_models(),
                "bone_weights": active_bone_weights().as_dict()}
        return Response(SamModelsOutputSerializer(data).data)


def _clicked_bone(image: Image, values: dict) -> str | None:
    """The bone under the first positive click (else the box's centre), by the knee of the leg it falls on as the
    image's latest prediction placed it; ``None`` without one (issue 26, item 2)."""
    points, labels = values.get("points") or [], values.get("labels") or []
    positive = [p for i, p in enumerate(points) if i >= len(labels) or labels[i] == 1]
    box = values.get("box")
    where = positive[0] if positive else ([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2] if box else None)
    if where is None:
        return None
    prediction = (Prediction.objects.filter(image=image, status=JobStatus.SUCCEEDED, alignment__isnull=False)
                  .order_by("-finished_at", "-id").only("alignment").first())
    return bone_at(where, (prediction.alignment or {}).get("legs") or []) if prediction else None


class SamDecodeApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema_serializer(component_name="SamDecodeInput")
    class InputSerializer(serializers.Serializer):
        model = serializers.CharField(required=False, help_text="Default: SAM_DEFAULT_MODEL.")
        points = serializers.ListField(child=_point_field(), required=False, max_length=64,
                                       help_text="Clicks [[x, y], ...] in image pixels.")
        labels = serializers.ListField(child=serializers.ChoiceField(choices=[0, 1]), required=False, max_length=64,
                                       help_text="1 inside, 0 outside, one per point (default: all 1).")
        box = _box_field(required=False, help_text="[x0, y0, x1, y1] in image pixels.")
        tolerance_px = serializers.FloatField(default=sam_services.DEFAULT_TOLERANCE_PX, min_value=0, max_value=50,
                                              help_text="Douglas-Peucker tolerance of the outline.")
        label = serializers.CharField(required=False, max_length=64,
                                      help_text="Echoed back (e.g. femur); without it the bone is guessed.")

    @extend_schema(request=InputSerializer, responses={200: SamDecodeOutputSerializer})
    def post(self, request, image_id: int):  # noqa: ANN001, ANN201
        image = get_object_or_404(Image, pk=image_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        result = sam_services.sam_decode_request(
            image=image, model=values.get("model"), points=values.get("points"), labels=values.get("labels"),
            box=values.get("box"), tolerance_px=values["tolerance_px"],
        )
        inferred = "label" not in values
        result["label"] = _clicked_bone(image, values) or result.get("bone_guess") if inferred else values["label"]
        result["label_inferred"] = inferred
        return Response(SamDecodeOutputSerializer(result).data)


class PrelabelJobStartApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema_serializer(component_name="SamPrelabelInput")
    class InputSerializer(serializers.Serializer):
        image_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False,
                                          max_length=10000)
        case_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False,
                                         max_length=1000)
        boxes = serializers.DictField(
            child=serializers.ListField(child=_box_field(), min_length=1, max_length=2),
            required=False, help_text='{"<image id>": [[x0, y0, x1, y1], ...]}: one whole-leg box per leg.',
        )
        model = serializers.CharField(required=False, help_text="Default: SAM_DEFAULT_MODEL.")

        def validate(self, attrs):  # noqa: ANN001, ANN201
            if bool(attrs.get("image_ids")) == bool(attrs.get("case_ids")):
                raise serializers.ValidationError("Give either image_ids or case_ids.")
            return attrs

    @extend_schema_serializer(component_name="SamPrelabelStarted")
    class OutputSerializer(serializers.Serializer):
        job = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses={202: OutputSerializer})
    def post(self, request):  # noqa: ANN001, ANN201
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        image_ids = values.get("image_ids") or list(
            Image.objects.filter(case_id__in=values["case_ids"]).order_by("id").values_list("id", flat=True))
        job = sam_services.prelabel_job_start(image_ids=image_ids, boxes=values.get("boxes"),
                                              model=values.get("model"), user=request.user)
        return Response(self.OutputSerializer({"job": job.pk}).data, status=status.HTTP_202_ACCEPTED)


class PrelabelJobDetailApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(responses=PrelabelJobOutputSerializer)
    def get(self, request, job_id: int):  # noqa: ANN001, ANN201
        job = get_object_or_404(PrelabelJob.objects.select_related("created_by"), pk=job_id)
        return Response(PrelabelJobOutputSerializer(job).data)
