"""Phantom-based patients, images and predictions for the clinical tests (no torch)."""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache

import numpy as np
from PIL import Image as PILImage

from annotations.models import Case, Image, Patient, RevisionSource
from annotations.services import annotation_revision_submit, case_create, image_upload, patient_create
from inference.core.alignment import hka_deviation_deg
from inference.core.labelme_alignment import align_labelme_document
from inference.core.phantom import Phantom, generate_phantom
from inference.models import EnsembleVersion, JobStatus, Prediction, VersionStatus

BASE_SEED = 5
# Three visits with increasing varus: MPTA falls 3° per year, mLDFA and JLCA stay fixed, so the
# HKA deviation (varus negative) goes -0.5 -> -3.5 -> -6.5 exactly.
FOLLOW_UP_MPTA = (88.0, 85.0, 82.0)
FOLLOW_UP_HKA = (-0.5, -3.5, -6.5)
FOLLOW_UP_DATES = (date(2022, 3, 1), date(2023, 3, 1), date(2024, 3, 1))
BIRTH_YEAR = 2012  # 10, 11 and 12 years old at the visits


@lru_cache(maxsize=None)
def varus_phantom(mpta_deg: float) -> Phantom:
    """A one-leg phantom with a straight femur and tibia, mLDFA 88°, JLCA 0.5° and the given MPTA."""
    base = generate_phantom(seed=BASE_SEED, legs=1).params
    leg = replace(base.legs[0], mpta_deg=mpta_deg, mldfa_deg=88.0, jlca_deg=0.5, femoral_cora_deg=0.0,
                  tibial_cora_deg=0.0)
    return generate_phantom(seed=BASE_SEED, legs=1, params=replace(base, legs=(leg,)), stem=f"varus_{mpta_deg:g}")


@lru_cache(maxsize=None)
def png_of(phantom: Phantom) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(phantom.image).save(buffer, format="PNG")
    return buffer.getvalue()


def phantom_image(case: Case, phantom: Phantom, *, name: str = "leg.png") -> Image:
    return image_upload(case=case, data=png_of(phantom), filename=name, uploaded_by=None)


def approve(image: Image, document: dict, *, author=None) -> None:  # noqa: ANN001 - a user or None
    """An approved head revision (source "imported") with ``document``."""
    annotation_revision_submit(image=image, document=copy.deepcopy(document), base_revision_id=None,
                               source=RevisionSource.IMPORTED, author=author)


@dataclass(frozen=True)
class FollowUp:
    patient: Patient
    cases: tuple[Case, ...]
    images: tuple[Image, ...]
    leg: str  # the phantom leg's patient side


def follow_up_patient(code: str = "P-FU-1", *, author=None) -> FollowUp:  # noqa: ANN001
    """Three dated AP visits of one patient, each an approved phantom with the known varus trend."""
    patient = patient_create(code=code, birth_year=BIRTH_YEAR)
    cases, images = [], []
    for day, mpta in zip(FOLLOW_UP_DATES, FOLLOW_UP_MPTA):
        case = case_create(patient=patient, acquisition_date=day)
        image = phantom_image(case, varus_phantom(mpta))
        approve(image, varus_phantom(mpta).labelme, author=author)
        cases.append(case)
        images.append(image)
    side = varus_phantom(FOLLOW_UP_MPTA[0]).params.legs[0].anatomical_side
    return FollowUp(patient, tuple(cases), tuple(images), side)


def active_ensemble() -> EnsembleVersion:
    ensemble, _ = EnsembleVersion.objects.get_or_create(name="clinical-test", view="AP",
                                                        defaults={"status": VersionStatus.ACTIVE})
    return ensemble


def predict(image: Image, document: dict, *, spread_deg: float = 0.0) -> Prediction:
    """A succeeded prediction of the active ensemble whose alignment is the document's, plus a spread."""
    alignment = align_labelme_document(document, image_size=(image.width, image.height)).to_json()
    for leg in alignment["legs"]:
        for entry in leg["metrics"].values():
            if entry and entry.get("unit") == "deg" and spread_deg:
                entry.update(sd=spread_deg, p2_5=entry["value"] - 2 * spread_deg,
                             p97_5=entry["value"] + 2 * spread_deg)
    return Prediction.objects.create(image=image, ensemble_version=active_ensemble(), status=JobStatus.SUCCEEDED,
                                     document=copy.deepcopy(document), alignment=alignment)


def with_hka(phantom: Phantom, deviation_deg: float) -> dict:
    """The phantom's document with the ankle point moved so that the HKA deviation is exactly ``deviation_deg``."""
    document = copy.deepcopy(phantom.labelme)
    points = {s["label"]: s for s in document["shapes"] if s["shape_type"] == "point"}
    hip, knee, ankle = (np.asarray(points[n]["points"][0], dtype=float) for n in ("hip", "knee", "ankle"))
    medial_sign = 1 if phantom.params.legs[0].anatomical_side == "right" else -1
    axis = (knee - hip) / np.linalg.norm(knee - hip)
    length = float(np.linalg.norm(ankle - knee))
    for sense in (1.0, -1.0):
        a = np.radians(sense * deviation_deg)
        rotated = np.array([axis[0] * np.cos(a) - axis[1] * np.sin(a), axis[0] * np.sin(a) + axis[1] * np.cos(a)])
        candidate = knee + length * rotated
        value, _ = hka_deviation_deg(hip, knee, candidate, medial_sign=medial_sign)
        if abs(float(value) - deviation_deg) < 1e-6:
            points["ankle"]["points"] = [[float(candidate[0]), float(candidate[1])]]
            return document
    raise AssertionError("could not place the ankle")
