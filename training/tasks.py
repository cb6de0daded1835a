"""Celery tasks of the training app.

``training_run_execute`` and ``sam_tuning_run_execute`` run on the ``training`` queue; comparisons and
re-prediction jobs predict images, so their services queue them on the ``inference`` queue.

Thin: each loads its row and calls the worker side (:mod:`training.runs`, :mod:`training.sam_tuning_runs`,
:mod:`training.comparison_runs`, :mod:`training.repredictions`); the modules that queue them are never imported here.
"""

from __future__ import annotations

from enllasd_web.celery import app
from training import comparison_runs, repredictions, runs, sam_tuning_runs
from training.models import EnsembleComparison, RepredictJob, TrainingRun


@app.task(acks_late=True, time_limit=7 * 24 * 3600, soft_time_limit=7 * 24 * 3600 - 60)
def training_run_execute(run_id: str) -> str:
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None:
        return "missing"
    return runs.training_run_execute(run=run).status


# Redelivered after a killed worker (acks_late, reject_on_worker_lost): it resumes after the last checkpointed epoch.
@app.task(acks_late=True, reject_on_worker_lost=True, time_limit=7 * 24 * 3600, soft_time_limit=7 * 24 * 3600 - 60)
def sam_tuning_run_execute(run_id: str) -> str:
    run = TrainingRun.objects.select_related("dataset_snapshot").filter(pk=run_id).first()
    if run is None:
        return "missing"
    return sam_tuning_runs.sam_tuning_run_execute(run=run).status


@app.task(acks_late=True, time_limit=24 * 3600, soft_time_limit=24 * 3600 - 60)
def ensemble_comparison_run(comparison_id: int) -> str:
    comparison = EnsembleComparison.objects.select_related("candidate", "baseline", "dataset_snapshot").filter(
        pk=comparison_id).first()
    if comparison is None:
        return "missing"
    return comparison_runs.ensemble_comparison_run(comparison=comparison).status


@app.task(acks_late=True, time_limit=24 * 3600, soft_time_limit=24 * 3600 - 60)
def repredict_job_run(job_id: int) -> str:
    job = RepredictJob.objects.select_related("ensemble").filter(pk=job_id).first()
    if job is None:
        return "missing"
    return repredictions.repredict_job_run(job=job).status
