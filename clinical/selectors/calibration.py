"""How an image's scale is known, and lengths presented accordingly (the one gate for mm in outputs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from annotations.models import Image, SpacingSource
from clinical.core.lengths import PresentedLengths, Scale
from clinical.core.lengths import present_lengths as present_lengths_core
from clinical.models import CalibrationMethod, ImageCalibration

_DICOM_NOTES = {
    "pixel_spacing": "patient plane (calibrated by the modality)",
    "imager_pixel_spacing": "detector plane, magnification unknown",
}


def image_calibration_latest(image: Image) -> ImageCalibration | None:
    return image.calibrations.order_by("-created_at", "-id").first()


def image_scale(image: Image) -> Scale:
    """The scale in force for ``image`` from its ``pixel_spacing_mm`` and ``spacing_source``.

    DICOM PixelSpacing and user calibrations are ``calibrated``; DICOM ImagerPixelSpacing is
    ``detector_plane`` (mm shown with a magnification notice); anything else is ``uncalibrated``.
    """
    spacing = image.pixel_spacing_mm
    if spacing is None or spacing <= 0 or image.spacing_source == SpacingSource.NONE:
        return Scale(None, "uncalibrated", CalibrationMethod.NONE)
    if image.spacing_source == SpacingSource.DICOM:
        return Scale(spacing, "calibrated", CalibrationMethod.DICOM_PIXEL_SPACING)
    if image.spacing_source == SpacingSource.DICOM_IMAGER:
        return Scale(spacing, "detector_plane", CalibrationMethod.DICOM_IMAGER_PIXEL_SPACING)
    latest = image_calibration_latest(image)
    return Scale(spacing, "calibrated", latest.method if latest else "user")


def present_lengths(alignment: Mapping[str, Any], image: Image) -> PresentedLengths:
    """Lengths of ``alignment`` in mm only when ``image`` is calibrated now, otherwise in px with a notice.

    Every output (timeline, report, CSV exports, reader-study results) goes through this function.
    """
    return present_lengths_core(alignment, scale=image_scale(image))


def _calibration_json(row: ImageCalibration) -> dict[str, Any]:
    return {
        "id": row.pk,
        "method": row.method,
        "method_label": row.get_method_display(),
        "points": row.points,
        "known_length_mm": row.known_length_mm,
        "pixel_spacing_mm": row.pixel_spacing_mm,
        "previous_pixel_spacing_mm": row.previous_pixel_spacing_mm,
        "previous_spacing_source": row.previous_spacing_source,
        "user": row.user.get_username() if row.user else None,
        "created_at": row.created_at.isoformat(),
    }


def _dicom_provenance(image: Image) -> dict[str, Any]:
    metadata = image.dicom_metadata or {}
    tags = {key: metadata.get(key) for key in ("pixel_spacing", "imager_pixel_spacing",
                                                "pixel_spacing_calibration_type",
                                                "estimated_radiographic_magnification_factor")}
    notes = [f"{key}: {note}" for key, note in _DICOM_NOTES.items() if metadata.get(key) is not None]
    if metadata.get("pixel_spacing_note"):
        notes.append(str(metadata["pixel_spacing_note"]))
    return {**tags, "notes": notes}


def image_calibration_provenance(image: Image) -> dict[str, Any]:
    """Everything known about the image's scale: the one in force, DICOM tags, and the user history."""
    scale = image_scale(image)
    rows = image.calibrations.select_related("user").order_by("-created_at", "-id")
    history = [_calibration_json(row) for row in rows]
    return {
        "image": image.pk,
        "pixel_spacing_mm": scale.pixel_spacing_mm,
        "spacing_source": image.spacing_source,
        "method": scale.method,
        "status": scale.status,
        "length_unit": scale.unit,
        "notice": scale.notice,
        "dicom": _dicom_provenance(image),
        "current": history[0] if history and image.spacing_source == SpacingSource.USER else None,
        "history": history,
    }
