"""SAM prompts checked against the image they are for: by the web side before queueing a decode
(:mod:`inference.sam_services`) and again by the worker that runs it (:mod:`inference.sam_compute`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from annotations.models import Image
from enllasd_web.exceptions import InvalidInput
from inference.sam.promptable import check_prompts

__all__ = ["prompts_checked"]


def prompts_checked(image: Image, points: Sequence[Sequence[float]] | None, labels: Sequence[int] | None,
             box: Sequence[float] | None) -> tuple[list[list[float]] | None, list[int] | None, list[float] | None]:
    """Prompts as JSON lists, validated against the image (labels default to all positive)."""
    if points is not None and labels is None:
        labels = [1] * len(points)
    try:
        checked_points, checked_labels, checked_box = check_prompts(
            None if points is None else np.asarray(points, dtype=np.float64),
            None if labels is None else np.asarray(labels),
            None if box is None else np.asarray(box, dtype=np.float64),
            size_hw=(image.height, image.width),
        )
    except (ValueError, TypeError) as exc:
        raise InvalidInput(str(exc), {"code": "invalid_prompt"}) from exc
    return (None if checked_points is None else checked_points.tolist(),
            None if checked_labels is None else checked_labels.tolist(),
            None if checked_box is None else checked_box.tolist())
