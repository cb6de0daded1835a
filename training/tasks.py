"""Celery tasks of the training app (queue ``training``)."""

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
