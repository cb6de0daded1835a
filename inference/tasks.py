"""Celery tasks of the inference app (queue ``inference``)."""

from __future__ import annotations

import logging

from enllasd_web.celery import app

logger = logging.getLogger(__name__)


@app.task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=3, time_limit=1800,
          soft_time_limit=1700)
def inference_prediction_run(self, prediction_id: int) -> str:  # noqa: ANN001 - Celery binds self
    """Run the ensemble for one Prediction row; safe to redeliver (the row is written once)."""
    from django.db import OperationalError

    from inference.models import Prediction
    from inference.services import prediction_fail, prediction_run

    prediction = Prediction.objects.select_related("image", "ensemble_version").filter(pk=prediction_id).first()
    if prediction is None:
        return "missing"
    try:
        prediction_run(prediction=prediction)
    except (OperationalError, ConnectionError, TimeoutError) as exc:  # transient: try again
        raise self.retry(exc=exc, countdown=10) from exc
    except Exception as exc:
        logger.exception("prediction %s failed", prediction_id)
        prediction_fail(prediction_id=prediction_id, error=f"{type(exc).__name__}: {exc}")
        raise
    return "succeeded"
