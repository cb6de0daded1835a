"""The alignment of a LabelMe document, for the web side: the one computation behind the editor's live angles,
the review checks and every clinical output (report, PDF, timeline, CSV) of an annotation.

It wraps the numeric core (:func:`inference.core.labelme_alignment.align_labelme_document`) with the
install's limits and the application's errors; it lives with the alignment code, below the review queue
and the clinical outputs that use it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from annotations.core.labelme import LabelMeError, parse_document, to_labelme5
from enllasd_web.exceptions import InvalidInput
from inference.core.alignment import AlignmentResult
from inference.core.labelme_alignment import align_labelme_document

# Pixels per Monte-Carlo draw of a document's alignment, live or in a report: the spec's 5000 (one
# setting, so the editor and the report agree; about 0.2 s for two legs of a 1024 x 2048 phantom).
ALIGN_MC_SAMPLES = 5000
LIVE_MC_SAMPLES_DEFAULT = ALIGN_MC_SAMPLES
LIVE_MC_SAMPLES_MAX = 20000



def labelme_document_validate(document: Any) -> dict[str, Any]:
    """The document as LabelMe 5.x JSON, validated by the shared parser.

    Raises
    ------
    InvalidInput
        Not a valid LabelMe document (``extra.code`` ``invalid_labelme``).
    """
    try:
        return to_labelme5(parse_document(document), image_data=None)
    except LabelMeError as exc:
        raise InvalidInput(f"Invalid LabelMe document: {exc}", {"code": "invalid_labelme"}) from exc


def labelme_alignment_result(
    *,
    document: Any,
    width: int | None = None,
    height: int | None = None,
    pixel_spacing_mm: float | None = None,
    image_id: int | None = None,
    mc_samples: int | None = None,
) -> AlignmentResult:
    """The alignment of a LabelMe document: the one computation behind the editor's live angles and
    every clinical output (report, PDF, timeline, CSV) of an annotation (issue 16, item 6).

    The document goes through the shared LabelMe parser; the Monte-Carlo spread uses the spec's
    pixel count (:data:`ALIGN_MC_SAMPLES`) and a seed made from ``image_id``, so the same revision
    gives the same values and the same spread in the editor and in the report.

    Raises
    ------
    InvalidInput
        The document is not valid LabelMe, its size is unknown or too large, or it has no leg with
        hip, knee and ankle points (``extra.code`` says which).
    """
    stored = labelme_document_validate(document)
    width = width or stored.get("imageWidth")
    height = height or stored.get("imageHeight")
    if not width or not height:
        raise InvalidInput("The image size is unknown: give width and height, or imageWidth and imageHeight.",
                           {"code": "size_unknown"})
    if width * height > settings.ENLLASD_MAX_IMAGE_PIXELS:
        raise InvalidInput(f"A {width}x{height} image is larger than the limit of "
                           f"{settings.ENLLASD_MAX_IMAGE_PIXELS} pixels.", {"code": "too_many_pixels"})
    try:
        return align_labelme_document(stored, image_size=(width, height), pixel_spacing_mm=pixel_spacing_mm,
                                      image_id=image_id, n_samples=mc_samples or ALIGN_MC_SAMPLES)
    except ValueError as exc:  # the numeric core's GeometryError is a ValueError too
        raise InvalidInput(f"No alignment for this document: {exc}", {"code": "alignment_failed"}) from exc


def labelme_alignment_compute(**options: Any) -> dict[str, Any]:
    """Alignment result JSON (architecture.md §6) of a LabelMe document: :func:`labelme_alignment_result`
    (same keyword arguments) as JSON, as ``manage.py align`` prints it."""
    return labelme_alignment_result(**options).to_json()
