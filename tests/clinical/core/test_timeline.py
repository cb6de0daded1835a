"""Timeline series: order, change since previous, unit separation, CSV rows."""

from __future__ import annotations

from datetime import date

import pytest

from clinical.core.timeline import CSV_COLUMNS, MetricReading, Visit, build_series, csv_rows


def _visit(day: date, image_id: int, hka: float, *, mad_unit: str = "px", source: str = "approved") -> Visit:
    return Visit(day, case_id=image_id, image_id=image_id, source=source, age_years=30.0, legs={
        "right": {"hka_deviation_deg": MetricReading(hka, "deg", 0.2, hka - 0.4, hka + 0.4),
                  "MAD": MetricReading(10.0 * image_id, mad_unit)},
    })


def test_series_are_in_date_order_with_changes() -> None:
    visits = [_visit(date(2024, 6, 1), 3, -6.0, source="predicted"), _visit(date(2022, 1, 1), 1, -1.0),
              _visit(date(2023, 1, 1), 2, -3.5)]
    [hka] = build_series(visits, metrics=["hka_deviation_deg"])
    assert [p.reading.value for p in hka.points] == [-1.0, -3.5, -6.0]
    assert [p.change for p in hka.points] == [None, pytest.approx(-2.5), pytest.approx(-2.5)]
    assert [p.days_since_previous for p in hka.points] == [None, 365, 517]
    assert [p.classification.status for p in hka.points] == ["normal", "low", "low"]
    assert hka.points[-1].source == "predicted"


def test_units_never_mix_within_a_series() -> None:
    visits = [_visit(date(2022, 1, 1), 1, 0.0), _visit(date(2023, 1, 1), 2, 0.0, mad_unit="mm")]
    mad = build_series(visits, metrics=["MAD"])
    assert [(s.unit, len(s.points)) for s in mad] == [("mm", 1), ("px", 1)]
    assert all(p.change is None for s in mad for p in s.points)


def test_filters_and_csv_rows() -> None:
    visits = [_visit(date(2022, 1, 1), 1, -1.0), _visit(date(2023, 1, 1), 2, -3.5)]
    assert build_series(visits, legs=["left"]) == []
    rows = csv_rows(build_series(visits))
    assert set(rows[0]) == set(CSV_COLUMNS)
    hka_rows = [r for r in rows if r["metric"] == "hka_deviation_deg"]
    assert [r["date"] for r in hka_rows] == ["2022-01-01", "2023-01-01"]
    assert hka_rows[1]["change_since_previous"] == -2.5 and hka_rows[1]["status"] == "low"
    assert "Moreland" in hka_rows[1]["reference_citation"]
