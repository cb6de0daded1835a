"""The first Celery task, run by a real worker process over real Redis (not eager mode)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from annotations.models import DerivativeStatus, Image
from annotations.services import case_create, image_upload, patient_create
from tests.conftest import png_bytes
from tests.workers import celery_worker, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_upload_queues_derivatives_that_a_worker_makes():
    case = case_create(patient=patient_create(code="W-1"))
    with celery_worker(queues="default", extra_env={"ENLLASD_THUMBNAIL_SIZE": "32"}):
        image = image_upload(case=case, data=png_bytes(80, 160, seed=3), filename="w.png", uploaded_by=None)
        assert wait_for(lambda: Image.objects.get(pk=image.pk).derivative_status == DerivativeStatus.READY)
    image.refresh_from_db()
    with image.thumbnail.open("rb") as handle:
        thumbnail = PILImage.open(io.BytesIO(handle.read()))
    assert max(thumbnail.size) == 32
    with image.display.open("rb") as handle:
        display = np.asarray(PILImage.open(io.BytesIO(handle.read())))
    assert display.shape == (160, 80)
