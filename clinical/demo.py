"""A synthetic follow-up patient for demonstrations and screenshots (phantoms only, no real data).

Four yearly AP visits of a child with skeletal dysplasia (born 2013): the right leg's MPTA falls by
2.5° a year (87 -> 79.5°) with mLDFA 87.5° and JLCA 0.5°, so its HKA deviation goes -1 -> -8.5°
(increasing varus); the left leg stays straight. Visits 1-3 are annotated (the phantom's exact
LabelMe truth, source ``manual``); visit 4 is a prediction of a demo ensemble with a 0.6° spread;
visit 3 is calibrated with a drawn calibration object of the phantom's true scale.
"""

from __future__ import annotations

import copy
import io
from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from numpy.typing import NDArray
from PIL import Image as PILImage

from annotations.models import Cohort, Image, Patient, RevisionSource
from annotations.services import annotation_revision_submit, case_create, image_upload, patient_create
from clinical.services import image_calibration_set
from inference.core.labelme_alignment import align_labelme_document
from inference.core.phantom import generate_phantom
from inference.models import EnsembleVersion, JobStatus, Prediction

DEMO_VISITS: tuple[tuple[date, float], ...] = (
    (date(2021, 4, 12), 87.0), (date(2022, 4, 20), 84.5), (date(2023, 5, 2), 82.0), (date(2024, 4, 30), 79.5),
)
_SEED = 2
_PREDICTED_SPREAD_DEG = 0.6


def _png(pixels: NDArray[np.uint8]) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _demo_prediction(image: Image, document: dict[str, Any]) -> Prediction:
    """A succeeded prediction of the (candidate) demo ensemble whose angles carry a fixed spread."""
    ensemble, _ = EnsembleVersion.objects.get_or_create(name="demo-phantom-ensemble", view="AP")
    alignment = align_labelme_document(document, image_size=(image.width, image.height), image_id=image.pk).to_json()
    for leg in alignment["legs"]:
        for entry in leg["metrics"].values():
            if entry and entry.get("unit") == "deg":
                entry.update(sd=_PREDICTED_SPREAD_DEG, p2_5=entry["value"] - 2 * _PREDICTED_SPREAD_DEG,
                             p97_5=entry["value"] + 2 * _PREDICTED_SPREAD_DEG)
    return Prediction.objects.create(image=image, ensemble_version=ensemble, status=JobStatus.SUCCEEDED,
                                     document=copy.deepcopy(document), alignment=alignment)


def follow_up_demo_create(*, code: str, user: AbstractBaseUser | None) -> Patient:
    """Create the demo patient ``code`` with its four visits (see the module docstring)."""
    base = generate_phantom(seed=_SEED, legs=2).params
    with transaction.atomic():
        patient = patient_create(code=code, cohort=Cohort.SD, birth_year=2013)
        for index, (day, mpta) in enumerate(DEMO_VISITS):
            right = replace(base.legs[0], mpta_deg=mpta, mldfa_deg=87.5, jlca_deg=0.5, femoral_cora_deg=0.0,
                            tibial_cora_deg=0.0, nsa_deg=131.0)
            left = replace(base.legs[1], mpta_deg=87.5, mldfa_deg=87.5, jlca_deg=0.5, femoral_cora_deg=0.0,
                           tibial_cora_deg=0.0, nsa_deg=130.0)
            phantom = generate_phantom(seed=_SEED, legs=2, params=replace(base, legs=(right, left)))
            case = case_create(patient=patient, acquisition_date=day)
            image = image_upload(case=case, data=_png(phantom.image), filename=f"longleg_{day.isoformat()}.png",
                                 uploaded_by=user)
            if index < len(DEMO_VISITS) - 1:
                annotation_revision_submit(image=image, document=copy.deepcopy(phantom.labelme), base_revision_id=None,
                                           source=RevisionSource.MANUAL, author=user)
            else:
                _demo_prediction(image, phantom.labelme)
            if index == 2:
                image_calibration_set(image=image, method="calibration_object", points=[[60, 60], [60, 560]],
                                      length_mm=500 * phantom.pixel_spacing_mm, user=user)
    return patient
