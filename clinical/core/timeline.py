"""Per-patient follow-up series: each metric of each leg over the visits, with change since the last one.

A :class:`Visit` is one measured radiograph (an approved annotation or, marked ``"predicted"``, the
ensemble's prediction) with its date, the patient's age then, and per leg the metric readings
(value, unit, Monte-Carlo SD and 95% interval). :func:`build_series` groups the readings into one
:class:`Series` per ``(metric, leg, unit)`` in date order: a length measured in px on one visit and
in mm on another (calibration added later) lands in two series rather than mixing units, and
"change since previous" is only ever computed within one series. Each point is judged against the
age-appropriate normal range (:mod:`clinical.core.normal_ranges`).

Legs are keyed by the patient side (``"right"``/``"left"``) when the alignment knows it, otherwise
``"image-left"``/``"image-right"``; image-level values (leg-length difference) use ``"both"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from clinical.core.normal_ranges import METRIC_LABELS, Classification, classify
from clinical.core.presentation import judgement_text, leg_side_title, value_text

__all__ = [
    "CSV_COLUMNS",
    "LEG_ORDER",
    "TIMELINE_METRICS",
    "MetricReading",
    "Series",
    "SeriesPoint",
    "Visit",
    "build_series",
    "csv_rows",
    "leg_key",
]

VisitSource = Literal["approved", "predicted"]

TIMELINE_METRICS: tuple[str, ...] = (
    "hka_deviation_deg", "mLDFA", "MPTA", "mLDTA", "NSA", "JLCA", "MAD", "femoral_cora_deg", "tibial_cora_deg",
    "femur_length", "tibia_length", "limb_length", "leg_length", "leg_length_difference",
)
LEG_ORDER: tuple[str, ...] = ("right", "left", "image-left", "image-right", "both")


def leg_key(*, anatomical_side: str | None, image_side: str | None) -> str:
    """``"right"``/``"left"`` from the patient side, else ``"image-<side>"``."""
    if anatomical_side in ("right", "left"):
        return anatomical_side
    return f"image-{image_side or 'unknown'}"


@dataclass(frozen=True)
class MetricReading:
    """One metric value of one leg on one visit; ``sd``/``p2_5``/``p97_5`` are ``None`` when unknown."""

    value: float
    unit: str
    sd: float | None = None
    p2_5: float | None = None
    p97_5: float | None = None


@dataclass(frozen=True)
class Visit:
    """One measured radiograph of the patient."""

    visit_date: date
    case_id: int
    image_id: int
    source: VisitSource
    age_years: float | None
    legs: Mapping[str, Mapping[str, MetricReading]]


@dataclass(frozen=True)
class SeriesPoint:
    """One visit's value in a series; ``change`` is value minus the previous point's value."""

    visit_date: date
    case_id: int
    image_id: int
    source: VisitSource
    age_years: float | None
    reading: MetricReading
    change: float | None
    days_since_previous: int | None
    classification: Classification
    metric: str = ""

    @property
    def value_text(self) -> str:
        """The value as every page says it: ``"171.0° (9.0° valgus)"``, ``"12.3°"``, ``"812.4 mm"``."""
        return value_text(self.metric, self.reading.value, self.reading.unit)

    @property
    def status_text(self) -> str:
        """``"varus"``, ``"high"``, ``"normal, borderline"``, ``"—"`` (:func:`judgement_text`)."""
        return judgement_text(self.metric, self.classification.status, self.classification.crosses_boundary)


@dataclass(frozen=True)
class Series:
    """All visits' values of one metric of one leg, in one unit, in date order."""

    metric: str
    leg: str
    unit: str
    points: tuple[SeriesPoint, ...]

    @property
    def label(self) -> str:
        return f"{METRIC_LABELS.get(self.metric, self.metric)} · {self.leg} ({self.unit})"

    @property
    def leg_title(self) -> str:
        """``"Right leg"``, ``"Leg on the image left"``, ``"Both legs"``."""
        if self.leg == "both":
            return "Both legs"
        if self.leg.startswith("image-"):
            return leg_side_title(None, self.leg.removeprefix("image-"))
        return leg_side_title(self.leg, None)


def _order(series: Series) -> tuple[int, str, int]:
    m = TIMELINE_METRICS.index(series.metric) if series.metric in TIMELINE_METRICS else len(TIMELINE_METRICS)
    g = LEG_ORDER.index(series.leg) if series.leg in LEG_ORDER else len(LEG_ORDER)
    return m, series.unit, g


def build_series(
    visits: Iterable[Visit],
    *,
    metrics: Sequence[str] | None = None,
    legs: Sequence[str] | None = None,
) -> list[Series]:
    """Group the visits' readings into per-(metric, leg, unit) series with changes and judgements.

    Parameters
    ----------
    visits : iterable of Visit
        In any order; points are sorted by (date, case id, image id).
    metrics, legs : sequence of str, optional
        Keep only these metrics / leg keys (default: all present).

    Returns
    -------
    list of Series
        Ordered by :data:`TIMELINE_METRICS`, then unit, then :data:`LEG_ORDER` (so the legs of one
        metric and unit sit side by side).
    """
    ordered = sorted(visits, key=lambda v: (v.visit_date, v.case_id, v.image_id))
    grouped: dict[tuple[str, str, str], list[tuple[Visit, MetricReading]]] = {}
    for visit in ordered:
        for leg, readings in visit.legs.items():
            if legs is not None and leg not in legs:
                continue
            for metric, reading in readings.items():
                if metrics is not None and metric not in metrics:
                    continue
                grouped.setdefault((metric, leg, reading.unit), []).append((visit, reading))
    series = []
    for (metric, leg, unit), items in grouped.items():
        points: list[SeriesPoint] = []
        for visit, reading in items:
            previous = points[-1] if points else None
            points.append(SeriesPoint(
                visit_date=visit.visit_date,
                case_id=visit.case_id,
                image_id=visit.image_id,
                source=visit.source,
                age_years=visit.age_years,
                reading=reading,
                change=None if previous is None else reading.value - previous.reading.value,
                days_since_previous=None if previous is None else (visit.visit_date - previous.visit_date).days,
                classification=classify(metric, reading.value, unit=unit, age_years=visit.age_years,
                                        p2_5=reading.p2_5, p97_5=reading.p97_5),
                metric=metric,
            ))
        series.append(Series(metric, leg, unit, tuple(points)))
    series.sort(key=_order)
    return series


CSV_COLUMNS: tuple[str, ...] = (
    "date", "age_years", "case_id", "image_id", "source", "leg", "metric", "value", "unit", "sd", "p2_5",
    "p97_5", "change_since_previous", "days_since_previous", "reference_range", "reference_population",
    "status", "reference_citation", "display",
)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def csv_rows(series: Iterable[Series]) -> list[dict[str, Any]]:
    """One row per point of every series, keyed by :data:`CSV_COLUMNS`, in date order."""
    rows = []
    for s in series:
        for p in s.points:
            reference = p.classification.reference
            rows.append({
                "date": p.visit_date.isoformat(),
                "age_years": p.age_years,
                "case_id": p.case_id,
                "image_id": p.image_id,
                "source": p.source,
                "leg": s.leg,
                "metric": s.metric,
                "value": _round(p.reading.value),
                "unit": s.unit,
                "sd": _round(p.reading.sd),
                "p2_5": _round(p.reading.p2_5),
                "p97_5": _round(p.reading.p97_5),
                "change_since_previous": _round(p.change),
                "days_since_previous": p.days_since_previous,
                "reference_range": reference.range_text() if reference else "",
                "reference_population": reference.population if reference else "",
                "status": p.classification.status,
                "reference_citation": reference.citation if reference else "",
                "display": p.value_text,
            })
    rows.sort(key=lambda row: (row["date"], row["case_id"], row["image_id"]))
    return rows
