"""A patient's follow-up timeline: every dated AP case's measurement, as per-metric per-leg series."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from annotations.models import Case, Image, Patient, View
from clinical.core.lengths import LENGTH_METRICS, PresentedLengths
from clinical.core.normal_ranges import CITATIONS
from clinical.core.timeline import (
    CSV_COLUMNS,
    TIMELINE_METRICS,
    MetricReading,
    Series,
    SeriesPoint,
    Visit,
    build_series,
    csv_rows,
    leg_key,
)
from clinical.selectors.calibration import present_lengths
from clinical.selectors.measurements import ImageMeasurement, image_measurement, patient_age_years

ANGLE_METRICS: tuple[str, ...] = tuple(m for m in TIMELINE_METRICS if m not in LENGTH_METRICS
                                       and m != "leg_length_difference")


@dataclass(frozen=True)
class TimelineEntry:
    """One measured image of the patient with its presented lengths."""

    case: Case
    image: Image
    measurement: ImageMeasurement
    lengths: PresentedLengths
    visit: Visit


@dataclass(frozen=True)
class UnmeasuredImage:
    case: Case
    image: Image
    reason: str


@dataclass(frozen=True)
class PatientTimeline:
    """Series of the patient's measured visits, plus what could not be placed on it."""

    patient: Patient
    entries: tuple[TimelineEntry, ...]
    series: tuple[Series, ...]
    unmeasured: tuple[UnmeasuredImage, ...]
    undated_cases: tuple[Case, ...]

    @property
    def date_range(self) -> tuple[date, date] | None:
        dates = [entry.visit.visit_date for entry in self.entries]
        return (min(dates), max(dates)) if dates else None

    @property
    def notices(self) -> list[str]:
        """Each distinct calibration notice, prefixed with the visit dates it applies to."""
        dates: dict[str, list[str]] = {}
        for entry in self.entries:
            if entry.lengths.notice:
                dates.setdefault(entry.lengths.notice, []).append(entry.visit.visit_date.isoformat())
        return [f"{', '.join(days)}: {notice}" for notice, days in dates.items()]


def _reading(entry: Mapping[str, Any] | None) -> MetricReading | None:
    if not entry or entry.get("value") is None:
        return None
    return MetricReading(float(entry["value"]), entry.get("unit") or "deg", entry.get("sd"), entry.get("p2_5"),
                         entry.get("p97_5"))


def visit_legs(measurement: ImageMeasurement, lengths: PresentedLengths) -> dict[str, dict[str, MetricReading]]:
    """Per leg key, the angle readings of the alignment and the length readings of ``lengths``."""
    legs: dict[str, dict[str, MetricReading]] = {}
    for leg, leg_lengths in zip(measurement.alignment.get("legs") or [], lengths.legs):
        key = leg_key(anatomical_side=leg.get("anatomical_side"), image_side=leg.get("image_side"))
        readings = {}
        for name in ANGLE_METRICS:
            reading = _reading((leg.get("metrics") or {}).get(name))
            if reading is not None:
                readings[name] = reading
        for name, value in leg_lengths.lengths.items():
            if value is not None:
                readings[name] = MetricReading(value.value, value.unit, value.sd, value.p2_5, value.p97_5)
        legs[key] = readings
    if lengths.leg_length_difference is not None:
        difference = lengths.leg_length_difference
        legs["both"] = {"leg_length_difference": MetricReading(difference.value, difference.unit)}
    return legs


def patient_timeline(*, patient: Patient, metrics: Sequence[str] | None = None,
                     legs: Sequence[str] | None = None) -> PatientTimeline:
    """The patient's dated AP cases in date order, each image's measurement, and the series.

    Parameters
    ----------
    patient : Patient
    metrics, legs : sequence of str, optional
        Keep only these metrics (names of :data:`clinical.core.timeline.TIMELINE_METRICS`) and leg
        keys (``right``, ``left``, ``image-left``, ``image-right``, ``both``).
    """
    cases = (Case.objects.filter(patient=patient, view=View.AP).order_by("acquisition_date", "id")
             .prefetch_related("images__head_revision__author"))
    entries, unmeasured, undated = [], [], []
    for case in cases:
        if case.acquisition_date is None:
            undated.append(case)
            continue
        for image in case.images.all():
            measurement = image_measurement(image)
            if measurement is None:
                unmeasured.append(UnmeasuredImage(case, image, "no approved annotation or prediction that could "
                                                               "be aligned"))
                continue
            lengths = present_lengths(measurement.alignment, image)
            visit = Visit(case.acquisition_date, case.pk, image.pk, measurement.source,
                          patient_age_years(patient, case.acquisition_date), visit_legs(measurement, lengths))
            entries.append(TimelineEntry(case, image, measurement, lengths, visit))
    series = build_series([entry.visit for entry in entries], metrics=metrics, legs=legs)
    return PatientTimeline(patient, tuple(entries), tuple(series), tuple(unmeasured), tuple(undated))


def timeline_csv(timeline: PatientTimeline) -> str:
    """The timeline's points as CSV (:data:`clinical.core.timeline.CSV_COLUMNS` plus patient code)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["patient", *CSV_COLUMNS], lineterminator="\n")
    writer.writeheader()
    for row in csv_rows(timeline.series):
        writer.writerow({"patient": timeline.patient.code, **row})
    return buffer.getvalue()


def _reference_json(point: SeriesPoint) -> dict[str, Any] | None:
    reference = point.classification.reference
    if reference is None:
        return None
    return {"low": reference.low, "high": reference.high, "mean": reference.mean, "unit": reference.unit,
            "population": reference.population, "range_text": reference.range_text(),
            "citation_keys": list(reference.citation_keys)}


def _point_json(point: SeriesPoint) -> dict[str, Any]:
    reading = point.reading
    return {
        "date": point.visit_date.isoformat(),
        "age_years": point.age_years,
        "case_id": point.case_id,
        "image_id": point.image_id,
        "source": point.source,
        "value": round(reading.value, 4),
        "display": point.value_text,  # as the page and the CSV say it: "171.0° (9.0° valgus)"
        "sd": None if reading.sd is None else round(reading.sd, 4),
        "p2_5": None if reading.p2_5 is None else round(reading.p2_5, 4),
        "p97_5": None if reading.p97_5 is None else round(reading.p97_5, 4),
        "change_since_previous": None if point.change is None else round(point.change, 4),
        "days_since_previous": point.days_since_previous,
        "status": point.classification.status,
        "out_of_range": point.classification.out_of_range,
        "crosses_boundary": point.classification.crosses_boundary,
        "message": point.classification.message,
        "reference": _reference_json(point),
    }


def _entry_json(entry: TimelineEntry) -> dict[str, Any]:
    measurement, scale = entry.measurement, entry.lengths.scale
    ensemble = measurement.ensemble
    return {
        "date": entry.visit.visit_date.isoformat(),
        "age_years": entry.visit.age_years,
        "case_id": entry.case.pk,
        "image_id": entry.image.pk,
        "image_name": entry.image.original_name,
        "source": measurement.source,
        "measurement": measurement.description,
        "revision_id": measurement.revision.pk if measurement.revision else None,
        "prediction_id": measurement.prediction.pk if measurement.prediction else None,
        "ensemble": None if ensemble is None else {"id": ensemble.pk, "name": ensemble.name, "status": ensemble.status},
        "calibration": {
            "status": scale.status,
            "method": scale.method,
            "length_unit": scale.unit,
            "pixel_spacing_mm": scale.pixel_spacing_mm if scale.shows_mm else None,
            "notice": scale.notice,
        },
    }


def timeline_json(timeline: PatientTimeline) -> dict[str, Any]:
    """The timeline as the API returns it."""
    patient = timeline.patient
    keys = sorted({key for s in timeline.series for p in s.points
                   for key in (p.classification.reference.citation_keys if p.classification.reference else ())})
    return {
        "patient": {"id": patient.pk, "code": patient.code, "cohort": patient.cohort,
                    "birth_year": patient.birth_year},
        "notices": timeline.notices,
        "visits": [_entry_json(entry) for entry in timeline.entries],
        "series": [
            {"metric": s.metric, "leg": s.leg, "unit": s.unit, "label": s.label,
             "points": [_point_json(p) for p in s.points]}
            for s in timeline.series
        ],
        "unmeasured": [{"case_id": u.case.pk, "image_id": u.image.pk, "reason": u.reason}
                       for u in timeline.unmeasured],
        "undated_cases": [case.pk for case in timeline.undated_cases],
        "citations": {key: CITATIONS[key] for key in keys},
    }
