"""The wording of clinical values, checked against the cases the browser's tests use too (issue 16, items 4-6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinical.core.presentation import (
    fixed,
    format_hka,
    hka_direction,
    judgement_text,
    leg_side_title,
    length_text,
    lld_text,
    outside_intended_use,
    patient_side_flag,
)

CASES = json.loads((Path(__file__).resolve().parents[3] / "frontend" / "src" / "core" / "clinicalText.cases.json")
                   .read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES["hka"], ids=lambda c: str(c["deviation"]))
def test_hka_reads_with_its_direction(case: dict) -> None:
    assert format_hka(case["deviation"]) == case["text"]
    assert hka_direction(case["deviation"]) == case["direction"]


def test_the_issue_example() -> None:
    assert format_hka(9.0) == "HKA 171.0° (9.0° valgus)"
    assert format_hka(-9.0) == "HKA 171.0° (9.0° varus)"


@pytest.mark.parametrize("case", CASES["judgement"], ids=lambda c: f"{c['metric']}-{c['status']}")
def test_judgement_words(case: dict) -> None:
    assert judgement_text(case["metric"], case["status"], case["crosses"]) == case["text"]


@pytest.mark.parametrize("case", CASES["side"], ids=lambda c: str(c["text"]))
def test_side_titles(case: dict) -> None:
    assert leg_side_title(case["anatomical"], case["image"]) == case["text"]


@pytest.mark.parametrize("case", CASES["flag"], ids=lambda c: c["flag"][:20])
def test_flags_name_the_patient_side(case: dict) -> None:
    assert patient_side_flag(case["flag"], case["legs"]) == case["text"]


@pytest.mark.parametrize("case", CASES["length"], ids=lambda c: c["unit"])
def test_lengths(case: dict) -> None:
    assert length_text(case["value"], case["unit"]) == case["text"]


def test_halves_round_away_from_zero_as_in_javascript() -> None:
    assert fixed(1.25) == "1.3"
    assert fixed(-1.25) == "-1.3"
    assert fixed(-0.04) == "0.0"
    assert fixed(4012.5, 0) == "4013"


def test_outside_intended_use() -> None:
    assert outside_intended_use(["x", "outside_intended_use: ankle only"]) == "outside_intended_use: ankle only"
    assert outside_intended_use([]) is None


@pytest.mark.parametrize("case", CASES["lld"], ids=lambda c: str(c["value"]))
def test_leg_length_difference(case: dict) -> None:
    assert lld_text(case["value"], case["unit"]) == case["text"]


def test_an_hka_interval_reads_in_the_form_of_its_value() -> None:
    """Issue 27, item 8: "HKA 176.9°" was printed beside a 95% interval of "−3.8 to −2.1"."""
    from clinical.core.presentation import hka_interval_text

    assert hka_interval_text(-3.8, -2.1) == "176.2° to 177.9° (2.1-3.8° varus)"
    assert hka_interval_text(2.1, 3.8) == "176.2° to 177.9° (2.1-3.8° valgus)"
    assert hka_interval_text(-0.5, 0.8) == "0.5° varus to 0.8° valgus"
    assert hka_interval_text(0.0, 0.8) == "straight to 0.8° valgus"
