"""Celery tasks of the annotations app: thin wrappers that load a row and call its service.

They call :mod:`annotations.derivatives`; :mod:`annotations.services` queues them (and is never imported here).
"""

from __future__ import annotations

import logging

from annotations.core.imaging import ImageDecodeError
from annotations.derivatives import image_derivatives_create as service
from annotations.models import Image
from enllasd_web.celery import app

logger = logging.getLogger(__name__)


@app.task(bind=True, acks_late=True, max_retries=3, time_limit=600, soft_time_limit=540)
def image_derivatives_create(self, image_id: int) -> str:  # noqa: ANN001 - Celery binds self
    """Make the display PNG and thumbnail of an uploaded image (idempotent)."""
    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        logger.warning("image %s no longer exists; nothing to do", image_id)
        return "missing"
    try:
        service(image=image)
    except ImageDecodeError:
        return "failed"
    except OSError as exc:
        raise self.retry(exc=exc, countdown=5) from exc
    return "ready"
