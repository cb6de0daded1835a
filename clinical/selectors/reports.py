"""Per-case report content and the dataset-wide metrics export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from annotations.models import Case, Image, View
from clinical.core.lengths import LENGTH_METRICS, PresentedLengths
from clinical.core.normal_ranges import CITATIONS, METRIC_LABELS, Classification, classify
from clinical.core.plausibility import PlausibilityFlag, plausibility_checks
from clinical.core.presentation import (
    format_hka,
    hka_direction,
    hka_interval_text,
    judgement_text,
    leg_side_title,
    length_text,
    lld_text,
    outside_intended_use,
    patient_side_flag,
    value_text,
)
from clinical.core.timeline import MetricReading, leg_key
from clinical.selectors.calibration import present_lengths
from clinical.selectors.measurements import (
    ImageMeasurement,
    image_measurement,
    measurement_overlay,
    patient_age_years,
    prediction_for_image,
    review_item_for_revision,
)

REPORT_ANGLE_METRICS: tuple[str, ...] = (
    "hka_deviation_deg", "mLDFA", "MPTA", "mLDTA", "JLCA", "mLPFA", "aLDFA", "NSA", "femoral_cora_deg",
    "tibial_cora_deg",
)
# Angles written beside each joint on the image overlay (report page and PDF).
OVERLAY_LABELS: dict[str, tuple[str, ...]] = {
    "hip": ("NSA", "mLPFA"),
    "knee": ("hka_deviation_deg", "mLDFA", "MPTA", "JLCA"),
    "ankle": ("mLDTA",),
}
EXPORT_ANGLE_METRICS: tuple[str, ...] = (
    "hka_deviation_deg", "HKA", "mLDFA", "MPTA", "mLDTA", "mLPFA", "aLDFA", "JLCA", "AMA", "NSA",
    "femoral_cora_deg", "tibial_cora_deg",
)


@dataclass(frozen=True)
class MetricRow:
    """One line of a report's metrics table."""

    metric: str
    reading: MetricReading
    classification: Classification

    @property
    def label(self) -> str:
        """``"HKA"`` for the HKA row (its value says the angle and the deviation), else the metric's name."""
        return "HKA" if self.metric == "hka_deviation_deg" else METRIC_LABELS.get(self.metric, self.metric)

    @property
    def value_text(self) -> str:
        """``"171.0° (9.0° valgus)"`` for HKA, ``"12.3°"``, ``"812.4 mm"`` (:func:`value_text`)."""
        return value_text(self.metric, self.reading.value, self.reading.unit)

    @property
    def status_text(self) -> str:
        """``"varus"``, ``"high"``, ``"normal, borderline"``, ``"—"``: the editor's words."""
        c = self.classification
        return judgement_text(self.metric, c.status, c.crosses_boundary)

    @property
    def spread_text(self) -> str:
        """``"± 0.3 (95%: 2.9 to 3.4)"`` when the Monte-Carlo spread is not zero, else ``""``."""
        r = self.reading
        if not r.sd or r.p2_5 is None or r.p97_5 is None:
            return ""
        if self.metric == "hka_deviation_deg":  # in the form the value is printed in: angles, with the direction
            return f"± {r.sd:.1f} (95%: {hka_interval_text(r.p2_5, r.p97_5)})"
        return f"± {r.sd:.1f} (95%: {r.p2_5:.1f} to {r.p97_5:.1f})"

    @property
    def reference_text(self) -> str:
        reference = self.classification.reference
        return f"{reference.range_text()} ({reference.population})" if reference else "—"


@dataclass(frozen=True)
class LegReport:
    leg: str
    image_side: str | None
    rows: tuple[MetricRow, ...]
    anatomical_side: str | None = None
    #: For the only leg of a film: where its patient side comes from (the image side says nothing then).
    side_note: str = ""
    #: ``(label, reason)`` of the metrics that need anatomy outside the image (a cut film): said, not left out.
    not_measurable: tuple[tuple[str, str], ...] = ()

    @property
    def title(self) -> str:
        """``"Right leg (image left)"``: the patient's side, the image side as a labelled hint; the only leg of a
        film says where its side comes from instead: ``"Right leg (side from the DICOM laterality tag)"``."""
        if self.side_note:
            return f"{leg_side_title(self.anatomical_side, self.image_side, with_image_side=False)} ({self.side_note})"
        return leg_side_title(self.anatomical_side, self.image_side)

    @property
    def short_title(self) -> str:
        """``"Right leg"`` (``"Leg on the image left"`` without a patient side)."""
        return leg_side_title(self.anatomical_side, self.image_side, with_image_side=False)


@dataclass(frozen=True)
class ImageReport:
    """What the report shows for one image of the case."""

    image: Image
    measurement: ImageMeasurement
    lengths: PresentedLengths
    legs: tuple[LegReport, ...]
    overlay: list[dict[str, Any]]
    flags: tuple[PlausibilityFlag, ...]
    reviewer: str
    model_version: str

    def overlay_labels(self) -> dict[str, dict[str, list[str]]]:
        """Per image side, per joint, the angle labels drawn beside it (:data:`OVERLAY_LABELS`)."""
        out: dict[str, dict[str, list[str]]] = {}
        for leg in self.legs:
            rows = {row.metric: row for row in leg.rows}
            out[str(leg.image_side)] = {
                joint: [overlay_label(rows[name]) for name in names if name in rows]
                for joint, names in OVERLAY_LABELS.items()
            }
        return out

    @property
    def leg_length_difference_text(self) -> str | None:
        """``"8.0 mm, right longer"`` (right minus left, :func:`lld_text`)."""
        difference = self.lengths.leg_length_difference
        if difference is None:
            return None
        if self.lengths.longer_side in (None, "right", "left"):
            return lld_text(difference.value, difference.unit)
        # Patient sides unknown: image-left minus image-right, the longer one named by its image side.
        return f"{length_text(abs(difference.value), difference.unit)}, {self.lengths.longer_side} longer"

    @property
    def flag_texts(self) -> list[str]:
        """The plausibility flags, each with the patient's side of its leg (issue 16, item 4)."""
        legs = self.measurement.alignment.get("legs") or []
        return [patient_side_flag(flag.as_text(), legs) for flag in self.flags]

    @property
    def outside_intended_use(self) -> str | None:
        """The alignment's "outside intended use" flag (e.g. no full-length leg): no angles then."""
        alignment = self.measurement.alignment
        flags = list(alignment.get("flags") or [])
        for leg in alignment.get("legs") or []:
            flags += list(leg.get("flags") or [])
        return outside_intended_use(flags)


@dataclass(frozen=True)
class CaseReport:
    case: Case
    age_years: float | None
    images: tuple[ImageReport, ...]
    unmeasured: tuple[Image, ...]
    generated_at: datetime
    #: Unmeasured images whose prediction says "outside intended use" (e.g. not a full-length leg), with the flag.
    outside_use: tuple[tuple[Image, str], ...] = ()

    @property
    def citations(self) -> list[tuple[str, str]]:
        """``(key, full citation)`` of every reference used in the tables, in first-use order."""
        keys: list[str] = []
        for image in self.images:
            for leg in image.legs:
                for row in leg.rows:
                    reference = row.classification.reference
                    for key in reference.citation_keys if reference else ():
                        if key not in keys:
                            keys.append(key)
        return [(key, CITATIONS[key]) for key in keys]


def overlay_label(row: MetricRow) -> str:
    """The label drawn beside a joint: ``"HKA 171.0° (9.0° valgus)"``, ``"mLDFA 87.0°"``."""
    if row.metric == "hka_deviation_deg":
        return format_hka(row.reading.value)
    return f"{row.label} {row.value_text}"


def format_value(value: float, unit: str) -> str:
    """``"-3.5°"``, ``"12.0 mm"``, ``"40 px"``."""
    if unit == "deg":
        return f"{value:.1f}°"
    if unit == "px":
        return f"{value:.0f} px"
    return f"{value:.1f} {unit}"


#: Where the leg localiser read a single leg's patient side from, by its flag code.
_SIDE_SOURCES = (("side_from_dicom_laterality", "side from the DICOM laterality tag"),
                 ("side_from_dicom_patient_orientation", "side from the DICOM patient orientation"),
                 ("side_uncertain", "side uncertain: check the side marker"))


def _metric_label(name: str) -> str:
    return "HKA" if name == "hka_deviation_deg" else METRIC_LABELS.get(name, name.replace("_", " "))


def _single_leg_side_note(measurement: ImageMeasurement) -> str:
    """Why the only leg of a film is called right or left (issue 27, item 8: "RIGHT LEG (IMAGE RIGHT)")."""
    prediction = measurement.prediction
    if prediction is None and measurement.revision is not None:
        item = review_item_for_revision(measurement.revision)
        prediction = item.prediction if item else None
    if prediction is None:
        return "side as annotated"
    flags = [str(f) for f in ((prediction.member_outputs or {}).get("localisation") or {}).get("flags", [])]
    for code, words in _SIDE_SOURCES:
        if any(flag.startswith(code) for flag in flags):
            return words
    return "side read from the leg's shape: check the side marker"


def _leg_reports(measurement: ImageMeasurement, lengths: PresentedLengths,
                 age_years: float | None) -> tuple[LegReport, ...]:
    out = []
    legs = measurement.alignment.get("legs") or []
    side_note = _single_leg_side_note(measurement) if len(legs) == 1 and legs[0].get("anatomical_side") else ""
    for leg, leg_lengths in zip(legs, lengths.legs):
        rows = []
        metrics = leg.get("metrics") or {}
        for name in REPORT_ANGLE_METRICS:
            entry = metrics.get(name)
            if not entry or entry.get("value") is None:
                continue
            reading = MetricReading(float(entry["value"]), "deg", entry.get("sd"), entry.get("p2_5"),
                                    entry.get("p97_5"))
            rows.append(MetricRow(name, reading, classify(name, reading.value, unit="deg", age_years=age_years,
                                                          p2_5=reading.p2_5, p97_5=reading.p97_5)))
        for name in LENGTH_METRICS:
            value = leg_lengths.lengths.get(name)
            if value is None:
                continue
            reading = MetricReading(value.value, value.unit, value.sd, value.p2_5, value.p97_5)
            rows.append(MetricRow(name, reading, classify(name, value.value, unit=value.unit, age_years=age_years,
                                                          p2_5=value.p2_5, p97_5=value.p97_5)))
        key = leg_key(anatomical_side=leg.get("anatomical_side"), image_side=leg.get("image_side"))
        missing = tuple((_metric_label(name), str(reason)) for name, reason in (leg.get("not_measurable") or {}).items()
                        if name in REPORT_ANGLE_METRICS or name == "leg_length")
        out.append(LegReport(key, leg.get("image_side"), tuple(rows), leg.get("anatomical_side"), side_note, missing))
    return tuple(out)


def image_laterality(image: Image) -> str | None:
    """The DICOM laterality tag of the image (``ImageLaterality`` first), if any."""
    metadata = image.dicom_metadata or {}
    return metadata.get("image_laterality") or metadata.get("laterality") or None


def _reviewer(measurement: ImageMeasurement) -> str:
    if measurement.revision is None:
        return "not reviewed (model prediction)"
    item = review_item_for_revision(measurement.revision)
    if item is not None and item.decided_by is not None:
        when = item.decided_at.date().isoformat() if item.decided_at else ""
        return f"{item.decided_by.get_username()} ({item.get_status_display().lower()} {when})".strip()
    author = measurement.revision.author
    return f"{author.get_username() if author else 'unknown'} ({measurement.revision.get_source_display().lower()})"


def _model_version(measurement: ImageMeasurement) -> str:
    ensemble = measurement.ensemble
    if ensemble is None:
        return "none (manual annotation)"
    return f"{ensemble.name} (ensemble #{ensemble.pk}, {ensemble.status})"


def image_report(image: Image, measurement: ImageMeasurement, *, age_years: float | None) -> ImageReport:
    lengths = present_lengths(measurement.alignment, image)
    flags = plausibility_checks(measurement.alignment, document=measurement.document or None,
                                laterality=image_laterality(image))
    return ImageReport(
        image=image,
        measurement=measurement,
        lengths=lengths,
        legs=_leg_reports(measurement, lengths, age_years),
        overlay=measurement_overlay(measurement),
        flags=tuple(flags),
        reviewer=_reviewer(measurement),
        model_version=_model_version(measurement),
    )


def case_report(*, case: Case) -> CaseReport:
    """The report of every image of ``case`` that has a measurement."""
    age = patient_age_years(case.patient, case.acquisition_date)
    images, unmeasured, outside = [], [], []
    for image in case.images.select_related("head_revision__author").order_by("id"):
        measurement = image_measurement(image)
        if measurement is None:
            flag = _outside_use_flag(image)
            if flag is not None:
                outside.append((image, flag))
            else:
                unmeasured.append(image)
        else:
            images.append(image_report(image, measurement, age_years=age))
    return CaseReport(case, age, tuple(images), tuple(unmeasured), timezone.now(), tuple(outside))


def _outside_use_flag(image: Image) -> str | None:
    """The "outside intended use" flag of the image's prediction (which then has no angles), if any."""
    prediction = prediction_for_image(image)
    alignment = (prediction.alignment if prediction is not None else None) or {}
    item = getattr(prediction, "review_item", None) if prediction is not None else None
    flags = list(alignment.get("flags") or []) + list(((item.priority_components or {}) if item else {}).get("flags", []))
    for leg in alignment.get("legs") or []:
        flags += list(leg.get("flags") or [])
    return outside_intended_use(flags)


# --------------------------------------------------------------------------------------------------
# Dataset export


def export_cases(*, cohort: str | None = None, case_ids: Sequence[int] | None = None) -> QuerySet[Case]:
    cases = Case.objects.filter(view=View.AP).select_related("patient").order_by("patient__code",
                                                                                 "acquisition_date", "id")
    if cohort:
        cases = cases.filter(patient__cohort=cohort)
    if case_ids:
        cases = cases.filter(pk__in=case_ids)
    return cases


EXPORT_COLUMNS: tuple[str, ...] = (
    "patient", "cohort", "case_id", "acquisition_date", "age_years", "image_id", "image", "source",
    "revision_id", "prediction_id", "leg", "image_side", "calibration_status", "calibration_method",
    *EXPORT_ANGLE_METRICS, "hka_direction", "hka_text", "flags",
    *(f"{name}_{unit}" for name in (*LENGTH_METRICS, "leg_length_difference") for unit in ("mm", "px")),
)


def _length_cells(name: str, value: Any, lengths: PresentedLengths) -> dict[str, Any]:
    """``<name>_mm`` (empty unless the scale allows mm) and ``<name>_px`` cells."""
    if value is None:
        return {}
    return {f"{name}_px": round(value.value_px, 3),
            f"{name}_mm": round(value.value, 3) if lengths.unit == "mm" else ""}


def _export_rows_for(case: Case, image: Image, measurement: ImageMeasurement) -> Iterable[dict[str, Any]]:
    lengths = present_lengths(measurement.alignment, image)
    common = {
        "patient": case.patient.code,
        "cohort": case.patient.cohort,
        "case_id": case.pk,
        "acquisition_date": case.acquisition_date.isoformat() if case.acquisition_date else "",
        "age_years": patient_age_years(case.patient, case.acquisition_date),
        "image_id": image.pk,
        "image": image.original_name,
        "source": measurement.source,
        "revision_id": measurement.revision.pk if measurement.revision else "",
        "prediction_id": measurement.prediction.pk if measurement.prediction else "",
        "calibration_status": lengths.scale.status,
        "calibration_method": lengths.scale.method,
        **_length_cells("leg_length_difference", lengths.leg_length_difference, lengths),
    }
    for leg, leg_lengths in zip(measurement.alignment.get("legs") or [], lengths.legs):
        metrics: Mapping[str, Any] = leg.get("metrics") or {}
        row = {
            **common,
            "leg": leg_key(anatomical_side=leg.get("anatomical_side"), image_side=leg.get("image_side")),
            "image_side": leg.get("image_side"),
            **{name: (metrics.get(name) or {}).get("value") for name in EXPORT_ANGLE_METRICS},
            "flags": "; ".join(str(f) for f in leg.get("flags") or []),
        }
        deviation = (metrics.get("hka_deviation_deg") or {}).get("value")
        if deviation is not None:  # the signed deviation stays numeric; the words next to it (item 5)
            row["hka_direction"] = hka_direction(deviation)
            row["hka_text"] = format_hka(deviation)
        for name, value in leg_lengths.lengths.items():
            row.update(_length_cells(name, value, lengths))
        yield row


def metrics_export_csv(cases: Iterable[Case]) -> str:
    """One row per measured leg of every AP image of ``cases`` (:data:`EXPORT_COLUMNS`).

    Lengths have a ``_px`` column (always) and a ``_mm`` column that stays empty for an image
    without a scale, so millimetres never appear for an uncalibrated image.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(EXPORT_COLUMNS), lineterminator="\n", restval="")
    writer.writeheader()
    for case in cases:
        for image in case.images.select_related("head_revision").order_by("id"):
            measurement = image_measurement(image)
            if measurement is not None:
                writer.writerows(_export_rows_for(case, image, measurement))
    return buffer.getvalue()
