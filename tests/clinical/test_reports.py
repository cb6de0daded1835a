"""Per-case report (HTML and one-page PDF) and the dataset metrics CSV."""

from __future__ import annotations

import csv
import io
import re

import pytest

from annotations.models import Cohort
from annotations.services import case_create, patient_create
from clinical.services import image_calibration_set
from tests.clinical.factories import FOLLOW_UP_MPTA, approve, follow_up_patient, phantom_image, predict, varus_phantom

pytestmark = pytest.mark.django_db

MM_VALUE = re.compile(r"\d(?:\.\d+)?\s?mm\b")
PDF_PAGE = re.compile(rb"/Type\s*/Page\b(?!s)")


def _without_styles(html: str) -> str:
    """The page without its <style> blocks (CSS sizes such as a 12mm print margin are not values)."""
    return re.sub(r"<style>.*?</style>", "", html, flags=re.S)


def test_report_page_of_an_uncalibrated_case_has_no_mm(client, annotator) -> None:
    follow_up = follow_up_patient(author=annotator)
    client.force_login(annotator)
    response = client.get(f"/cases/{follow_up.cases[-1].pk}/report/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Lower-limb alignment report" in html and "P-FU-1" in html
    assert 'class="overlay"' in html and "#ff5fa2" in html  # joint lines drawn
    # MPTA about 82° is below 85-90° (adult band, which applies from 8 years)
    assert re.search(r'<td data-metric="MPTA">MPTA</td>\s*<td class="value out">8[12]\.\d°', html)
    assert "not calibrated" in html and not MM_VALUE.search(_without_styles(html))
    assert f"Reviewer: {annotator.username}" in html and "none (manual annotation)" in html
    assert "Paley D. Principles of Deformity Correction" in html


def test_report_page_of_a_calibrated_case_shows_mm(client, annotator) -> None:
    follow_up = follow_up_patient()
    image = follow_up.images[0]
    image_calibration_set(image=image, method="calibration_object", points=[[0, 0], [0, 400]],
                          length_mm=400 * varus_phantom(FOLLOW_UP_MPTA[0]).pixel_spacing_mm, user=annotator)
    client.force_login(annotator)
    html = client.get(f"/cases/{follow_up.cases[0].pk}/report/").content.decode()
    assert MM_VALUE.search(_without_styles(html)) and "calibration_object" in html and "not calibrated" not in html


def test_report_pdf_is_one_a4_page(client, annotator) -> None:
    follow_up = follow_up_patient()
    predict(follow_up.images[1], varus_phantom(FOLLOW_UP_MPTA[1]).labelme)
    client.force_login(annotator)
    response = client.get(f"/cases/{follow_up.cases[1].pk}/report.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pdf = response.content
    assert pdf.startswith(b"%PDF")
    assert len(PDF_PAGE.findall(pdf)) == 1
    assert re.search(rb"/MediaBox\s*\[\s*0 0 595\.\d+ 841\.\d+\s*\]", pdf)  # A4 in points
    assert client.get(f"/cases/{follow_up.cases[1].pk}/report.pdf?image=999999").status_code == 404


def test_report_of_a_predicted_case_names_the_model(client, annotator) -> None:
    patient = patient_create(code="P-PRED")
    case = case_create(patient=patient)
    image = phantom_image(case, varus_phantom(84.0))
    predict(image, varus_phantom(84.0).labelme, spread_deg=0.3)
    client.force_login(annotator)
    html = client.get(f"/cases/{case.pk}/report/").content.decode()
    assert "not reviewed (model prediction)" in html and "clinical-test (ensemble #" in html
    assert "± 0.3 (95%" in html


def test_metrics_csv_for_a_cohort_and_for_listed_cases(reviewer_client, annotator) -> None:
    follow_up = follow_up_patient()
    image_calibration_set(image=follow_up.images[2], method="ruler", points=[[0, 0], [0, 500]],
                          length_mm=500 * varus_phantom(FOLLOW_UP_MPTA[2]).pixel_spacing_mm, user=annotator)
    other = case_create(patient=patient_create(code="SD-1", cohort=Cohort.SD))
    approve(phantom_image(other, varus_phantom(86.0)), varus_phantom(86.0).labelme)

    rows = list(csv.DictReader(io.StringIO(reviewer_client.get("/api/reports/metrics.csv").content.decode())))
    assert [r["patient"] for r in rows] == ["P-FU-1"] * 3 + ["SD-1"]
    first, last = rows[0], rows[2]
    assert first["MAD_mm"] == "" and first["femur_length_mm"] == "" and float(first["femur_length_px"]) > 0
    assert first["calibration_status"] == "uncalibrated"
    # The tibia runs between the same joint centres with or without the alignment's own lengths (issue 14).
    assert float(last["tibia_length_mm"]) == pytest.approx(varus_phantom(82.0).params.legs[0].tibia_length_mm,
                                                           rel=0.01)
    assert float(last["femur_length_mm"]) > 0 and float(last["limb_length_mm"]) > float(last["femur_length_mm"])
    assert float(first["MPTA"]) == pytest.approx(88.0, abs=0.2) and first["source"] == "approved"

    sd_only = list(csv.DictReader(io.StringIO(reviewer_client.get("/api/reports/metrics.csv?cohort=sd")
                                              .content.decode())))
    assert [r["patient"] for r in sd_only] == ["SD-1"]
    ids = f"{follow_up.cases[0].pk},{follow_up.cases[2].pk}"
    listed = list(csv.DictReader(io.StringIO(reviewer_client.get(f"/api/reports/metrics.csv?case_ids={ids}")
                                             .content.decode())))
    assert [int(r["case_id"]) for r in listed] == [follow_up.cases[0].pk, follow_up.cases[2].pk]
    assert reviewer_client.get("/api/reports/metrics.csv?case_ids=1;2").status_code == 400


def test_the_only_leg_of_a_film_says_where_its_side_comes_from(client, annotator) -> None:
    """Issue 27, item 8: a single-leg film read "RIGHT LEG (IMAGE RIGHT)" without saying why."""
    patient = patient_create(code="P-ONE-LEG")
    case = case_create(patient=patient)
    image = phantom_image(case, varus_phantom(85.0))
    prediction = predict(image, varus_phantom(85.0).labelme)
    prediction.member_outputs = {"localisation": {"flags": ["side_from_dicom_laterality"]}}
    prediction.save(update_fields=["member_outputs"])
    client.force_login(annotator)
    html = client.get(f"/cases/{case.pk}/report/").content.decode()
    assert re.search(r"(Right|Left) leg \(side from the DICOM laterality tag\)", html), html[:3000]
    assert "(image right)" not in html and "(image left)" not in html
