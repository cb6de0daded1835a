"""Training runs: create and queue, cancel. Executing one (k-fold ensemble training) is :mod:`training.runs`,
which the worker's task calls."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from enllasd_web.exceptions import Conflict, InvalidInput
from enllasd_web.queueing import publish_or_log
from training import tasks
from training.configs import CONFIG_NAMES
from training.models import DatasetSnapshot, RunStatus, TrainingRun


def training_run_create(
    *,
    config_name: str,
    data_dirs: list[str] | None = None,
    phantoms: int = 0,
    dataset_snapshot: DatasetSnapshot | None = None,
    seed: int = 0,
    activate: bool = False,
    group_pattern: str = r"^([^_]+)",
    started_by: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> TrainingRun:
    """Record a training run and (by default) queue it on the ``training`` queue.

    The data is either ``dataset_snapshot`` (its frozen revisions and fold assignment), or LabelMe
    folders and phantoms: ``data_dirs`` are folders readable by the worker; ``group_pattern`` (a regex
    on the file stem, group 1) names each image's patient so that folds never split a patient;
    ``phantoms`` adds that many synthetic single-leg phantoms.

    Raises
    ------
    InvalidInput
        Unknown config, or a snapshot given together with folders or phantoms.
    """
    if config_name not in CONFIG_NAMES:
        raise InvalidInput(f"Unknown training config {config_name!r}; choose one of {', '.join(CONFIG_NAMES)}.")
    if dataset_snapshot is not None and (data_dirs or phantoms):
        raise InvalidInput("Train either from a dataset snapshot or from folders/phantoms, not both.",
                           {"code": "ambiguous_training_data"})
    run = TrainingRun(
        config_name=config_name,
        config={"data_dirs": data_dirs or [], "phantoms": phantoms, "activate": activate,
                "group_pattern": group_pattern},
        seed=seed,
        dataset_snapshot=dataset_snapshot,
        started_by=started_by,
    )
    return training_run_save_and_queue(run=run, task_name="training_run_execute", enqueue=enqueue)


def training_run_save_and_queue(*, run: TrainingRun, task_name: str, enqueue: bool = True) -> TrainingRun:
    """Validate and save a new run; once committed, publish the task ``training.tasks.<task_name>`` for it on
    the ``training`` queue (a broker failure is logged and the run stays queued)."""
    run.full_clean()
    with transaction.atomic():
        run.save()
        if enqueue:
            transaction.on_commit(lambda: _enqueue(run.pk, task_name))
    return run


def _enqueue(run_id: Any, task_name: str) -> None:
    publish_or_log(getattr(tasks, task_name), args=[str(run_id)], queue="training", what=f"training run {run_id}")


def training_run_cancel(*, run: TrainingRun) -> TrainingRun:
    """Ask a queued or running run to stop.

    A queued run is cancelled at once. A running one is marked cancelled without a finish time: its worker
    stops at its next progress report (the end of the current epoch) and records the time then
    (:func:`training_run_outcome`); until then the run page says it is stopping, not that it has stopped.
    """
    if run.status not in {RunStatus.QUEUED, RunStatus.RUNNING}:
        raise Conflict(f"The run is {run.status}; only queued or running runs can be cancelled.")
    finished_at = timezone.now() if run.status == RunStatus.QUEUED else None
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED, finished_at=finished_at)
    run.refresh_from_db()
    return run
