"""Running a prediction (worker side): the ensemble on one image, stored once on its Prediction row.

Called by :func:`inference.tasks.inference_prediction_run` and by the commands that predict in their own process;
:mod:`inference.services` creates and queues the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotations.core.imaging import decode_image
from annotations.models import Image
from inference.models import JobStatus, Prediction, VersionStatus
from inference.selectors import ensemble_directory

#: Called as ``hook(prediction=..., pipeline_flags=...)`` inside the transaction that stores a succeeded
#: prediction of the active ensemble, in the order registered. Higher apps register theirs in
#: ``AppConfig.ready()`` (the review queue creates the prediction's review item).
_SUCCEEDED_HOOKS: list[Callable[..., Any]] = []


def prediction_succeeded_hook_register(hook: Callable[..., Any]) -> None:
    """Run ``hook(prediction=prediction, pipeline_flags=flags)`` for every succeeded prediction of an active
    ensemble, in the transaction that stores it (once per hook, however often it is registered)."""
    if hook not in _SUCCEEDED_HOOKS:
        _SUCCEEDED_HOOKS.append(hook)


def image_pixels(image: Image) -> tuple[np.ndarray, float | None]:
    """The (H, W) uint8 bone-bright pixels the models see, and the pixel spacing."""
    with image.original.open("rb") as handle:
        decoded = decode_image(handle.read(), filename=image.original_name,
                               max_pixels=settings.ENLLASD_MAX_IMAGE_PIXELS)
    return np.asarray(decoded.display), image.pixel_spacing_mm


def prediction_run(*, prediction: Prediction) -> Prediction:
    """Run the ensemble on the image and store the result (idempotent: a finished one is kept).

    When the ensemble is the active one, the succeeded-prediction hooks run in the transaction that stores the
    result (:func:`prediction_succeeded_hook_register`; the review queue adds its item there).
    """
    from inference.ensemble_store import load_ensemble
    from inference.pipeline import run_ensemble

    if prediction.status == JobStatus.SUCCEEDED:
        return prediction
    Prediction.objects.filter(pk=prediction.pk).update(status=JobStatus.RUNNING, error="")
    ensemble = load_ensemble(ensemble_directory(prediction.ensemble_version))
    pixels, spacing = image_pixels(prediction.image)
    result = run_ensemble(pixels, ensemble, image_name=prediction.image.original_name,
                          image_id=prediction.image_id, pixel_spacing_mm=spacing,
                          dicom=prediction.image.dicom_metadata or None)
    with transaction.atomic():
        locked = Prediction.objects.select_for_update().get(pk=prediction.pk)
        if locked.status == JobStatus.SUCCEEDED:  # a redelivered duplicate finished first
            return locked
        locked.document = result.document
        locked.alignment = result.alignment.to_json()
        locked.member_outputs = result.member_outputs
        locked.uncertainty = result.uncertainty
        locked.timings = result.timings
        locked.status = JobStatus.SUCCEEDED
        locked.finished_at = timezone.now()
        locked.save()
        if locked.ensemble_version.status == VersionStatus.ACTIVE:  # a candidate's (comparison) output is not reviewed
            for hook in _SUCCEEDED_HOOKS:
                hook(prediction=locked, pipeline_flags=result.flags)
    return locked


def prediction_fail(*, prediction_id: int, error: str) -> None:
    Prediction.objects.filter(pk=prediction_id).exclude(status=JobStatus.SUCCEEDED).update(
        status=JobStatus.FAILED, error=error[:10000], finished_at=timezone.now()
    )
