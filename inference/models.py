"""Model registry (member models and ensembles) and predictions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class ModelKind(models.TextChoices):
    KEYPOINT = "keypoint", "Key-point model"
    SEGMENTATION = "segmentation", "Segmentation model"
    PROMPTABLE = "promptable", "Promptable segmenter (SAM)"


class VersionStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class ModelVersion(models.Model):
    """One trained model artifact (weights file under MODEL_STORE, with its sha256).

    Ensemble members (key-point and segmentation models) stay ``candidate``: their ensemble is what is
    active. A ``promptable`` version is a tuned SAM decoder (backend ``litemedsam_bone``, from a SAM
    tuning run); at most one of a backend is ``active``, and the SAM registry loads it.
    """

    kind = models.CharField(max_length=16, choices=ModelKind.choices)
    architecture = models.CharField(max_length=64)
    backend = models.CharField(max_length=64, help_text="Registry name of the backend adapter.")
    view = models.CharField(max_length=3, default="AP")
    fold = models.PositiveSmallIntegerField(null=True, blank=True)
    artifact_path = models.CharField(max_length=500, help_text="Relative to MODEL_STORE.")
    sha256 = models.CharField(max_length=64)
    config = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    training_run = models.ForeignKey(
        "training.TrainingRun", null=True, blank=True, on_delete=models.PROTECT, related_name="model_versions"
    )
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.CANDIDATE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["backend"], condition=Q(kind="promptable", status="active"),
                                    name="one_active_promptable_per_backend")
        ]

    def __str__(self) -> str:
        fold = f" fold {self.fold}" if self.fold is not None else ""
        return f"{self.kind}:{self.architecture}{fold} #{self.pk}"


class EnsembleVersion(models.Model):
    """A set of member models plus stackers; at most one active ensemble per view."""

    name = models.CharField(max_length=100)
    view = models.CharField(max_length=3, default="AP")
    members = models.ManyToManyField(ModelVersion, related_name="ensembles")
    stackers = models.JSONField(default=list, blank=True, help_text="Stacker records (JSON, never pickle).")
    config = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    training_run = models.ForeignKey(
        "training.TrainingRun", null=True, blank=True, on_delete=models.PROTECT, related_name="ensembles"
    )
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.CANDIDATE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["view"], condition=Q(status="active"), name="one_active_ensemble_per_view")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.view}, {self.status})"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Prediction(models.Model):
    """The ensemble's output for one image; unique per (image, ensemble version)."""

    image = models.ForeignKey("annotations.Image", on_delete=models.CASCADE, related_name="predictions")
    ensemble_version = models.ForeignKey(EnsembleVersion, on_delete=models.PROTECT, related_name="predictions")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    document = models.JSONField(null=True, blank=True, help_text="LabelMe document of the ensemble output.")
    member_outputs = models.JSONField(default=dict, blank=True)
    alignment = models.JSONField(null=True, blank=True)
    uncertainty = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    interactive = models.BooleanField(
        default=False,
        help_text="Requested for a person waiting (an upload from the browser or the API): runs on the "
                  "'interactive' queue, ahead of bulk imports and SAM embeddings.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["image", "ensemble_version"], name="unique_prediction_per_version")
        ]

    def __str__(self) -> str:
        return f"Prediction {self.image_id} by {self.ensemble_version_id} ({self.status})"


class PrelabelStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class PrelabelJob(models.Model):
    """A batch of images to outline with SAM; each unlabelled image gets a ``sam_assisted`` revision.

    ``done`` counts images that got a revision, ``skipped`` those that already had one, ``failed`` those
    that failed (``errors`` maps the image id to the reason); ``done + skipped + failed`` reaches ``total``.
    """

    status = models.CharField(max_length=16, choices=PrelabelStatus.choices, default=PrelabelStatus.QUEUED)
    model = models.CharField(max_length=32, help_text="SAM registry name, e.g. litemedsam.")
    image_ids = models.JSONField(default=list)
    boxes = models.JSONField(default=dict, blank=True,
                             help_text='{"<image id>": [[x0, y0, x1, y1], ...]}: one box per leg, in image pixels.')
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, help_text="Why the whole job failed.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"SAM pre-label #{self.pk} ({self.model}, {self.status})"
