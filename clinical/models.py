"""Calibration provenance of images and blinded inter-reader studies.

Both histories are append-only: a calibration is never edited (a new one supersedes it, the latest
wins) and a reader's reading is never replaced. Writes go through :mod:`clinical.services`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class CalibrationMethod(models.TextChoices):
    DICOM_PIXEL_SPACING = "dicom_pixel_spacing", "DICOM PixelSpacing (patient plane)"
    DICOM_IMAGER_PIXEL_SPACING = "dicom_imager_pixel_spacing", "DICOM ImagerPixelSpacing (detector plane)"
    RULER = "ruler", "Ruler drawn by a user"
    CALIBRATION_OBJECT = "calibration_object", "Calibration object drawn by a user"
    NONE = "none", "None"


DRAWN_METHODS = (CalibrationMethod.RULER, CalibrationMethod.CALIBRATION_OBJECT)


class ImageCalibration(models.Model):
    """One calibration of an image's scale by a user; the newest row of an image is in force.

    ``points`` are the two ends of the drawn segment in image ``(x, y)`` pixels, ``known_length_mm``
    their true distance, ``pixel_spacing_mm`` the result. ``previous_*`` keep what the image had
    before (e.g. a DICOM spacing), so the history shows every scale the image ever had.
    """

    image = models.ForeignKey("annotations.Image", on_delete=models.CASCADE, related_name="calibrations")
    method = models.CharField(max_length=32, choices=[(m.value, m.label) for m in DRAWN_METHODS])
    points = models.JSONField(help_text="[[x, y], [x, y]] in image pixels.")
    known_length_mm = models.FloatField()
    pixel_spacing_mm = models.FloatField()
    previous_pixel_spacing_mm = models.FloatField(null=True, blank=True)
    previous_spacing_source = models.CharField(max_length=16, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["image_id", "-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(known_length_mm__gt=0), name="calibration_length_positive"),
            models.CheckConstraint(condition=models.Q(pixel_spacing_mm__gt=0), name="calibration_spacing_positive"),
            models.CheckConstraint(condition=models.Q(method__in=[m.value for m in DRAWN_METHODS]),
                                   name="calibration_drawn_method"),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} {self.pixel_spacing_mm:.4f} mm/px on image {self.image_id}"

    def save(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        if self.pk is not None:
            raise RuntimeError("Calibrations are append-only; add a new calibration instead.")
        super().save(*args, **kwargs)


class ReaderStudyStatus(models.TextChoices):
    OPEN = "open", "Open for readings"
    CLOSED = "closed", "Closed"


class ReaderStudy(models.Model):
    """A set of images that 2–3 readers each annotate blind to one another and to the model."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    images = models.ManyToManyField("annotations.Image", related_name="reader_studies")
    readers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="reader_studies")
    include_model = models.BooleanField(
        default=True, help_text="Also compare each reader with the active ensemble's prediction."
    )
    status = models.CharField(max_length=16, choices=ReaderStudyStatus.choices, default=ReaderStudyStatus.OPEN)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "reader studies"

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class ReaderStudyReading(models.Model):
    """One reader's LabelMe annotation of one study image, kept apart from the revision history.

    ``alignment`` is the alignment JSON computed from the document when it was submitted (``None``
    with ``alignment_error`` when the document has no complete leg), so results need no re-alignment.
    """

    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="readings")
    image = models.ForeignKey("annotations.Image", on_delete=models.CASCADE, related_name="+")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    document = models.JSONField(help_text="LabelMe 5.x document with imageData null.")
    alignment = models.JSONField(null=True, blank=True)
    alignment_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study_id", "image_id", "reader_id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "image", "reader"], name="one_reading_per_reader_and_image"),
        ]

    def __str__(self) -> str:
        return f"Reading of image {self.image_id} by {self.reader_id} in study {self.study_id}"

    def save(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        if self.pk is not None:
            raise RuntimeError("Readings are immutable.")
        super().save(*args, **kwargs)
