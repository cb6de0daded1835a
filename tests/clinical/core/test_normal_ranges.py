"""Normal ranges: adult values, age bands, unit gating, boundary handling."""

from __future__ import annotations

import pytest

from clinical.core.normal_ranges import CITATIONS, REFERENCES, classify, reference_for


def test_every_reference_is_cited_and_consistent() -> None:
    for reference in REFERENCES:
        assert reference.citation_keys and all(key in CITATIONS for key in reference.citation_keys)
        assert reference.unit in ("deg", "mm")
        if reference.has_range:
            assert reference.low < reference.high
            assert reference.mean is None or reference.low <= reference.mean <= reference.high


@pytest.mark.parametrize(("metric", "low", "high"), [
    ("mLDFA", 85, 90), ("MPTA", 85, 90), ("mLDTA", 86, 92), ("mLPFA", 85, 95), ("aLDFA", 79, 83),
    ("JLCA", 0, 2), ("hka_deviation_deg", -3, 3), ("NSA", 125, 135), ("MAD", 1, 15),
])
def test_adult_ranges(metric: str, low: float, high: float) -> None:
    for age in (None, 18, 45):
        reference = reference_for(metric, age_years=age)
        assert (reference.low, reference.high, reference.population) == (low, high, "adult")


def test_bounds_are_inclusive_and_direction_is_named() -> None:
    unit = "deg"
    assert classify("MPTA", 85.0, unit=unit, age_years=None).status == "normal"
    low = classify("MPTA", 84.9, unit=unit, age_years=None)
    assert low.status == "low" and low.out_of_range
    varus = classify("hka_deviation_deg", -4.0, unit=unit, age_years=30)
    assert varus.status == "low" and "varus" in varus.message
    valgus = classify("hka_deviation_deg", 4.0, unit=unit, age_years=30)
    assert valgus.status == "high" and "valgus" in valgus.message


def test_interval_crossing_a_bound_is_reported() -> None:
    inside = classify("mLDFA", 89.5, unit="deg", age_years=None, p2_5=88.9, p97_5=90.4)
    assert inside.status == "normal" and inside.crosses_boundary
    clear = classify("mLDFA", 87.0, unit="deg", age_years=None, p2_5=86.5, p97_5=87.5)
    assert not clear.crosses_boundary


def test_children_get_their_age_band_or_no_judgement() -> None:
    # Sabharwal & Zhao 2009: mean 3.6° varus at 1-2 y (no range) -> reported, not judged.
    toddler = classify("hka_deviation_deg", -8.0, unit="deg", age_years=1)
    assert toddler.status == "no_reference" and toddler.reference.mean == -3.6
    assert "sabharwal2009" in toddler.reference.citation_keys
    # From 7 years the adult band applies.
    assert classify("hka_deviation_deg", -4.0, unit="deg", age_years=9).status == "low"
    # A 4-year-old's MPTA has no cited band: no judgement, and the message says why.
    four = classify("MPTA", 80.0, unit="deg", age_years=4)
    assert four.status == "no_reference" and four.reference is None and "does not apply" in four.message
    # NSA in children: O'Sullivan 2021 envelope.
    assert classify("NSA", 140.0, unit="deg", age_years=6).status == "normal"
    assert classify("NSA", 140.0, unit="deg", age_years=30).status == "high"


def test_lengths_in_pixels_are_never_judged_against_millimetres() -> None:
    result = classify("MAD", 40.0, unit="px", age_years=None)
    assert result.status == "no_reference" and result.reference is None
    assert "mm" not in result.message
    assert classify("MAD", 20.0, unit="mm", age_years=None).status == "high"


def test_unknown_metric_has_no_reference() -> None:
    assert classify("femur_length", 400.0, unit="mm", age_years=None).status == "no_reference"


def test_the_browser_fixture_is_the_server_table() -> None:
    """frontend/src/core/normalRanges.fixture.json (Vitest) must be this table (issue 16, item 6)."""
    import json
    from pathlib import Path

    from clinical.core.normal_ranges import normal_range_table

    path = Path(__file__).resolve().parents[3] / "frontend" / "src" / "core" / "normalRanges.fixture.json"
    fixture = json.loads(path.read_text(encoding="utf-8"))
    assert fixture["adult"] == json.loads(json.dumps(normal_range_table(age_years=None)))
    assert fixture["age_1"] == json.loads(json.dumps(normal_range_table(age_years=1.0)))


def test_hka_range_is_said_with_varus_and_valgus() -> None:
    from clinical.core.normal_ranges import reference_for

    assert reference_for("hka_deviation_deg", age_years=None).range_text() == "3° varus to 3° valgus"
    assert reference_for("hka_deviation_deg", age_years=2.5).range_text() == "mean 2.5° valgus"
