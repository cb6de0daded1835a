"""Predictions with the active ensemble (requested and queued from the web side), and ensemble promotion.

Running a prediction is :mod:`inference.predictions` (the worker's side, called by :mod:`inference.tasks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from annotations.models import Image
from enllasd_web.exceptions import ApplicationError
from enllasd_web.queueing import publish_or_log
from inference import tasks
from inference.models import EnsembleVersion, JobStatus, Prediction, VersionStatus
from inference.selectors import ensemble_active


class ModelNotReady(ApplicationError):
    status_code = 409


def ensemble_members_register(*, ensemble: EnsembleVersion, manifest: dict[str, Any], directory: Path,
                              training_run: Any = None) -> None:
    """A ModelVersion row (sha256 of its artifact manifest) for every member of ``manifest``, added to ``ensemble``."""
    from inference.backends.base import read_artifact_manifest, sha256_file
    from inference.models import ModelKind, ModelVersion

    store = Path(settings.MODEL_STORE).resolve()
    for fold in manifest["folds"]:
        for kind, model_kind in (("segmentation", ModelKind.SEGMENTATION), ("keypoint", ModelKind.KEYPOINT)):
            for member in fold[kind]:
                member_dir = directory / member["path"]
                artifact = read_artifact_manifest(member_dir)
                version = ModelVersion.objects.create(
                    kind=model_kind, architecture=member["spec"]["architecture"], backend=member["spec"]["backend"],
                    view=ensemble.view, fold=fold["fold"], artifact_path=str(member_dir.resolve().relative_to(store)),
                    sha256=sha256_file(member_dir / "manifest.json"), config=member["spec"],
                    metrics=artifact.get("metrics", {}), training_run=training_run,
                )
                ensemble.members.add(version)


def ensemble_version_promote(*, ensemble: EnsembleVersion) -> EnsembleVersion:
    """Make ``ensemble`` the active one of its view; the previous active one is retired."""
    with transaction.atomic():
        EnsembleVersion.objects.select_for_update().filter(view=ensemble.view, status=VersionStatus.ACTIVE).exclude(
            pk=ensemble.pk
        ).update(status=VersionStatus.RETIRED)
        ensemble.status = VersionStatus.ACTIVE
        ensemble.save(update_fields=["status"])
    return ensemble


def predictions_request_missing(*, ensemble: EnsembleVersion) -> int:
    """Queue a prediction by ``ensemble`` for every image of its view that has none yet."""
    images = Image.objects.filter(case__view=ensemble.view).exclude(predictions__ensemble_version=ensemble)
    count = 0
    for image in images.select_related("case").iterator():
        prediction_request(image=image, ensemble=ensemble)
        count += 1
    return count


def prediction_request(*, image: Image, ensemble: EnsembleVersion | None = None, enqueue: bool = True,
                       interactive: bool = False) -> Prediction:
    """Get or create the (image, ensemble) prediction and queue it; running twice is a no-op.

    ``interactive``: a person is waiting for it (an upload, not an import): it goes to the ``interactive``
    queue, which the bulk worker empties before anything else (``queue_order_strategy`` ``priority``).
    """
    ensemble = ensemble or ensemble_active(view=image.case.view)
    if ensemble is None:
        raise ModelNotReady("No active ensemble for this view yet: train one first.", {"code": "no_active_ensemble"})
    try:
        with transaction.atomic():
            prediction, created = Prediction.objects.get_or_create(image=image, ensemble_version=ensemble,
                                                                   defaults={"interactive": interactive})
    except IntegrityError:
        prediction, created = Prediction.objects.get(image=image, ensemble_version=ensemble), False
    if enqueue and (created or prediction.status == JobStatus.FAILED):
        transaction.on_commit(lambda: prediction_enqueue(prediction_id=prediction.pk,
                                                         interactive=prediction.interactive))
    return prediction


def prediction_request_for_upload(*, image: Image, interactive: bool) -> None:
    """Upload hook (registered by :class:`inference.apps.InferenceConfig`): queue a prediction with the active
    ensemble of the image's view, when there is one."""
    if ensemble_active(view=image.case.view) is not None:
        prediction_request(image=image, interactive=interactive)


def prediction_queue(*, interactive: bool) -> str:
    """The Celery queue of a prediction: ``interactive`` for a person waiting, ``inference`` for bulk work."""
    return "interactive" if interactive else "inference"


def prediction_enqueue(*, prediction_id: int, interactive: bool) -> bool:
    """Publish the prediction's task (a failure is logged; the row stays queued for ``requeue_pending``)."""
    return publish_or_log(tasks.inference_prediction_run, args=[prediction_id], queue=prediction_queue(interactive=interactive),
                          what=f"prediction {prediction_id}")


#: Seconds per prediction assumed before any prediction has finished on this install.
DEFAULT_PREDICTION_SECONDS = 2.0
_RECENT_PREDICTIONS = 20


@dataclass(frozen=True)
class QueuePosition:
    """Where a waiting prediction stands: predictions that run before it, and about when it will be done."""

    ahead: int
    eta_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"ahead": self.ahead, "eta_seconds": round(self.eta_seconds, 1)}


def prediction_queue_position(prediction: Prediction) -> QueuePosition | None:
    """The queue position of a queued prediction (``None`` once it runs or has finished).

    Ahead of it are the predictions still queued or running that the bulk worker takes first: every
    earlier one of its own kind, all interactive ones for a bulk prediction, and a bulk one already running
    for an interactive prediction. The estimate is (ahead + 1) x the median run time of the last 20
    predictions (their ``timings.total``).
    """
    if prediction.status != JobStatus.QUEUED:
        return None
    waiting = Prediction.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).exclude(pk=prediction.pk)
    earlier = Q(created_at__lt=prediction.created_at) | Q(created_at=prediction.created_at, pk__lt=prediction.pk)
    if prediction.interactive:
        ahead = waiting.filter((Q(interactive=True) & earlier) | Q(interactive=False, status=JobStatus.RUNNING))
    else:
        ahead = waiting.filter(Q(interactive=True) | earlier)
    recent = (Prediction.objects.filter(status=JobStatus.SUCCEEDED).order_by("-finished_at")
              .values_list("timings", flat=True)[:_RECENT_PREDICTIONS])
    totals = [float(t["total"]) for t in recent if isinstance(t, dict) and isinstance(t.get("total"), (int, float))]
    per_prediction = float(np.median(totals)) if totals else DEFAULT_PREDICTION_SECONDS
    count = ahead.count()
    return QueuePosition(ahead=count, eta_seconds=(count + 1) * per_prediction)


def result_files(result: Any, *, out_dir: Path, stem: str) -> tuple[Path, Path]:
    import json

    out_dir.mkdir(parents=True, exist_ok=True)
    labelme_path = out_dir / f"{stem}.json"
    alignment_path = out_dir / f"{stem}.alignment.json"
    labelme_path.write_text(json.dumps(result.document, indent=2))
    alignment_path.write_text(json.dumps(result.alignment.to_json(), indent=2))
    return labelme_path, alignment_path
