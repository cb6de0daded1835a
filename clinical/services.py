"""Services of the clinical app: image calibration, reader studies, plausibility flags for review.

Each service validates its input, owns its transaction and raises :class:`ApplicationError`
subclasses with ``extra.code``; views and serializers only call them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from annotations.core.labelme import LabelMeError, parse_document, to_labelme5
from annotations.models import Image, SpacingSource, View
from clinical.core.lengths import spacing_from_reference_length
from clinical.core.plausibility import plausibility_checks
from clinical.models import DRAWN_METHODS, ImageCalibration, ReaderStudy, ReaderStudyReading, ReaderStudyStatus
from clinical.selectors.reports import image_laterality
from enllasd_web.exceptions import ApplicationError, Conflict, InvalidInput
from enllasd_web.roles import Role, has_role
from inference.core.labelme_alignment import align_labelme_document
from inference.models import Prediction

logger = logging.getLogger(__name__)

MIN_READERS, MAX_READERS = 2, 3
# A drawn scale outside this range (mm per pixel) is a mistake, not a radiograph.
SPACING_LIMITS_MM = (0.01, 5.0)


class Forbidden(ApplicationError):
    status_code = 403


# --------------------------------------------------------------------------------------------------
# Calibration


def image_calibration_set(*, image: Image, method: str, points: Sequence[Sequence[float]], length_mm: float,
                          user: AbstractBaseUser | None) -> ImageCalibration:
    """Calibrate ``image`` from a ruler or calibration object drawn by a user; the new scale wins.

    Sets ``Image.pixel_spacing_mm`` and ``spacing_source = "user"`` and appends an
    :class:`ImageCalibration` that records the method, the points and what the image had before.

    Raises
    ------
    InvalidInput
        Unknown method, points that are not two points inside the image, a bad length, or a
        resulting spacing outside :data:`SPACING_LIMITS_MM` (``extra.code`` says which).
    """
    if method not in [m.value for m in DRAWN_METHODS]:
        raise InvalidInput(f"Unknown calibration method {method!r}; use ruler or calibration_object.",
                           {"code": "invalid_method"})
    try:
        spacing = spacing_from_reference_length(points, length_mm=float(length_mm))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"Invalid calibration: {exc}", {"code": "invalid_calibration"}) from exc
    for x, y in points:
        if not (0 <= x <= image.width and 0 <= y <= image.height):
            raise InvalidInput(f"Point ({x}, {y}) lies outside the {image.width}x{image.height} image.",
                               {"code": "point_outside_image"})
    low, high = SPACING_LIMITS_MM
    if not low <= spacing <= high:
        raise InvalidInput(f"The drawn length gives {spacing:.4f} mm per pixel, outside {low}–{high}; "
                           "check the points and the length.", {"code": "implausible_spacing"})
    with transaction.atomic():
        locked = Image.objects.select_for_update().get(pk=image.pk)
        calibration = ImageCalibration(
            image=locked, method=method, points=[[float(x), float(y)] for x, y in points],
            known_length_mm=float(length_mm), pixel_spacing_mm=spacing,
            previous_pixel_spacing_mm=locked.pixel_spacing_mm, previous_spacing_source=locked.spacing_source,
            user=user,
        )
        calibration.full_clean()
        calibration.save()
        Image.objects.filter(pk=locked.pk).update(pixel_spacing_mm=spacing, spacing_source=SpacingSource.USER)
    image.pixel_spacing_mm, image.spacing_source = spacing, SpacingSource.USER
    logger.info("image %s calibrated by %s: %.5f mm/px (%s)", image.pk, method, spacing, calibration.pk)
    return calibration


# --------------------------------------------------------------------------------------------------
# Reader studies


def reader_study_validate_readers(readers: Sequence[AbstractBaseUser]) -> None:
    """2–3 distinct users, each with at least the annotator role.

    Raises
    ------
    InvalidInput
        Wrong count or a user without a role.
    """
    distinct = {user.pk for user in readers}
    if not MIN_READERS <= len(distinct) <= MAX_READERS:
        raise InvalidInput(f"A reader study needs {MIN_READERS} to {MAX_READERS} different readers, "
                           f"got {len(distinct)}.", {"code": "reader_count"})
    without_role = [user.get_username() for user in readers if not has_role(user, Role.ANNOTATOR)]
    if without_role:
        raise InvalidInput(f"Readers need at least the annotator role: {', '.join(without_role)}.",
                           {"code": "reader_without_role"})


def reader_study_create(*, name: str, images: Sequence[Image], readers: Sequence[AbstractBaseUser],
                        include_model: bool, created_by: AbstractBaseUser, description: str = "") -> ReaderStudy:
    """Create an open study of AP ``images`` for 2–3 ``readers``.

    Raises
    ------
    Forbidden
        ``created_by`` is not an admin.
    InvalidInput
        No images, a non-AP image, or a bad set of readers.
    """
    if not has_role(created_by, Role.ADMIN):
        raise Forbidden("Only admins create reader studies.", {"code": "admin_required"})
    if not images:
        raise InvalidInput("A reader study needs at least one image.", {"code": "no_images"})
    not_ap = [image.pk for image in images if image.case.view != View.AP]
    if not_ap:
        raise InvalidInput(f"Reader studies measure AP radiographs; images {not_ap} are not AP.",
                           {"code": "not_ap", "image_ids": not_ap})
    reader_study_validate_readers(readers)
    with transaction.atomic():
        study = ReaderStudy(name=name, description=description, include_model=include_model, created_by=created_by)
        study.full_clean()
        study.save()
        study.images.set(images)
        study.readers.set(readers)
    logger.info("reader study %s created with %d images and %d readers", study.pk, len(images), len(readers))
    return study


def _reading_document(document: Any, image: Image) -> dict[str, Any]:
    try:
        parsed = parse_document(document)
    except LabelMeError as exc:
        raise InvalidInput(f"Invalid LabelMe document: {exc}", {"code": "invalid_labelme"}) from exc
    size = (parsed.image_width, parsed.image_height)
    if None not in size and size != (image.width, image.height):
        raise InvalidInput(f"The document is for a {size[0]}x{size[1]} image but the image is "
                           f"{image.width}x{image.height}.", {"code": "size_mismatch"})
    stored = to_labelme5(parsed, image_data=None, image_path=image.original_name)
    stored["imageWidth"], stored["imageHeight"] = image.width, image.height
    return stored


def reader_study_reading_submit(*, study: ReaderStudy, image: Image, reader: AbstractBaseUser,
                                document: Any) -> ReaderStudyReading:
    """Store ``reader``'s reading of ``image``, with its alignment, apart from the revision history.

    Raises
    ------
    Forbidden
        ``reader`` is not a reader of the study.
    InvalidInput
        The image is not part of the study, or the document is invalid or of another size.
    Conflict
        The study is closed, or the reader already read this image (readings are final).
    """
    if not study.readers.filter(pk=reader.pk).exists():
        raise Forbidden("You are not a reader of this study.", {"code": "not_a_reader"})
    if study.status != ReaderStudyStatus.OPEN:
        raise Conflict("This reader study is closed.", {"code": "study_closed"})
    if not study.images.filter(pk=image.pk).exists():
        raise InvalidInput(f"Image {image.pk} is not part of this study.", {"code": "image_not_in_study"})
    if ReaderStudyReading.objects.filter(study=study, image=image, reader=reader).exists():
        raise Conflict("You already read this image; readings are final.", {"code": "already_read", "image": image.pk})
    stored = _reading_document(document, image)
    alignment, error = None, ""
    try:
        alignment = align_labelme_document(stored, image_size=(image.width, image.height),
                                           image_id=image.pk).to_json()
    except ValueError as exc:
        error = str(exc)
    try:
        with transaction.atomic():
            reading = ReaderStudyReading(study=study, image=image, reader=reader, document=stored,
                                         alignment=alignment, alignment_error=error)
            reading.full_clean(validate_unique=False, validate_constraints=False)
            reading.save()
    except IntegrityError as exc:  # the same reading submitted twice at once
        raise Conflict("You already read this image; readings are final.",
                       {"code": "already_read", "image": image.pk}) from exc
    return reading


# --------------------------------------------------------------------------------------------------
# Plausibility before review


def plausibility_flags_for_prediction(prediction: Prediction) -> list[str]:
    """Flags of the anatomical plausibility checks on a prediction, as review-queue flag texts.

    Each is ``"<image side or 'image'>: <code>: <message>"``; an empty list when every check passed
    or the prediction has no alignment. Meant to be added to the flags the review priority is
    computed from, so that an implausible prediction is reviewed first.
    """
    if not (prediction.alignment or {}).get("legs"):
        return []
    flags = plausibility_checks(prediction.alignment, document=prediction.document or None,
                                laterality=image_laterality(prediction.image))
    return [flag.as_text() for flag in flags]


def acceptance_blockers_for_prediction(prediction: Prediction) -> list[str]:
    """Why the prediction must not be accepted as it is (:func:`clinical.core.acceptance.acceptance_blockers`);
    empty when one click may accept it."""
    from clinical.core.acceptance import acceptance_blockers

    alignment = prediction.alignment or {}
    plausibility = plausibility_checks(alignment, document=prediction.document or None,
                                       laterality=image_laterality(prediction.image)) if alignment.get("legs") else []
    return acceptance_blockers(alignment, plausibility)


def document_checks(*, image: Image, document: Any) -> dict[str, list[str]]:
    """The checks of a LabelMe document of ``image`` as the reviewer sees it now (a prediction, an edit of it,
    a saved revision): ``{"flags": [...], "blockers": [...]}``.

    ``flags`` are the alignment's per-leg flags and the plausibility flags in the review queue's style
    (``"<image side>: <flag>"``), ``blockers`` the failures that forbid accepting it as it is
    (:func:`clinical.core.acceptance.acceptance_blockers`). Lets the review panel follow the document shown
    instead of the prediction's flags frozen when the item was created.

    Raises
    ------
    InvalidInput
        The document is not valid LabelMe or does not fit the image.
    """
    from inference.document_alignment import labelme_alignment_compute
    from clinical.core.acceptance import acceptance_blockers

    try:
        alignment = labelme_alignment_compute(document=document, width=image.width, height=image.height,
                                              pixel_spacing_mm=image.pixel_spacing_mm)
    except InvalidInput as exc:
        if exc.extra.get("code") == "invalid_labelme":
            raise
        alignment = {"legs": []}
    legs = alignment.get("legs") or []
    plausibility = plausibility_checks(alignment, document=document, laterality=image_laterality(image)) if legs else []
    flags = [f"{leg.get('image_side') or 'leg'}: {flag}" for leg in legs for flag in leg.get("flags") or []]
    flags += [flag.as_text() for flag in plausibility]
    if not legs:
        flags.append("no leg aligned")
    return {"flags": list(dict.fromkeys(flags)), "blockers": acceptance_blockers(alignment, plausibility)}
