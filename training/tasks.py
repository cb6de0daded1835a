"""Celery tasks of the training app.

``training_run_execute`` and ``sam_tuning_run_execute`` run on the ``training`` queue; comparisons and
re-prediction jobs predict images, so their services queue them on the ``inference`` queue.
"""

from __future__ import annotations

from enllasd_web.celery import app


@app.task(acks_late=True, time_limit=7 * 24 * 3600, soft_time_limit=7 * 24 * 3600 - 60)
def training_run_execute(run_id: str) -> str:
    from training.models import TrainingRun
    from training.services import training_run_execute as service

    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None:
        return "missing"
    return service(run=run).status


# Redelivered after a killed worker (acks_late, reject_on_worker_lost): it resumes after the last checkpointed epoch.
@app.task(acks_late=True, reject_on_worker_lost=True, time_limit=7 * 24 * 3600, soft_time_limit=7 * 24 * 3600 - 60)
def sam_tuning_run_execute(run_id: str) -> str:
    from training.models import TrainingRun
    from training.sam_tuning import sam_tuning_run_execute as service

    run = TrainingRun.objects.select_related("dataset_snapshot").filter(pk=run_id).first()
    if run is None:
        return "missing"
    return service(run=run).status


@app.task(acks_late=True, time_limit=24 * 3600, soft_time_limit=24 * 3600 - 60)
def ensemble_comparison_run(comparison_id: int) -> str:
    from training.comparisons import ensemble_comparison_run as service
    from training.models import EnsembleComparison

    comparison = EnsembleComparison.objects.select_related("candidate", "baseline", "dataset_snapshot").filter(
        pk=comparison_id).first()
    if comparison is None:
        return "missing"
    return service(comparison=comparison).status


@app.task(acks_late=True, time_limit=24 * 3600, soft_time_limit=24 * 3600 - 60)
def repredict_job_run(job_id: int) -> str:
    from training.models import RepredictJob
    from training.promotions import repredict_job_run as service

    job = RepredictJob.objects.select_related("ensemble").filter(pk=job_id).first()
    if job is None:
        return "missing"
    return service(job=job).status
