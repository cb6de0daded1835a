"""Issue 16, items 4, 5, 6 and 10, plus the lengths of issue 14: every page reads the same.

* item 5: the signed HKA deviation with its word ("HKA 171.0° (9.0° valgus)") in the report (HTML
  and PDF), the metrics CSV, the timeline (page and CSV) and the queue API's rows;
* item 4: the patient's side in leg titles and flags;
* item 6: the editor's live angles (``POST /api/align/``) and the report give the same values and
  spread for the same revision, and the editor's page carries the report's normal ranges;
* item 10: the PDF's table and labels do not overlap and stay on the page;
* lengths: ``leg_length`` and ``lld`` of newer alignments are shown, older ones still render.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from datetime import date

import numpy as np
import pytest

from annotations.models import ReviewItem
from review.services import review_item_create_for_prediction
from annotations.services import case_create, patient_create
from clinical.selectors.measurements import image_measurement
from clinical.selectors.reports import case_report
from tests.clinical.factories import active_ensemble, approve, phantom_image, varus_phantom
from inference.core.labelme_alignment import align_labelme_document
from inference.models import JobStatus, Prediction

pytestmark = pytest.mark.django_db


def _metric(value: float, sd: float = 0.0) -> dict:
    return {"value": value, "sd": sd, "p2_5": value - 2 * sd, "p97_5": value + 2 * sd}


def _leg(image_side: str, anatomical_side: str | None, hka: float, *, joints: dict, lengths: bool = True,
         flags: list[str] | None = None, mpta: float = 87.0, nsa: float = 130.0, leg_length: float = 4012.4) -> dict:
    metrics = {
        "hka_deviation_deg": _metric(hka, 0.4), "HKA": _metric(180 - abs(hka)), "mLDFA": _metric(87.0),
        "MPTA": _metric(mpta, 0.3), "mLDTA": _metric(89.0), "NSA": _metric(nsa, 0.9), "JLCA": _metric(1.0),
        "MAD": {"value": 12.0, "unit": "px"},
    }
    if lengths:
        metrics.update(leg_length={"value": leg_length, "unit": "px"}, femur_length={"value": 2200.0, "unit": "px"},
                       tibia_length={"value": 1800.0, "unit": "px"})
    return {"image_side": image_side, "anatomical_side": anatomical_side, "joints": joints, "metrics": metrics,
            "landmarks": {"femoral_head_apex": [joints["hip"][0], joints["hip"][1] - 20]}, "flags": flags or []}


def _two_leg_prediction(*, lengths: bool = True, extreme: bool = False) -> tuple:
    """A two-leg phantom image whose prediction is a hand-written alignment: the patient's right leg
    (image left) in 9.0° valgus, the left one in 3.1° varus."""
    phantom = varus_phantom(88.0)
    case = case_create(patient=patient_create(code="P-READ", birth_year=1970), acquisition_date=date(2025, 5, 1))
    image = phantom_image(case, phantom)
    w = image.width
    left_joints = {"hip": [0.3 * w, 100.0], "knee": [0.32 * w, 500.0], "ankle": [0.31 * w, 900.0]}
    right_joints = {"hip": [0.7 * w, 100.0], "knee": [0.68 * w, 500.0], "ankle": [0.69 * w, 900.0]}
    hka_right = 118.7 if extreme else 9.0
    alignment = {
        "image": "leg.png", "width": image.width, "height": image.height, "pixel_spacing_mm": None,
        "legs": [
            _leg("left", "right", hka_right, joints=left_joints, lengths=lengths,
                 flags=["MPTA: tibial plateau boundary too short"], mpta=106.5 if extreme else 87.0),
            _leg("right", "left", -3.14, joints=right_joints, lengths=lengths, nsa=122.1, leg_length=4004.36),
        ],
        "lld": {"value": 8.04, "unit": "px"} if lengths else None,
    }
    if extreme:
        for leg in alignment["legs"]:
            leg["metrics"]["hka_deviation_deg"].update(sd=72.6, p2_5=-34.9, p97_5=150.0)
    prediction = Prediction.objects.create(image=image, ensemble_version=active_ensemble(),
                                           status=JobStatus.SUCCEEDED, document=copy.deepcopy(phantom.labelme),
                                           alignment=alignment)
    return case, image, prediction


def test_report_reads_hka_with_varus_valgus_and_patient_sides(client, annotator) -> None:
    case, _, _ = _two_leg_prediction()
    client.force_login(annotator)
    html = client.get(f"/cases/{case.pk}/report/").content.decode()
    assert "171.0° (9.0° valgus)" in html  # item 5: not a bare "9.0°" nor "HKA deviation 9.0° high"
    assert "176.9° (3.1° varus)" in html
    assert "HKA deviation" not in html
    assert ">valgus<" in html  # the judgement says the direction
    assert "Right leg (image left)" in html and "Left leg (image right)" in html  # item 4
    assert "3° varus to 3° valgus" in html  # the range in the same words


def test_report_shows_lengths_and_leg_length_difference_when_present(client, annotator) -> None:
    case, _, _ = _two_leg_prediction()
    client.force_login(annotator)
    html = client.get(f"/cases/{case.pk}/report/").content.decode()
    assert re.search(r'data-metric="leg_length">Leg length</td>\s*<td class="value ">4012 px', html)
    assert "Leg-length difference: <strong>8 px, right longer</strong>" in html
    assert "Femur length" in html


def test_report_of_an_older_alignment_without_lengths_still_renders(client, annotator) -> None:
    case, _, _ = _two_leg_prediction(lengths=False)
    client.force_login(annotator)
    response = client.get(f"/cases/{case.pk}/report/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-metric="leg_length"' not in html and "171.0° (9.0° valgus)" in html
    assert "Limb length" in html  # the joint-centre lengths, as before


def test_outside_intended_use_is_said_plainly_instead_of_angles(client, annotator) -> None:
    phantom = varus_phantom(88.0)
    case = case_create(patient=patient_create(code="P-ANKLE"))
    image = phantom_image(case, phantom)
    Prediction.objects.create(image=image, ensemble_version=active_ensemble(), status=JobStatus.SUCCEEDED,
                              document={"shapes": []}, alignment={
                                  "width": image.width, "height": image.height, "pixel_spacing_mm": None,
                                  "legs": [], "flags": ["outside_intended_use: no full-length leg found"]})
    client.force_login(annotator)
    html = client.get(f"/cases/{case.pk}/report/").content.decode()
    assert "outside intended use, no angles (outside_intended_use: no full-length leg found)" in html
    assert "mLDFA" not in html.split("References")[0].split("<article")[1]


def test_outside_intended_use_from_the_pipeline_flags_of_the_review_item(client, annotator) -> None:
    """The pipeline reports "outside intended use" as its own flag (kept on the review item), not in the alignment."""
    phantom = varus_phantom(88.0)
    case = case_create(patient=patient_create(code="P-ANKLE-2"))
    image = phantom_image(case, phantom)
    prediction = Prediction.objects.create(
        image=image, ensemble_version=active_ensemble(), status=JobStatus.SUCCEEDED, document={"shapes": []},
        alignment={"width": image.width, "height": image.height, "pixel_spacing_mm": None, "legs": []})
    review_item_create_for_prediction(prediction=prediction, pipeline_flags=[
        "outside_intended_use: no full-length leg found (an AP hip-to-ankle radiograph is needed)"])
    client.force_login(annotator)
    html = client.get(f"/cases/{case.pk}/report/").content.decode()
    assert "outside intended use, no angles (outside_intended_use: no full-length leg found" in html


def test_metrics_csv_names_varus_and_valgus(reviewer_client) -> None:
    _two_leg_prediction()
    rows = list(csv.DictReader(io.StringIO(reviewer_client.get("/api/reports/metrics.csv").content.decode())))
    by_leg = {row["leg"]: row for row in rows}
    assert by_leg["right"]["hka_deviation_deg"] == "9.0" and by_leg["right"]["hka_direction"] == "valgus"
    assert by_leg["right"]["hka_text"] == "HKA 171.0° (9.0° valgus)"
    assert by_leg["left"]["hka_text"] == "HKA 176.9° (3.1° varus)"
    assert float(by_leg["right"]["leg_length_px"]) == pytest.approx(4012.4)
    assert by_leg["right"]["leg_length_mm"] == ""  # uncalibrated: no mm
    assert float(by_leg["right"]["leg_length_difference_px"]) == pytest.approx(8.04)


def test_timeline_reads_hka_the_same_way(client, annotator, annotator_client) -> None:
    case, _, _ = _two_leg_prediction()
    client.force_login(annotator)
    html = client.get(f"/patients/{case.patient.pk}/timeline/").content.decode()
    assert "171.0° (9.0° valgus)" in html and "176.9° (3.1° varus)" in html
    assert "Right leg" in html and ">valgus<" in html
    assert "4012 px" in html  # the leg length series
    rows = list(csv.DictReader(io.StringIO(annotator_client.get(
        f"/api/patients/{case.patient.pk}/timeline.csv?metric=hka_deviation_deg").content.decode())))
    assert {row["display"] for row in rows} == {"171.0° (9.0° valgus)", "176.9° (3.1° varus)"}
    body = annotator_client.get(f"/api/patients/{case.patient.pk}/timeline/?metric=hka_deviation_deg").json()
    assert {p["display"] for s in body["series"] for p in s["points"]} == {"171.0° (9.0° valgus)", "176.9° (3.1° varus)"}


def test_queue_rows_carry_leg_length_and_lld(reviewer_client) -> None:
    _, _, prediction = _two_leg_prediction()
    review_item_create_for_prediction(prediction=prediction)
    row = reviewer_client.get("/api/review/items/").json()["results"][0]
    assert row["legs"][0]["leg_length"] == {"value": 4012.4, "unit": "px"}
    assert row["lld"] == {"value": 8.04, "unit": "px"}


def test_editor_and_report_compute_the_same_values_and_spread(annotator_client, annotator) -> None:
    """Item 6: the same revision gives the same angles and spread live and in the report."""
    phantom = varus_phantom(85.0)
    case = case_create(patient=patient_create(code="P-SAME", birth_year=1960), acquisition_date=date(2025, 1, 1))
    image = phantom_image(case, phantom)
    approve(image, phantom.labelme, author=annotator)
    image.refresh_from_db()
    report = image_measurement(image).alignment
    live = annotator_client.post("/api/align/", {"document": image.head_revision.document, "image": image.pk},
                                 content_type="application/json").json()
    for name in ("hka_deviation_deg", "NSA", "aLDFA", "mLDFA", "MPTA", "femoral_cora_deg"):
        ours, theirs = live["legs"][0]["metrics"][name], report["legs"][0]["metrics"][name]
        if theirs is None:
            assert ours is None
            continue
        assert ours["value"] == pytest.approx(theirs["value"], abs=1e-9), name
        assert (ours.get("sd") or 0) == pytest.approx(theirs.get("sd") or 0, abs=1e-9), name


def test_editor_page_carries_the_reports_normal_ranges(client, annotator) -> None:
    phantom = varus_phantom(85.0)
    case = case_create(patient=patient_create(code="P-RANGES", birth_year=2021), acquisition_date=date(2022, 6, 1))
    image = phantom_image(case, phantom)
    approve(image, phantom.labelme, author=annotator)
    client.force_login(annotator)
    html = client.get(f"/images/{image.pk}/").content.decode()
    context = json.loads(re.search(r'<script id="page-context" type="application/json">(.*?)</script>', html, re.S)
                         .group(1))
    table = context["normal_ranges"]
    assert table["age_years"] == 1.0
    # A one-year-old: the report judges MPTA with no adult range, so the editor must not either.
    assert "MPTA" not in table["ranges"] and "No cited range at age 1 y" in table["unjudged"]["MPTA"]
    adult = json.loads(re.search(r'<script id="page-context" type="application/json">(.*?)</script>',
                                 client.get("/review/").content.decode(), re.S).group(1))["normal_ranges"]
    assert adult["ranges"]["NSA"]["low"] == 125.0 and adult["ranges"]["NSA"]["high"] == 135.0
    report_rows = {row.metric: row for leg in case_report(case=case).images[0].legs for row in leg.rows}
    assert report_rows["MPTA"].classification.status == "no_reference"


def test_pdf_table_and_labels_do_not_overlap_or_leave_the_page() -> None:
    """Item 10: "118.7° ±72.6-34.9° ±76.1▼" overlapped; labels were cut at the image edge."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from clinical.report_pdf import report_figure

    case, image, _ = _two_leg_prediction(extreme=True)
    report = case_report(case=case)
    pixels = np.zeros((image.height, image.width), dtype=np.uint8)
    fig = report_figure(report, report.images[0], pixels)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    page = fig.bbox
    boxes = []
    for ax in fig.axes:
        for text in ax.texts:
            if not text.get_text().strip():
                continue
            box = text.get_window_extent(renderer)
            assert box.x0 >= page.x0 - 1 and box.x1 <= page.x1 + 1, text.get_text()
            assert box.y0 >= page.y0 - 1 and box.y1 <= page.y1 + 1, text.get_text()
            if ax is not fig.axes[0]:
                frame = ax.get_window_extent(renderer)
                assert box.x1 <= frame.x1 + 1, text.get_text()
            else:  # overlay labels stay on the radiograph
                frame = ax.get_window_extent(renderer)
                assert box.x0 >= frame.x0 - 1 and box.x1 <= frame.x1 + 1, text.get_text()
            boxes.append((text.get_text(), box))
    overlaps = [(a, b) for i, (a, p) in enumerate(boxes) for b, q in boxes[i + 1:]
                if p.x0 < q.x1 - 0.5 and q.x0 < p.x1 - 0.5 and p.y0 < q.y1 - 0.5 and q.y0 < p.y1 - 0.5]
    assert not overlaps, overlaps[:5]
    texts = [t for t, _ in boxes]
    assert "61.3° (118.7° valgus) ▲" in texts and "±72.6" in texts
    assert "Right leg (image left)" in texts


def test_review_flags_are_stored_with_image_sides_and_read_with_patient_sides() -> None:
    """Item 4: the stored flag keeps its image-side prefix; every page rewrites it (presentation)."""
    from clinical.core.presentation import patient_side_flag

    _, _, prediction = _two_leg_prediction()
    item = review_item_create_for_prediction(prediction=prediction)
    flags = ReviewItem.objects.get(pk=item.pk).priority_components["flags"]
    assert "left: MPTA: tibial plateau boundary too short" in flags
    legs = prediction.alignment["legs"]
    assert patient_side_flag("left: MPTA: tibial plateau boundary too short", legs) == \
        "right leg (image left): MPTA: tibial plateau boundary too short"


def test_queue_judges_key_metrics_like_the_report_at_the_patients_age(reviewer_client) -> None:
    """Item 6: a toddler's MPTA is not coloured with adult limits in the queue when the report does not judge it."""
    _, _, adult_prediction = _two_leg_prediction(extreme=True)  # born 1970: adult ranges; MPTA 106.5° is high
    review_item_create_for_prediction(prediction=adult_prediction)
    phantom = varus_phantom(80.0)
    child_case = case_create(patient=patient_create(code="P-TODDLER", birth_year=2024),
                             acquisition_date=date(2025, 6, 1))
    child = phantom_image(child_case, phantom)
    alignment = align_labelme_document(phantom.labelme, image_size=(child.width, child.height)).to_json()
    child_prediction = Prediction.objects.create(image=child, ensemble_version=active_ensemble(),
                                                 status=JobStatus.SUCCEEDED, document=copy.deepcopy(phantom.labelme),
                                                 alignment=alignment)
    review_item_create_for_prediction(prediction=child_prediction)
    rows = {row["patient_code"]: row for row in reviewer_client.get("/api/review/items/?status=all").json()["results"]}
    assert rows["P-READ"]["legs"][0]["MPTA"]["status"] == "high"
    assert rows["P-TODDLER"]["legs"][0]["MPTA"]["value"] == pytest.approx(80.0, abs=0.5)
    assert rows["P-TODDLER"]["legs"][0]["MPTA"]["status"] == "no_reference"  # as the report: no cited range at 1 y


def test_align_api_aligns_the_saved_revision_the_editor_has_not_changed(annotator_client, annotator) -> None:
    """The browser rounds coordinates to 0.01 px; with ``revision`` the stored document is aligned instead."""
    phantom = varus_phantom(85.0)
    case = case_create(patient=patient_create(code="P-ROUND"))
    image = phantom_image(case, phantom)
    approve(image, phantom.labelme, author=annotator)
    image.refresh_from_db()
    rounded = copy.deepcopy(image.head_revision.document)
    for shape in rounded["shapes"]:
        shape["points"] = [[round(x, 2), round(y, 2)] for x, y in shape["points"]]
    report = image_measurement(image).alignment["legs"][0]["metrics"]
    body = {"document": rounded, "image": image.pk, "revision": image.head_revision_id}
    live = annotator_client.post("/api/align/", body, content_type="application/json").json()["legs"][0]["metrics"]
    for name in ("NSA", "aLDFA", "mLDFA", "MPTA", "hka_deviation_deg"):
        assert live[name]["value"] == report[name]["value"], name
    other = phantom_image(case_create(patient=patient_create(code="P-OTHER")), varus_phantom(86.0), name="o.png")
    wrong = annotator_client.post("/api/align/", {**body, "image": other.pk}, content_type="application/json")
    assert wrong.status_code == 400 and wrong.json()["extra"]["code"] == "revision_of_another_image"
