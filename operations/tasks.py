"""Periodic maintenance on the ``default`` queue, scheduled by Celery beat (``CELERY_BEAT_SCHEDULE``)."""

from __future__ import annotations

from enllasd_web.celery import app
from operations.maintenance import requeue_pending_jobs


@app.task(acks_late=True, time_limit=300, soft_time_limit=270)
def maintenance_requeue_pending() -> str:
    """Publish again the derivative and prediction jobs whose messages were lost (see maintenance.py)."""
    return requeue_pending_jobs().summary()
