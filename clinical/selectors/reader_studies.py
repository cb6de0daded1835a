"""Reader-study tasks (blind: images only) and results (agreement between readers and with the model).

A *target* is one leg of one study image, keyed by ``(image id, leg position)``: ``"single"`` on a
one-leg image, ``"image-left"``/``"image-right"`` by order on a two-leg one (alignment legs are
ordered image-left first). Position, not the ``image_side`` field, because a single leg near the
middle of the image can be called left by one reader and right by another.
Per metric, the ratings matrix has one row per target and one column per rater; only targets every
compared rater measured enter a statistic (:func:`clinical.core.agreement.complete_rows`).

Lengths (MAD, femur, tibia) are compared in mm when every study image is calibrated, otherwise in px
for all of them (:func:`clinical.selectors.calibration.present_lengths` decides per image).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from annotations.models import Image
from clinical.core.agreement import AgreementResult, agreement, complete_rows
from clinical.core.lengths import PresentedLengths
from clinical.models import ReaderStudy, ReaderStudyReading, ReaderStudyStatus
from clinical.selectors.calibration import image_scale, present_lengths
from clinical.selectors.measurements import active_ensemble_prediction
from enllasd_web.roles import Role, has_role

STUDY_ANGLE_METRICS: tuple[str, ...] = ("hka_deviation_deg", "mLDFA", "MPTA", "mLDTA", "JLCA", "mLPFA", "aLDFA", "NSA")
STUDY_LENGTH_METRICS: tuple[str, ...] = ("MAD", "femur_length", "tibia_length")
MODEL_LABEL = "model"

Target = tuple[int, str]


def reader_study_tasks(*, study: ReaderStudy, reader: AbstractBaseUser) -> QuerySet[Image]:
    """The study images ``reader`` has not read yet, in id order."""
    done = ReaderStudyReading.objects.filter(study=study, reader=reader).values("image_id")
    return study.images.exclude(pk__in=done).order_by("id")


def reader_study_results_allowed(user: AbstractBaseUser | AnonymousUser, study: ReaderStudy) -> bool:
    """Admins see results, except an admin who reads in the study while it is open (blinding)."""
    if not has_role(user, Role.ADMIN):
        return False
    return study.status != ReaderStudyStatus.OPEN or not study.readers.filter(pk=user.pk).exists()


def reader_study_list(*, user: AbstractBaseUser, include_all: bool) -> QuerySet[ReaderStudy]:
    """Every study (``include_all``, for admins) or those ``user`` reads in."""
    studies = ReaderStudy.objects.all() if include_all else ReaderStudy.objects.filter(readers=user)
    return studies.prefetch_related("readers").order_by("-created_at", "-id")


@dataclass(frozen=True)
class PairResult:
    """Agreement of two raters on one metric (``None`` when fewer than 2 common targets)."""

    rater_a: str
    rater_b: str
    result: AgreementResult | None


@dataclass(frozen=True)
class MetricResult:
    metric: str
    unit: str
    readers: AgreementResult | None
    reader_pairs: tuple[PairResult, ...]
    reader_vs_model: tuple[PairResult, ...]


@dataclass(frozen=True)
class StudyResults:
    study: ReaderStudy
    raters: tuple[str, ...]
    model_label: str | None
    n_images: int
    readings_per_reader: Mapping[str, int]
    length_unit: str
    metrics: tuple[MetricResult, ...]
    not_aligned: tuple[str, ...]


def _leg_positions(n_legs: int) -> tuple[str, ...]:
    return ("single",) if n_legs == 1 else ("image-left", "image-right")[:n_legs]


def _values(alignment: Mapping[str, Any], lengths: PresentedLengths, *, use_mm: bool) -> dict[str, dict[str, float]]:
    """Per leg position, metric -> value (angles in degrees, lengths in the study's unit)."""
    out: dict[str, dict[str, float]] = {}
    legs = alignment.get("legs") or []
    for position, leg, leg_lengths in zip(_leg_positions(len(legs)), legs, lengths.legs):
        values = {name: float(entry["value"]) for name in STUDY_ANGLE_METRICS
                  if (entry := (leg.get("metrics") or {}).get(name)) and entry.get("value") is not None}
        for name in STUDY_LENGTH_METRICS:
            length = leg_lengths.lengths.get(name)
            if length is not None:
                values[name] = length.value if use_mm else length.value_px
        out[position] = values
    return out


def _pair(matrix: np.ndarray, columns: Sequence[int], names: Sequence[str]) -> PairResult:
    rows = complete_rows(matrix[:, list(columns)])
    result = agreement(rows) if rows.shape[0] >= 2 else None
    return PairResult(names[0], names[1], result)


def reader_study_results(*, study: ReaderStudy) -> StudyResults:
    """ICC(2,1), ICC(3,1), SEM and Bland–Altman per metric: all readers, reader pairs, reader vs model."""
    readers = list(study.readers.order_by("username"))
    names = [user.get_username() for user in readers]
    images = list(study.images.select_related("case").order_by("id"))
    use_mm = bool(images) and all(image_scale(image).shows_mm for image in images)
    readings = ReaderStudyReading.objects.filter(study=study).select_related("reader")
    by_rater: dict[str, dict[Target, dict[str, float]]] = {name: {} for name in names}
    counts = {name: 0 for name in names}
    not_aligned = []
    image_by_id = {image.pk: image for image in images}
    for reading in readings:
        name = reading.reader.get_username()
        if name not in by_rater or reading.image_id not in image_by_id:
            continue
        counts[name] += 1
        if reading.alignment is None:
            not_aligned.append(f"{name} on image {reading.image_id}: {reading.alignment_error}")
            continue
        image = image_by_id[reading.image_id]
        for position, values in _values(reading.alignment, present_lengths(reading.alignment, image),
                                        use_mm=use_mm).items():
            by_rater[name][(image.pk, position)] = values
    raters = list(names)
    if study.include_model:
        by_rater[MODEL_LABEL] = {}
        for image in images:
            prediction = active_ensemble_prediction(image)
            if prediction is None:
                continue
            lengths = present_lengths(prediction.alignment, image)
            for position, values in _values(prediction.alignment, lengths, use_mm=use_mm).items():
                by_rater[MODEL_LABEL][(image.pk, position)] = values
        raters.append(MODEL_LABEL)
    targets = sorted({target for per_target in by_rater.values() for target in per_target})
    metrics = []
    for metric in (*STUDY_ANGLE_METRICS, *STUDY_LENGTH_METRICS):
        matrix = np.array([[by_rater[r].get(t, {}).get(metric, math.nan) for r in raters] for t in targets],
                          dtype=np.float64).reshape(len(targets), len(raters))
        reader_columns = list(range(len(names)))
        all_readers = complete_rows(matrix[:, reader_columns])
        metrics.append(MetricResult(
            metric=metric,
            unit="deg" if metric in STUDY_ANGLE_METRICS else ("mm" if use_mm else "px"),
            readers=agreement(all_readers) if all_readers.shape[0] >= 2 else None,
            reader_pairs=tuple(_pair(matrix, (i, j), (names[i], names[j]))
                               for i, j in itertools.combinations(reader_columns, 2)),
            reader_vs_model=tuple(_pair(matrix, (i, len(names)), (names[i], MODEL_LABEL))
                                  for i in reader_columns) if study.include_model else (),
        ))
    return StudyResults(
        study=study,
        raters=tuple(raters),
        model_label=MODEL_LABEL if study.include_model else None,
        n_images=len(images),
        readings_per_reader=counts,
        length_unit="mm" if use_mm else "px",
        metrics=tuple(metrics),
        not_aligned=tuple(not_aligned),
    )


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def _ci(interval: tuple[float, float] | None) -> list[float | None] | None:
    return None if interval is None else [_round(interval[0]), _round(interval[1])]


def agreement_json(result: AgreementResult | None) -> dict[str, Any] | None:
    """JSON of an :class:`AgreementResult` (``None`` stays ``None``)."""
    if result is None:
        return None
    ba = result.bland_altman
    return {
        "n_targets": result.n_targets,
        "n_raters": result.n_raters,
        "icc2_1": _round(result.icc.icc2_1),
        "icc2_1_ci95": _ci(result.icc.icc2_1_ci95),
        "icc3_1": _round(result.icc.icc3_1),
        "icc3_1_ci95": _ci(result.icc.icc3_1_ci95),
        "sem": _round(result.sem),
        "sem_from_icc": _round(result.sem_from_icc),
        "sd_pooled": _round(result.sd_pooled),
        "sem95": _round(result.sem95),
        "mdc95": _round(result.mdc95),
        "bland_altman": None if ba is None else {
            "n": ba.n, "bias": _round(ba.bias), "sd_difference": _round(ba.sd_difference),
            "loa_low": _round(ba.loa_low), "loa_high": _round(ba.loa_high), "bias_ci95": _ci(ba.bias_ci95),
        },
    }


def _pair_json(pair: PairResult) -> dict[str, Any]:
    return {"rater_a": pair.rater_a, "rater_b": pair.rater_b, "agreement": agreement_json(pair.result)}


def study_results_json(results: StudyResults) -> dict[str, Any]:
    """The results as the API returns them (see :func:`reader_study_results`)."""
    return {
        "study": results.study.pk,
        "name": results.study.name,
        "status": results.study.status,
        "raters": list(results.raters),
        "model": results.model_label,
        "n_images": results.n_images,
        "readings_per_reader": dict(results.readings_per_reader),
        "length_unit": results.length_unit,
        "not_aligned": list(results.not_aligned),
        "sem_definition": "sem = sqrt(MSE) of the two-way ANOVA (within-target SD); sem_from_icc = SD_pooled * "
                          "sqrt(1 - ICC(2,1)); sem95 = 1.96 * sem; mdc95 = 1.96 * sqrt(2) * sem",
        "metrics": [
            {
                "metric": m.metric,
                "unit": m.unit,
                "readers": agreement_json(m.readers),
                "reader_pairs": [_pair_json(p) for p in m.reader_pairs],
                "reader_vs_model": [_pair_json(p) for p in m.reader_vs_model],
            }
            for m in results.metrics
        ],
    }
