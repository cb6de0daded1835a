"""Running a comparison (worker side) of a candidate ensemble with the active one on the approved revisions of an
evaluation snapshot; :mod:`training.comparisons` records and queues it.

Every image of the snapshot is predicted by both versions through the ordinary prediction path
(an existing (image, version) Prediction is reused), then scored against the frozen approved
revision: femur/tibia IOU, joint error (px and NED) and, per alignment metric, the agreement of the
ensemble's value with the value derived from the approved outlines and points (MAE, Bland–Altman).
The statistics themselves are in :mod:`training.core.comparison`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.utils import timezone
from numpy.typing import NDArray

from inference.core.labelme_alignment import align_labelme_document, labelme_joints, rasterize_labelme_bones
from inference.models import EnsembleVersion, JobStatus, Prediction
from inference.predictions import prediction_fail, prediction_run
from inference.services import prediction_request
from training.core.comparison import ImageOutcome, bone_confusion, joint_errors, paired_metric_values, summarise
from training.models import DatasetSnapshot, DatasetSnapshotEntry, EnsembleComparison, RunStatus

logger = logging.getLogger(__name__)

JOINTS = ("hip", "knee", "ankle")


@dataclass(frozen=True)
class ApprovedReference:
    """What an image's approved revision says: label map, legs' joints, alignment metrics per leg."""

    label_map: NDArray[np.uint8]
    legs_xy: list[NDArray[np.float64]]
    metrics_by_leg: dict[str, dict[str, float | None]]
    units: dict[str, str]


def _metrics_by_leg(alignment: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """``{image_side: {metric: value}}`` of an alignment JSON (architecture.md §6)."""
    return {
        leg["image_side"]: {name: (None if value is None else value["value"]) for name, value in leg["metrics"].items()}
        for leg in alignment.get("legs", [])
    }


def approved_reference(entry: DatasetSnapshotEntry) -> ApprovedReference:
    """Label map, joints and alignment of the entry's frozen revision (alignment empty when it has no leg)."""
    image, document = entry.image, entry.revision.document
    label_map = rasterize_labelme_bones(document, height=image.height, width=image.width)
    legs = [leg.as_array() for leg in labelme_joints(document, width=image.width)]
    try:
        alignment = align_labelme_document(document, image_size=(image.width, image.height),
                                           pixel_spacing_mm=image.pixel_spacing_mm, image_id=image.pk).to_json()
    except ValueError as exc:
        logger.info("image %s: no alignment from the approved revision (%s)", image.pk, exc)
        alignment = {"legs": []}
    units = {name: value["unit"] for leg in alignment["legs"] for name, value in leg["metrics"].items() if value}
    return ApprovedReference(label_map, legs, _metrics_by_leg(alignment), units)


def prediction_outcome(prediction: Prediction, reference: ApprovedReference) -> ImageOutcome:
    """Score one finished prediction against the approved reference of its image."""
    image = prediction.image
    predicted_map = rasterize_labelme_bones(prediction.document or {}, height=image.height, width=image.width)
    alignment = prediction.alignment or {"legs": []}
    # A leg with a joint outside the image (a cut film: architecture.md §6) has no full joint triple to score.
    predicted_legs = [np.array([leg["joints"][name] for name in JOINTS], dtype=np.float64)
                      for leg in alignment["legs"] if all(name in leg["joints"] for name in JOINTS)]
    return ImageOutcome(
        image_id=image.pk,
        bones=bone_confusion(predicted_map, reference.label_map),
        joints=joint_errors([leg for leg in predicted_legs if np.all(np.isfinite(leg))], reference.legs_xy),
        metric_pairs=paired_metric_values(_metrics_by_leg(alignment), reference.metrics_by_leg),
    )


def _finished_prediction(entry: DatasetSnapshotEntry, ensemble: EnsembleVersion) -> Prediction:
    """The (image, ensemble) prediction, run here unless it has already succeeded."""
    prediction = prediction_request(image=entry.image, ensemble=ensemble, enqueue=False)
    if prediction.status == JobStatus.SUCCEEDED:
        return prediction
    try:
        return prediction_run(prediction=prediction)
    except Exception as exc:
        prediction_fail(prediction_id=prediction.pk, error=f"{type(exc).__name__}: {exc}")
        raise


def _training_overlap(ensemble: EnsembleVersion, snapshot: DatasetSnapshot) -> int | None:
    """Evaluated images the ensemble was trained on (None when its training data is not a snapshot)."""
    run = ensemble.training_run
    if run is None or run.dataset_snapshot_id is None:
        return None
    trained = run.dataset_snapshot.entries.values("image_id")
    return snapshot.entries.filter(image_id__in=trained).count()


def ensemble_comparison_run(*, comparison: EnsembleComparison) -> EnsembleComparison:
    """Predict and score every image of the evaluation snapshot with both versions; store the metrics.

    An image whose prediction fails is listed under ``metrics["failed"]`` and left out of the
    statistics of that version.
    """
    if comparison.status in {RunStatus.SUCCEEDED, RunStatus.CANCELLED}:
        return comparison
    versions = {"candidate": comparison.candidate}
    if comparison.baseline is not None:
        versions["baseline"] = comparison.baseline
    entries = list(comparison.dataset_snapshot.entries.select_related("image__case", "revision").order_by("id"))
    EnsembleComparison.objects.filter(pk=comparison.pk).update(
        status=RunStatus.RUNNING, progress={"done": 0, "total": len(entries)}, error="")
    outcomes: dict[str, list[ImageOutcome]] = {role: [] for role in versions}
    failed: list[dict[str, Any]] = []
    units: dict[str, str] = {}
    try:
        for done, entry in enumerate(entries, start=1):
            reference = approved_reference(entry)
            units.update(reference.units)
            for role, ensemble in versions.items():
                try:
                    prediction = _finished_prediction(entry, ensemble)
                except Exception as exc:  # noqa: BLE001 - recorded on the prediction and listed here
                    logger.exception("comparison %s: image %s with ensemble %s failed", comparison.pk,
                                     entry.image_id, ensemble.pk)
                    failed.append({"image": entry.image_id, "version": role, "error": f"{type(exc).__name__}: {exc}"})
                    continue
                outcomes[role].append(prediction_outcome(prediction, reference))
            EnsembleComparison.objects.filter(pk=comparison.pk).update(progress={"done": done, "total": len(entries)})
        metrics: dict[str, Any] = {"n_images": len(entries), "units": units, "failed": failed}
        for role, ensemble in versions.items():
            metrics[role] = {"ensemble": ensemble.pk, "name": ensemble.name,
                             "trained_on_evaluated_images": _training_overlap(ensemble, comparison.dataset_snapshot),
                             **summarise(outcomes[role]).to_json()}
    except Exception as exc:
        EnsembleComparison.objects.filter(pk=comparison.pk).update(
            status=RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:10000], finished_at=timezone.now())
        raise
    EnsembleComparison.objects.filter(pk=comparison.pk).update(
        status=RunStatus.SUCCEEDED, metrics=metrics, finished_at=timezone.now())
    comparison.refresh_from_db()
    return comparison
