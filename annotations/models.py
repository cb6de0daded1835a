"""Patients, cases, radiographs and immutable LabelMe-compatible annotation revisions."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Cohort(models.TextChoices):
    SD = "sd", "Skeletal dysplasia"
    NON_SD = "non_sd", "Non-SD (control)"
    UNKNOWN = "unknown", "Unknown"


class Sex(models.TextChoices):
    FEMALE = "F", "Female"
    MALE = "M", "Male"
    OTHER = "O", "Other"
    UNKNOWN = "U", "Unknown"


class Patient(models.Model):
    """A pseudonymous patient. No name, date of birth or hospital identifier is ever stored."""

    code = models.CharField(max_length=64, unique=True, help_text="Pseudonymous code, e.g. P-000123.")
    cohort = models.CharField(max_length=16, choices=Cohort.choices, default=Cohort.UNKNOWN)
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class View(models.TextChoices):
    AP = "AP", "Antero-posterior (front)"
    LAT = "LAT", "Lateral (side)"


class Case(models.Model):
    """One acquisition of a patient: a visit date and a view. A patient has many cases over time."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="cases")
    acquisition_date = models.DateField(null=True, blank=True)
    view = models.CharField(max_length=3, choices=View.choices, default=View.AP)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["patient__code", "acquisition_date", "id"]

    def __str__(self) -> str:
        date = self.acquisition_date.isoformat() if self.acquisition_date else "undated"
        return f"{self.patient.code} {date} {self.view}"


class SpacingSource(models.TextChoices):
    DICOM = "dicom", "DICOM PixelSpacing"
    DICOM_IMAGER = "dicom_imager", "DICOM ImagerPixelSpacing (detector plane)"
    USER = "user", "Calibrated by a user"
    NONE = "none", "Unknown"


class DerivativeStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


def _original_path(instance: Image, filename: str) -> str:
    return f"originals/{instance.sha256[:2]}/{instance.sha256}{instance.original_suffix}"


class Image(models.Model):
    """A radiograph. The original bytes are kept unchanged with their sha256."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="images")
    original = models.FileField(upload_to=_original_path, max_length=255)
    original_name = models.CharField(
        max_length=255, help_text="File name as uploaded (no directories), or its pseudonym (ENLLASD_UPLOAD_NAMES)."
    )
    original_suffix = models.CharField(max_length=16)
    sha256 = models.CharField(max_length=64, db_index=True)
    size_bytes = models.BigIntegerField()
    format = models.CharField(max_length=16)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bit_depth = models.PositiveSmallIntegerField()
    photometric = models.CharField(max_length=32)
    pixel_spacing_mm = models.FloatField(null=True, blank=True)
    spacing_source = models.CharField(max_length=16, choices=SpacingSource.choices, default=SpacingSource.NONE)
    dicom_metadata = models.JSONField(default=dict, blank=True, help_text="Non-identifying DICOM tags only.")
    source_pseudonym = models.CharField(
        max_length=32, blank=True, help_text="Keyed hash of the DICOM PatientID; never the identifier itself."
    )
    display = models.FileField(upload_to="derivatives/", blank=True, max_length=255)
    thumbnail = models.FileField(upload_to="derivatives/", blank=True, max_length=255)
    derivative_status = models.CharField(
        max_length=16, choices=DerivativeStatus.choices, default=DerivativeStatus.PENDING
    )
    derivative_error = models.TextField(blank=True)
    head_revision = models.ForeignKey(
        "AnnotationRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case_id", "id"]
        constraints = [models.UniqueConstraint(fields=["case", "sha256"], name="unique_image_per_case")]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.case})"

    @property
    def stem(self) -> str:
        return self.original_name.rsplit(".", 1)[0]


class RevisionSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    MODEL = "model", "Model prediction accepted"
    CORRECTED = "corrected", "Model prediction corrected"
    SAM_ASSISTED = "sam_assisted", "SAM assisted"
    IMPORTED = "imported", "Imported"


APPROVED_REVISION_SOURCES: tuple[str, ...] = (
    RevisionSource.MODEL, RevisionSource.CORRECTED, RevisionSource.MANUAL, RevisionSource.IMPORTED,
)
"""Revision sources a surgeon stands behind (training data); ``sam_assisted`` drafts are not approved."""


class AnnotationRevision(models.Model):
    """One immutable version of an image's annotation, as a LabelMe document without imageData.

    Revisions are never updated or deleted through the application: each save adds a row whose
    ``parent`` is the head it was based on, and ``Image.head_revision`` moves to it.
    """

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="revisions")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    number = models.PositiveIntegerField(help_text="1 for the first revision of the image, then 2, 3, ...")
    document = models.JSONField(help_text="LabelMe 5.x document with imageData null.")
    source = models.CharField(max_length=16, choices=RevisionSource.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_version = models.ForeignKey(
        "inference.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["image_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["image", "number"], name="unique_revision_number"),
            # A linear history: two revisions can never share a parent.
            models.UniqueConstraint(fields=["parent"], name="unique_revision_child"),
        ]

    def __str__(self) -> str:
        return f"{self.image.original_name} r{self.number} ({self.source})"

    def save(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        if self.pk is not None:
            raise RuntimeError("Annotation revisions are immutable; create a new revision instead.")
        super().save(*args, **kwargs)


class ReviewStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    ACCEPTED = "accepted", "Accepted as predicted"
    CORRECTED = "corrected", "Accepted with corrections"
    REJECTED = "rejected", "Rejected"


class ReviewItem(models.Model):
    """One prediction waiting in (or decided in) the approval queue; one item per prediction.

    ``priority`` orders the queue (higher = review first); ``priority_components`` holds the
    normalised inputs it was computed from (see :func:`review.services.review_priority`).
    State changes go through :mod:`review.services`, which appends a ``ReviewEvent`` each time.
    """

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="review_items")
    prediction = models.OneToOneField(
        "inference.Prediction", on_delete=models.CASCADE, related_name="review_item"
    )
    status = models.CharField(max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.PENDING)
    priority = models.FloatField(default=0.0, help_text="Higher is reviewed first.")
    priority_components = models.JSONField(
        default=dict, blank=True,
        help_text="joint_spread, angle_spread, member_disagreement (each 0..1) and flags (list of text).",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    revision = models.ForeignKey(
        AnnotationRevision, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The revision the decision produced (accept / correct).",
    )
    outside_intended_use = models.BooleanField(
        default=False,
        help_text="The prediction found no leg (not an AP hip-to-ankle film): listed under the queue's "
                  "'not a leg' filter, never among the pending items a reviewer is sent to next.",
    )
    alignment = models.JSONField(
        null=True, blank=True,
        help_text="Alignment JSON of the decided revision, computed once when it was decided (accept: the "
                  "prediction's, which its document reproduces; correct: the corrected document's). The queue "
                  "shows it instead of the prediction's; null while pending or rejected.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "created_at", "id"]
        indexes = [models.Index(fields=["status", "-priority", "created_at"], name="review_queue_order")]

    def __str__(self) -> str:
        return f"Review of prediction {self.prediction_id} ({self.status})"


class ReviewAction(models.TextChoices):
    CREATED = "created", "Created"
    ACCEPTED = "accepted", "Accepted"
    CORRECTED = "corrected", "Corrected"
    REJECTED = "rejected", "Rejected"
    REOPENED = "reopened", "Reopened"
    ASSIGNED = "assigned", "Assigned"


class ReviewEvent(models.Model):
    """One entry of a review item's append-only history; never updated or deleted by the application."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="events")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="review_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Null for events made by the system (item creation).",
    )
    action = models.CharField(max_length=16, choices=ReviewAction.choices)
    reason = models.TextField(blank=True)
    revision = models.ForeignKey(
        AnnotationRevision, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    angle_deltas = models.JSONField(
        default=dict, blank=True,
        help_text='Corrections only: {image_side: {metric: {"predicted", "corrected", "delta"}}}, '
                  'or {"error": text} when the corrected document could not be aligned.',
    )
    overridden_checks = models.JSONField(
        default=list, blank=True,
        help_text="Accepts only: the failed checks the reviewer overrode (the reason is in reason).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} on review item {self.item_id}"

    def save(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        if self.pk is not None:
            raise RuntimeError("Review events are append-only; add a new event instead.")
        super().save(*args, **kwargs)
