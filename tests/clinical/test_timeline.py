"""Patient timeline: the known trend of a phantom follow-up, mm only when calibrated, CSV and page."""

from __future__ import annotations

import csv
import io
import re

import pytest

from clinical.services import image_calibration_set
from tests.clinical.factories import (
    FOLLOW_UP_DATES,
    FOLLOW_UP_HKA,
    FOLLOW_UP_MPTA,
    follow_up_patient,
    predict,
    varus_phantom,
)

pytestmark = pytest.mark.django_db

MM_VALUE = re.compile(r"\d(?:\.\d+)?\s?mm\b")


def _series(body: dict, metric: str, leg: str, unit: str | None = None) -> dict:
    [series] = [s for s in body["series"] if s["metric"] == metric and s["leg"] == leg
                and (unit is None or s["unit"] == unit)]
    return series


def test_timeline_shows_the_constructed_varus_trend(annotator_client) -> None:
    follow_up = follow_up_patient()
    response = annotator_client.get(f"/api/patients/{follow_up.patient.pk}/timeline/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [v["date"] for v in body["visits"]] == [d.isoformat() for d in FOLLOW_UP_DATES]
    assert {v["source"] for v in body["visits"]} == {"approved"}
    assert [v["age_years"] for v in body["visits"]] == [10.0, 11.0, 12.0]

    hka = _series(body, "hka_deviation_deg", follow_up.leg)
    assert [p["value"] for p in hka["points"]] == pytest.approx(list(FOLLOW_UP_HKA), abs=0.05)
    assert hka["points"][0]["change_since_previous"] is None
    assert [p["change_since_previous"] for p in hka["points"][1:]] == pytest.approx([-3.0, -3.0], abs=0.05)
    assert [p["days_since_previous"] for p in hka["points"]] == [None, 365, 366]
    # Children >= 7 y: the adult band -3..3 applies (Sabharwal & Zhao 2009); varus grows out of it.
    assert [p["status"] for p in hka["points"]] == ["normal", "low", "low"]
    assert "sabharwal2009" in hka["points"][0]["reference"]["citation_keys"]

    mpta = _series(body, "MPTA", follow_up.leg)
    assert [p["value"] for p in mpta["points"]] == pytest.approx(list(FOLLOW_UP_MPTA), abs=0.2)
    assert all(b["value"] < a["value"] for a, b in zip(mpta["points"], mpta["points"][1:]))
    mldfa = _series(body, "mLDFA", follow_up.leg)
    assert [p["value"] for p in mldfa["points"]] == pytest.approx([88.0] * 3, abs=0.2)
    assert all(abs(p["change_since_previous"]) < 0.05 for p in mldfa["points"][1:])


def test_filters_and_predicted_visits_with_error_bars(annotator_client) -> None:
    follow_up = follow_up_patient()
    from annotations.services import case_create

    case = case_create(patient=follow_up.patient, acquisition_date=FOLLOW_UP_DATES[-1].replace(year=2025))
    from tests.clinical.factories import phantom_image

    image = phantom_image(case, varus_phantom(79.0))
    predict(image, varus_phantom(79.0).labelme, spread_deg=0.4)
    body = annotator_client.get(f"/api/patients/{follow_up.patient.pk}/timeline/?metric=hka_deviation_deg"
                                f"&leg={follow_up.leg}").json()
    [series] = body["series"]
    last = series["points"][-1]
    assert last["source"] == "predicted" and last["value"] == pytest.approx(-9.5, abs=0.05)
    assert (last["sd"], last["p2_5"], last["p97_5"]) == pytest.approx((0.4, -10.3, -8.7), abs=0.01)
    assert body["visits"][-1]["ensemble"]["name"] == "clinical-test"
    bad = annotator_client.get(f"/api/patients/{follow_up.patient.pk}/timeline/?metric=nonsense")
    assert bad.status_code == 400 and bad.json()["extra"]["code"] == "invalid_metric"


def test_lengths_are_mm_only_once_calibrated(annotator_client, annotator) -> None:
    follow_up = follow_up_patient()
    url = f"/api/patients/{follow_up.patient.pk}/timeline/"
    body = annotator_client.get(url).json()
    units = {s["unit"] for s in body["series"] if s["metric"] in ("MAD", "femur_length", "limb_length")}
    assert units == {"px"}
    assert all(v["calibration"]["status"] == "uncalibrated" for v in body["visits"])
    assert body["notices"] and "not calibrated" in body["notices"][0]
    assert not MM_VALUE.search(annotator_client.get(url.replace("timeline/", "timeline.csv")).content.decode())

    # Calibrate the last visit with a ruler of the phantom's true scale.
    last = follow_up.images[-1]
    spacing = varus_phantom(FOLLOW_UP_MPTA[-1]).pixel_spacing_mm
    image_calibration_set(image=last, method="ruler", points=[[20, 100], [20, 600]], length_mm=500 * spacing,
                          user=annotator)
    body = annotator_client.get(url).json()
    mad_px = _series(body, "MAD", follow_up.leg, "px")
    mad_mm = _series(body, "MAD", follow_up.leg, "mm")
    assert [p["image_id"] for p in mad_px["points"]] == [i.pk for i in follow_up.images[:2]]
    assert [p["image_id"] for p in mad_mm["points"]] == [last.pk]
    tibia_mm = _series(body, "tibia_length", follow_up.leg, "mm")["points"][0]["value"]
    phantom = varus_phantom(FOLLOW_UP_MPTA[-1])
    assert tibia_mm == pytest.approx(phantom.params.legs[0].tibia_length_mm, rel=0.01)
    assert body["visits"][-1]["calibration"] == {"status": "calibrated", "method": "ruler", "length_unit": "mm",
                                                 "pixel_spacing_mm": pytest.approx(spacing), "notice": None}

    rows = list(csv.DictReader(io.StringIO(annotator_client.get(url.replace("timeline/", "timeline.csv"))
                                           .content.decode())))
    by_image: dict[str, set[str]] = {}
    for row in rows:
        by_image.setdefault(row["image_id"], set()).add(row["unit"])
    assert by_image[str(follow_up.images[0].pk)] == {"deg", "px"}
    assert by_image[str(last.pk)] == {"deg", "mm"}


def test_timeline_csv_rows(annotator_client) -> None:
    follow_up = follow_up_patient()
    response = annotator_client.get(f"/api/patients/{follow_up.patient.pk}/timeline.csv?metric=MPTA")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["date"] for r in rows] == [d.isoformat() for d in FOLLOW_UP_DATES]
    assert [float(r["value"]) for r in rows] == pytest.approx(list(FOLLOW_UP_MPTA), abs=0.2)
    assert rows[0]["patient"] == "P-FU-1" and rows[0]["change_since_previous"] == ""
    assert float(rows[2]["change_since_previous"]) == pytest.approx(-3.0, abs=0.2)
    assert rows[2]["status"] == "low" and "Paley" in rows[2]["reference_citation"]


def test_timeline_page_renders_svg_charts(client, annotator) -> None:
    follow_up = follow_up_patient()
    client.force_login(annotator)
    response = client.get(f"/patients/{follow_up.patient.pk}/timeline/?metric=hka_deviation_deg")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="timeline-chart"') == 1
    assert html.count('class="point point-approved"') == 3
    assert 'class="normal-band"' in html and "not calibrated" in html
    assert not MM_VALUE.search(re.sub(r"<style>.*?</style>", "", html, flags=re.S))
    assert f"/api/patients/{follow_up.patient.pk}/timeline.csv?metric=hka_deviation_deg" in html
