"""Executing a training run (worker side): k-fold ensemble training, then its models registered.

Called by :func:`training.tasks.training_run_execute` and by ``manage.py train``; :mod:`training.services`
creates and queues the runs.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from enllasd_web.exceptions import InvalidInput
from inference.models import EnsembleVersion, VersionStatus
from training.activation import ensemble_activate
from training.core.datasets import TrainingSample
from training.core.kfold import FoldAssignment
from training.lineage import current_code_version
from training.models import RunStatus, TrainingRun

LOSS_HISTORY_LIMIT = 20000


def _samples_for(run: TrainingRun) -> tuple[list[TrainingSample], FoldAssignment | None]:
    """The run's samples, with the snapshot's fold assignment when it trains from a snapshot."""
    from training.core.datasets import load_labelme_folder

    if run.dataset_snapshot is not None:
        from training.snapshots import snapshot_training_data

        return snapshot_training_data(snapshot=run.dataset_snapshot)
    samples = []
    for folder in run.config.get("data_dirs", []):
        samples.extend(load_labelme_folder(Path(folder), group_pattern=run.config.get("group_pattern", r"^([^_]+)")))
    if run.config.get("phantoms"):
        from inference.core.phantom import write_phantom_set

        with tempfile.TemporaryDirectory() as tmp:
            write_phantom_set(tmp, n=int(run.config["phantoms"]), seed=run.seed + 1000, legs=1)
            samples.extend(load_labelme_folder(Path(tmp), group_pattern=r"^(.*)$"))
    if not samples:
        raise InvalidInput("No training data: give LabelMe folders or phantoms.")
    return samples, None


def training_run_execute(*, run: TrainingRun) -> TrainingRun:
    """Train the ensemble for ``run`` (called by the worker or the ``train`` command)."""
    from training.ensemble_training import TrainingCancelled, train_ensemble
    from training.configs import ensemble_config

    if run.status == RunStatus.CANCELLED:
        return run
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, progress={"stage": "loading data"},
                                                 code_version=current_code_version(), loss_history=[])
    out_dir = Path(settings.MODEL_STORE) / "ensembles" / str(run.pk)
    log_lines: list[str] = []
    loss_history: list[dict[str, Any]] = []
    started = time.monotonic()

    def progress(event: dict[str, Any]) -> None:
        current = TrainingRun.objects.filter(pk=run.pk).values_list("status", flat=True).first()
        if current == RunStatus.CANCELLED:
            raise TrainingCancelled("cancelled by a user")
        clean = {k: v for k, v in event.items() if isinstance(v, (int, float, str, type(None)))}
        clean["elapsed_s"] = round(time.monotonic() - started, 1)  # with eta_s: the share done (progress bar)
        if event.get("stage") != "train" or "loss" in event:
            log_lines.append(" ".join(f"{k}={v}" for k, v in clean.items()))
        if isinstance(event.get("loss"), (int, float)) and len(loss_history) < LOSS_HISTORY_LIMIT:
            loss_history.append({"fold": event.get("fold"), "member": event.get("member"),
                                 "epoch": event.get("epoch"), "loss": round(float(event["loss"]), 6)})
        TrainingRun.objects.filter(pk=run.pk).update(progress=clean, log="\n".join(log_lines[-500:]),
                                                     loss_history=loss_history)

    with training_run_outcome(run=run, cancelled_by=TrainingCancelled) as outcome:
        samples, folds = _samples_for(run)
        config = ensemble_config(run.config_name, seed=run.seed)
        if run.dataset_snapshot is not None:
            config = dataclasses.replace(config, view=run.dataset_snapshot.view)
        from inference.ensemble_store import default_device

        manifest = train_ensemble(samples, config, out_dir=out_dir, device=default_device(), progress=progress,
                                  folds=folds, workers=settings.TRAINING_WORKERS)
        ensemble = _register(run, manifest, out_dir)
    if outcome.cancelled:
        run.refresh_from_db()
        return run
    TrainingRun.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED, finished_at=timezone.now(), metrics=manifest["evaluation"],
        progress={"stage": "done", "ensemble_version": ensemble.pk}, fold_assignment=_fold_assignment(run, manifest),
    )
    first_of_view = not EnsembleVersion.objects.filter(status=VersionStatus.ACTIVE, view=ensemble.view).exists()
    if run.config.get("activate") or first_of_view:
        from inference.services import predictions_request_missing

        ensemble_activate(ensemble=ensemble, promoted_by=run.started_by,
                          reason="first ensemble of the view" if first_of_view else f"training run {run.pk} --activate")
        predictions_request_missing(ensemble=ensemble)
    run.refresh_from_db()
    return run


@dataclass
class RunOutcome:
    cancelled: bool = False


@contextmanager
def training_run_outcome(*, run: TrainingRun, cancelled_by: type[BaseException]) -> Iterator[RunOutcome]:
    """Record how the work in the ``with`` block ended: ``cancelled_by`` marks the run cancelled (and is
    swallowed: ``outcome.cancelled`` is then True); any other exception marks it failed with its traceback
    and propagates."""
    outcome = RunOutcome()
    try:
        yield outcome
    except cancelled_by:
        TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED, finished_at=timezone.now())
        outcome.cancelled = True
    except Exception as exc:
        TrainingRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED, error=f"{exc}\n{traceback.format_exc()}", finished_at=timezone.now()
        )
        raise


def _fold_assignment(run: TrainingRun, manifest: dict[str, Any]) -> dict[str, Any]:
    """``{"n_folds", "seed", "dataset_snapshot", "fold_of_sample": {sample name: fold}}`` of a finished run."""
    snapshot = run.dataset_snapshot
    return {"n_folds": manifest["n_folds"], "seed": snapshot.seed if snapshot else run.seed,
            "dataset_snapshot": snapshot.pk if snapshot else None,
            "fold_of_sample": {name: fold["fold"] for fold in manifest["folds"] for name in fold["test"]}}


def _register(run: TrainingRun, manifest: dict[str, Any], out_dir: Path) -> EnsembleVersion:
    """ModelVersion rows for every member artifact and a candidate EnsembleVersion."""
    from inference.services import ensemble_members_register

    store = Path(settings.MODEL_STORE).resolve()
    with transaction.atomic():
        ensemble = EnsembleVersion.objects.create(
            name=f"{run.config_name} {timezone.now():%Y-%m-%d %H:%M}",
            view=manifest.get("view", "AP"),
            stackers=manifest["stackers"],
            config={"path": str(out_dir.resolve().relative_to(store)), "config_name": run.config_name,
                    "segmentation_names": manifest["segmentation_names"],
                    "keypoint_names": manifest["keypoint_names"]},
            metrics=manifest["evaluation"],
            training_run=run,
        )
        ensemble_members_register(ensemble=ensemble, manifest=manifest, directory=out_dir, training_run=run)
    return ensemble
