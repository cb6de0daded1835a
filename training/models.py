"""Training runs (ensembles and SAM re-tuning), dataset snapshots, comparisons, promotions, re-prediction jobs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from annotations.models import View
from inference.models import EnsembleVersion


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class DatasetSnapshot(models.Model):
    """A frozen set of approved revisions of one view, with a patient-grouped fold assignment.

    The entries never change after creation: retraining from a snapshot, or evaluating on it, always
    sees the same revisions, patients and folds.
    """

    name = models.CharField(max_length=100)
    view = models.CharField(max_length=3, choices=View.choices, default=View.AP)
    n_folds = models.PositiveSmallIntegerField(default=4)
    seed = models.IntegerField(default=0, help_text="Seed of the patient shuffle of the fold assignment.")
    filters = models.JSONField(default=dict, blank=True, help_text="case_ids, cohort, created_before as given.")
    excluded = models.JSONField(default=list, blank=True,
                                help_text="Approved revisions left out, with the reason (e.g. no tibia outline).")
    notes = models.TextField(blank=True)
    code_version = models.CharField(max_length=80, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.view}, #{self.pk})"


class DatasetSnapshotEntry(models.Model):
    """One image of a snapshot: the approved revision it froze, the patient and the fold."""

    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.CASCADE, related_name="entries")
    image = models.ForeignKey("annotations.Image", on_delete=models.PROTECT, related_name="+")
    revision = models.ForeignKey("annotations.AnnotationRevision", on_delete=models.PROTECT, related_name="+")
    patient_code = models.CharField(max_length=64)
    fold = models.PositiveSmallIntegerField()
    acceptance_override = models.JSONField(
        default=dict, blank=True,
        help_text='An accepted prediction that failed blocking checks: {"reason", "checks", "by", "at"} of the '
                  "reviewer's override; empty otherwise.",
    )

    class Meta:
        ordering = ["snapshot_id", "id"]
        constraints = [models.UniqueConstraint(fields=["snapshot", "image"], name="unique_image_per_snapshot")]

    def __str__(self) -> str:
        return f"snapshot {self.snapshot_id}: image {self.image_id} r{self.revision_id} fold {self.fold}"


SAM_TUNING_CONFIG = "sam_bone"
"""``TrainingRun.config_name`` of SAM tuning runs (:mod:`training.sam_tuning`)."""


class TrainingRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    config_name = models.CharField(max_length=32)
    config = models.JSONField(default=dict)
    seed = models.IntegerField(default=0)
    dataset_snapshot = models.ForeignKey(DatasetSnapshot, null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="training_runs")
    code_version = models.CharField(max_length=80, blank=True, help_text="Code that trained (set when it starts).")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    progress = models.JSONField(default=dict, blank=True, help_text="stage, fold, epoch, eta_s")
    loss_history = models.JSONField(default=list, blank=True, help_text="[{fold, member, epoch, loss}] per epoch")
    fold_assignment = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.config_name} run {str(self.id)[:8]} ({self.status})"


class EnsembleComparison(models.Model):
    """A candidate ensemble next to a baseline (the active one when requested) on an evaluation snapshot."""

    candidate = models.ForeignKey(EnsembleVersion, on_delete=models.PROTECT, related_name="comparisons_as_candidate")
    baseline = models.ForeignKey(EnsembleVersion, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="comparisons_as_baseline")
    dataset_snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.PROTECT, related_name="comparisons")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    progress = models.JSONField(default=dict, blank=True, help_text="done, total")
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"comparison #{self.pk}: ensemble {self.candidate_id} vs {self.baseline_id or '-'} ({self.status})"


class PromotionRecord(models.Model):
    """Who changed what is active, when and why; ``rollback_of`` is the promotion a rollback undid."""

    rollback_of = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="rolled_back_by")
    promoted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    promoted_at = models.DateTimeField(auto_now_add=True)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        abstract = True
        ordering = ["-promoted_at", "-id"]


class EnsemblePromotion(PromotionRecord):
    """A recorded change of the active ensemble of a view (a promotion, or a rollback of one)."""

    ensemble = models.ForeignKey(EnsembleVersion, on_delete=models.PROTECT, related_name="promotions")
    previous_active = models.ForeignKey(EnsembleVersion, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+")
    comparison = models.ForeignKey(EnsembleComparison, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="promotions")

    class Meta(PromotionRecord.Meta):
        pass

    def __str__(self) -> str:
        kind = "rollback" if self.rollback_of_id else "promotion"
        return f"{kind} #{self.pk}: ensemble {self.ensemble_id} (was {self.previous_active_id or '-'})"


class SamPromotion(PromotionRecord):
    """A recorded change of the SAM bone weights ``litemedsam_bone`` loads (a promotion, or a rollback of one).

    ``weights`` is the tuned decoder made active (a ``promptable`` ModelVersion from a SAM tuning run),
    ``None`` when a rollback returned to the file shipped in ``models/sam/litemedsam_bone/``;
    ``previous`` is what was active before (``None``: the shipped file); ``sha256`` is the file made active.
    """

    weights = models.ForeignKey("inference.ModelVersion", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="sam_promotions")
    previous = models.ForeignKey("inference.ModelVersion", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    sha256 = models.CharField(max_length=64, help_text="sha256 of the weights file made active.")

    class Meta(PromotionRecord.Meta):
        verbose_name = "SAM promotion"
        verbose_name_plural = "SAM promotions (roll back)"

    def __str__(self) -> str:
        kind = "rollback" if self.rollback_of_id else "promotion"
        return (f"SAM {kind} #{self.pk}: weights {self.weights_id or 'shipped'} "
                f"(was {self.previous_id or 'shipped'})")


class RepredictJob(models.Model):
    """Predict pending (and selected) images with one ensemble, skipping images it already predicted."""

    ensemble = models.ForeignKey(EnsembleVersion, on_delete=models.PROTECT, related_name="repredict_jobs")
    promotion = models.ForeignKey(EnsemblePromotion, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="repredict_jobs")
    include_pending = models.BooleanField(default=True, help_text="Images without an approved revision.")
    image_ids = models.JSONField(default=list, blank=True, help_text="Selected images, in addition.")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="Already predicted by this ensemble.")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"re-predict #{self.pk} with ensemble {self.ensemble_id}: {self.done}/{self.total} ({self.status})"


class EnsembleLifecycle(EnsembleVersion):
    """The ensemble versions as the admin's compare / promote / roll back page sees them."""

    class Meta:
        proxy = True
        verbose_name = "ensemble version (compare, promote, roll back)"
        verbose_name_plural = "ensemble versions (compare, promote, roll back)"
