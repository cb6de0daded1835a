"""Accepting a prediction as it is keeps every number (issue 27, item 1).

A bilateral phantom is predicted by the shipped starter (the real pipeline: leg localiser, landmark
refiner, members on each leg's crop), its review item is accepted through the API, and every place a
person reads a number from afterwards (the live-align API the editor calls, the review queue, the report
page that the PDF is drawn from, the metrics CSV) gives the prediction's own values: the same value, spread
and interval of every metric and length, and the same LLD.

Before the fix the accepted revision kept only the bones and three joints per leg; it was re-measured on the
whole image from the top of the segmented femur, so lengths, LLD and mask-based angles moved on accept.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pytest

from annotations.models import ReviewItem
from annotations.services import image_upload
from inference.core.measurement_record import APEX_LABEL, MEASUREMENT_KEY
from inference.core.phantom import generate_phantom
from inference.predictions import prediction_run
from inference.services import prediction_request
from inference.starter import starter_ensemble_register
from tests.clinical.factories import png_of

pytestmark = pytest.mark.django_db

ANGLES = ("hka_deviation_deg", "NSA", "mLPFA", "aLDFA", "mLDFA", "MPTA", "mLDTA", "JLCA",
          "femoral_cora_deg", "tibial_cora_deg")
LENGTHS = ("leg_length", "femur_length", "tibia_length", "MAD")


def _numbers(alignment: dict) -> dict[tuple[str, str, str], float | None]:
    """Every number of an alignment JSON, keyed by (patient side, metric, field)."""
    out: dict[tuple[str, str, str], float | None] = {}
    for leg in alignment["legs"]:
        for name, metric in leg["metrics"].items():
            for field in ("value", "sd", "p2_5", "p97_5"):
                out[(leg["anatomical_side"], name, field)] = None if metric is None else metric.get(field)
    out[("both", "lld", "value")] = (alignment.get("lld") or {}).get("value")
    return out


@pytest.fixture
def accepted(settings, tmp_path, case, annotator, reviewer_client):  # noqa: ANN001, ANN201
    settings.MODEL_STORE = str(tmp_path / "store")
    starter_ensemble_register()
    phantom = generate_phantom(seed=2031, legs=2)
    image = image_upload(case=case, data=png_of(phantom), filename="phantom.png", uploaded_by=annotator)
    prediction = prediction_run(prediction=prediction_request(image=image, enqueue=False))
    assert len(prediction.alignment["legs"]) == 2
    item = ReviewItem.objects.get(prediction=prediction)
    response = reviewer_client.post(f"/api/review/items/{item.pk}/accept/",
                                    {"base_revision": None, "override_reason": "test: accept as it is"},
                                    format="json")
    assert response.status_code == 200, response.content
    image.refresh_from_db()
    return image, prediction, image.head_revision


def test_the_accepted_revision_carries_what_the_measurement_used(accepted) -> None:  # noqa: ANN001
    image, prediction, revision = accepted
    assert revision.document == prediction.document
    labels = [shape["label"] for shape in revision.document["shapes"]]
    assert labels.count(APEX_LABEL) == 2  # the lengths start at the localiser's apex, not the mask's top
    record = revision.document[MEASUREMENT_KEY]
    assert [leg["anatomical_side"] for leg in record["legs"]] == ["right", "left"]
    assert all(leg["crop"] is not None for leg in record["legs"])


def test_every_number_of_the_live_align_api_equals_the_prediction(accepted, annotator_client) -> None:  # noqa: ANN001
    image, prediction, revision = accepted
    response = annotator_client.post("/api/align/", {"document": revision.document, "image": image.pk,
                                                     "revision": revision.pk}, format="json")
    assert response.status_code == 200, response.content
    assert _numbers(response.json()) == _numbers(prediction.alignment)
    # The editor sends the document it shows (no revision id): the same numbers.
    response = annotator_client.post("/api/align/", {"document": revision.document, "image": image.pk},
                                     format="json")
    assert _numbers(response.json()) == _numbers(prediction.alignment)


def test_the_queue_report_and_csv_show_the_predicted_numbers(accepted, reviewer_client, client, reviewer) -> None:  # noqa: ANN001
    image, prediction, revision = accepted
    row = reviewer_client.get("/api/review/items/?status=accepted").json()["results"][0]
    predicted = {leg["anatomical_side"]: leg["metrics"] for leg in prediction.alignment["legs"]}
    for leg in row["legs"]:
        shown = [name for name in leg if isinstance(leg[name], dict) and name != "leg_length"]
        assert "hka_deviation_deg" in shown
        for name in shown:
            assert leg[name]["value"] == predicted[leg["anatomical_side"]][name]["value"]
        assert leg["leg_length"]["value"] == predicted[leg["anatomical_side"]]["leg_length"]["value"]

    client.force_login(reviewer)
    html = client.get(f"/cases/{image.case_id}/report/").content.decode()
    assert "approved" in html or "Reviewer:" in html
    for side, metrics in predicted.items():
        for name in ("mLDFA", "MPTA", "mLDTA"):
            if metrics[name] is not None:  # the report prints one decimal
                assert re.search(rf'data-metric="{name}">{name}</td>\s*<td class="value[^"]*">'
                                 rf'{metrics[name]["value"]:.1f}°', html), (side, name)

    rows = list(csv.DictReader(io.StringIO(reviewer_client.get("/api/reports/metrics.csv").content.decode())))
    assert len(rows) == 2 and {r["source"] for r in rows} == {"approved"}
    for csv_row in rows:
        metrics = predicted[csv_row["leg"]]
        for name in ("hka_deviation_deg", "mLDFA", "MPTA", "mLDTA", "NSA"):
            if metrics[name] is not None and csv_row.get(name):
                assert float(csv_row[name]) == pytest.approx(metrics[name]["value"], abs=1e-6), name
        assert float(csv_row["leg_length_px"]) == pytest.approx(metrics["leg_length"]["value"], abs=1e-3)
    lld = prediction.alignment["lld"]["value"]
    assert float(rows[0]["leg_length_difference_px"]) == pytest.approx(lld, abs=1e-3)


def test_a_corrected_point_moves_only_what_depends_on_it(accepted) -> None:  # noqa: ANN001
    """A reviewer's correction is measured in the same leg frames: moving one leg's ankle leaves the other
    leg's numbers exactly as predicted."""
    from inference.document_alignment import labelme_alignment_compute

    image, prediction, revision = accepted
    document = {**revision.document, "shapes": [dict(s) for s in revision.document["shapes"]]}
    moved = next(s for s in document["shapes"] if s["label"] == "ankle" and s["group_id"] == 1)
    moved["points"] = [list(np.add(moved["points"][0], [4.0, 0.0]))]
    corrected = labelme_alignment_compute(document=document, width=image.width, height=image.height,
                                          image_id=image.pk)
    before, after = _numbers(prediction.alignment), _numbers(corrected)
    moved_side = prediction.alignment["legs"][1]["anatomical_side"]
    assert all(after[key] == value for key, value in before.items() if key[0] not in (moved_side, "both"))
    assert after[(moved_side, "hka_deviation_deg", "value")] != before[(moved_side, "hka_deviation_deg", "value")]


def test_a_corrected_item_shows_the_corrected_numbers_in_the_queue(settings, tmp_path, case, annotator,
                                                                   reviewer_client) -> None:  # noqa: ANN001
    """Issue 27, item 2: a corrected item kept the predicted HKA in the queue while the report showed the
    corrected one."""
    from inference.document_alignment import labelme_alignment_compute

    settings.MODEL_STORE = str(tmp_path / "store")
    starter_ensemble_register()
    phantom = generate_phantom(seed=2032, legs=2)
    image = image_upload(case=case, data=png_of(phantom), filename="phantom.png", uploaded_by=annotator)
    prediction = prediction_run(prediction=prediction_request(image=image, enqueue=False))
    item = ReviewItem.objects.get(prediction=prediction)
    document = {**prediction.document, "shapes": [dict(s) for s in prediction.document["shapes"]]}
    knee = next(s for s in document["shapes"] if s["label"] == "knee" and s["group_id"] == 0)
    knee["points"] = [list(np.add(knee["points"][0], [12.0, 0.0]))]
    response = reviewer_client.post(f"/api/review/items/{item.pk}/correct/",
                                    {"base_revision": None, "document": document}, format="json")
    assert response.status_code == 200, response.content
    corrected = labelme_alignment_compute(document=document, width=image.width, height=image.height,
                                          image_id=image.pk)
    row = reviewer_client.get("/api/review/items/?status=corrected").json()["results"][0]
    shown = {leg["anatomical_side"]: leg["hka_deviation_deg"]["value"] for leg in row["legs"]}
    expected = {leg["anatomical_side"]: leg["metrics"]["hka_deviation_deg"]["value"] for leg in corrected["legs"]}
    predicted = {leg["anatomical_side"]: leg["metrics"]["hka_deviation_deg"]["value"]
                 for leg in prediction.alignment["legs"]}
    assert shown == expected and shown != predicted
    assert row["lld"]["value"] == corrected["lld"]["value"]
