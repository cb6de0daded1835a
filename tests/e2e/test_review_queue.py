"""The approval queue in a real headless chromium: list, open, accept / correct / reject.

Predictions are Prediction rows made directly from phantom documents (no torch): a phantom's truth
stands in for the ensemble output, its alignment is computed with the core function the pipeline
uses, and the review backend creates the queue items (review.services).
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import pytest

from tests.e2e.conftest import SCREENSHOT_DIR, drag_image, open_editor, phantom_png

REPO_ROOT = Path(__file__).resolve().parents[2]
REVIEW_API = REPO_ROOT / "review" / "apis.py"
IMAGES_LOADED = "sel => [...document.querySelectorAll(sel)].every(i => i.complete && i.naturalWidth > 0)"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.browser,
    pytest.mark.skipif(not REVIEW_API.exists(),
                       reason="review backend (review/apis.py) is not in this tree yet"),
]


@lru_cache(maxsize=None)
def phantom(seed: int):  # noqa: ANN201
    from inference.core.phantom import generate_phantom

    return generate_phantom(seed=seed, legs=1)


@lru_cache(maxsize=None)
def _alignment(seed: int) -> dict:
    from inference.core.labelme_alignment import align_labelme_document

    return align_labelme_document(phantom(seed).labelme).to_json()


def phantom_alignment(seed: int, hka_sd_deg: float) -> dict:
    """The phantom's alignment with the HKA spread an ensemble's joint disagreement would give."""
    alignment = copy.deepcopy(_alignment(seed))
    for leg in alignment["legs"]:
        hka = leg["metrics"]["hka_deviation_deg"]
        hka.update(sd=hka_sd_deg, p2_5=hka["value"] - 1.96 * hka_sd_deg, p97_5=hka["value"] + 1.96 * hka_sd_deg)
    return alignment


def make_item(*, code: str, cohort: str, seed: int, uncertainty: dict, date: str,  # noqa: ANN201
              flags: tuple[str, ...] = ()):
    """A succeeded prediction of a phantom on a new case, and its review item."""
    from datetime import date as date_type

    from review.services import review_item_create_for_prediction
    from annotations.services import case_create, image_upload, patient_create
    from inference.models import EnsembleVersion, JobStatus, Prediction

    ph = phantom(seed)
    case = case_create(patient=patient_create(code=code, cohort=cohort), acquisition_date=date_type.fromisoformat(date))
    image = image_upload(case=case, data=phantom_png(ph), filename=f"{code}.png", uploaded_by=None)
    ensemble, _ = EnsembleVersion.objects.get_or_create(name="e2e-ensemble", view="AP")
    points = {s["label"]: s["points"][0] for s in ph.labelme["shapes"] if s["shape_type"] == "point"}
    joints = [points[name] for name in ("hip", "knee", "ankle")]
    prediction = Prediction.objects.create(
        image=image, ensemble_version=ensemble, status=JobStatus.SUCCEEDED,
        document=copy.deepcopy(ph.labelme), alignment=phantom_alignment(seed, uncertainty["hka_sd_deg"]),
        uncertainty=uncertainty,
        member_outputs={
            "keypoint": [{"fold": f, "model": "hrnet", "joints_xy": [[[x + 3 * f, y - 2 * f] for x, y in joints]],
                          "scores": [[0.9, 0.85, 0.8]]} for f in range(2)],
            "segmentation": [{"fold": 0, "model": "unet", "iou_vs_ensemble": {"femur": 0.93, "tibia": 0.9}}],
            "majority_iou_vs_ensemble": {"femur": 0.95, "tibia": 0.92},
        },
    )
    return review_item_create_for_prediction(prediction=prediction, pipeline_flags=flags)


def test_reviewer_accepts_a_prediction_from_the_queue(page, live_server, login, reviewer):
    from annotations.models import Image, ReviewItem, RevisionSource

    low = make_item(code="P-0101", cohort="sd", seed=11, date="2024-03-01",
                    uncertainty={"joint_sd_px": 1.0, "hka_sd_deg": 0.1, "member_disagreement": 0.02})
    high = make_item(code="P-0102", cohort="non_sd", seed=12, date="2024-05-20",
                     uncertainty={"joint_sd_px": 8.0, "hka_sd_deg": 1.6, "member_disagreement": 0.2},
                     flags=("knee_update_rejected",))
    mid = make_item(code="P-0103", cohort="sd", seed=13, date="2025-01-10",
                    uncertainty={"joint_sd_px": 4.0, "hka_sd_deg": 0.6, "member_disagreement": 0.08})

    login("rita", "pw-rita")
    page.goto(f"{live_server.url}/review/")
    page.wait_for_selector("tr.review-row")
    order = [int(v) for v in page.eval_on_selector_all("tr.review-row", "rows => rows.map(r => r.dataset.item)")]
    assert order == [high.pk, mid.pk, low.pk]  # most uncertain first
    row = page.inner_text(f"tr.review-row[data-item='{high.pk}']")
    assert "P-0102" in row and "knee_update_rejected" in row and "HKA" in row and "±" in row
    page.wait_for_function(IMAGES_LOADED, arg="tr.review-row img")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "review-queue.png"), full_page=True)

    # Filters: cohort and date range narrow the list without a reload.
    page.select_option("#review-filters select[name=cohort]", "sd")
    page.wait_for_function("document.querySelectorAll('tr.review-row').length === 2")
    page.fill("#review-filters input[name=date_from]", "2025-01-01")
    page.dispatch_event("#review-filters input[name=date_from]", "change")
    page.wait_for_function("document.querySelectorAll('tr.review-row').length === 1")
    assert "P-0103" in page.inner_text("#review-table")
    assert "cohort=sd" in page.url and "date_from=2025-01-01" in page.url

    # Open the top item: the prediction is the working document; accept it.
    page.goto(f"{live_server.url}/review/")
    page.click(f"#open-item-{high.pk}")
    open_editor(page, f"{live_server.url}/review/{high.pk}/")
    page.evaluate("localStorage.clear()")
    assert page.locator("polygon.shape-polygon").count() == 2
    assert page.locator("circle.shape-point").count() == 3
    page.wait_for_selector("#review-events li.event-created")
    page.wait_for_selector("table.angles-table")
    page.check("#layer-member-0")
    page.check("#layer-member-1")
    page.evaluate("document.getElementById('side').scrollTop = 0")
    page.screenshot(path=str(SCREENSHOT_DIR / "review-item.png"))
    page.click("#review-accept")
    page.wait_for_function("document.getElementById('review-status').textContent === 'accepted'", timeout=20_000)
    # After the decision the editor moves on to the next pending item (issue 16, item 7).
    page.wait_for_url(f"**/review/{mid.pk}/", timeout=20_000)
    high.refresh_from_db()
    assert high.status == "accepted" and high.decided_by == reviewer
    assert Image.objects.get(pk=high.image_id).head_revision.source == RevisionSource.MODEL

    # The case list shows the image as approved.
    page.goto(f"{live_server.url}/")
    page.wait_for_function(IMAGES_LOADED, arg=".case-row img")
    page.screenshot(path=str(SCREENSHOT_DIR / "case-list.png"), full_page=True)
    page.goto(f"{live_server.url}/?status=approved")
    assert page.locator(".case-row").count() == 1
    assert "P-0102" in page.inner_text("#case-table")
    assert ReviewItem.objects.filter(status="pending").count() == 2


def test_reviewer_corrects_and_rejects(page, live_server, login, reviewer):
    from annotations.models import Image, RevisionSource

    item = make_item(code="P-0201", cohort="sd", seed=14, date="2024-02-02",
                     uncertainty={"joint_sd_px": 3.0, "hka_sd_deg": 0.5, "member_disagreement": 0.1})
    other = make_item(code="P-0202", cohort="sd", seed=15, date="2024-02-03",
                      uncertainty={"joint_sd_px": 2.0, "hka_sd_deg": 0.4, "member_disagreement": 0.1})
    knee = [s["points"][0] for s in phantom(14).labelme["shapes"] if s["label"] == "knee"][0]

    login("rita", "pw-rita")
    open_editor(page, f"{live_server.url}/review/{item.pk}/")
    page.evaluate("localStorage.clear()")
    assert page.is_disabled("#review-correct")  # nothing edited yet
    page.keyboard.press("v")
    drag_image(page, knee, (knee[0] + 8, knee[1]))
    page.wait_for_function("!document.getElementById('review-correct').disabled")
    assert page.is_disabled("#review-accept")  # an edited prediction is a correction
    page.click("#review-correct")
    page.wait_for_function("document.getElementById('review-status').textContent === 'corrected'", timeout=20_000)
    page.wait_for_url(f"**/review/{other.pk}/", timeout=20_000)  # the next pending item
    item.refresh_from_db()
    head = Image.objects.get(pk=item.image_id).head_revision
    assert item.status == "corrected" and head.source == RevisionSource.CORRECTED
    saved_knee = [s["points"][0] for s in head.document["shapes"] if s["label"] == "knee"][0]
    assert saved_knee[0] == pytest.approx(knee[0] + 8, abs=1.5)

    # Reject needs a reason.
    open_editor(page, f"{live_server.url}/review/{other.pk}/")
    page.click("#review-reject")
    page.wait_for_selector("#reject-dialog[open]")
    assert page.is_disabled("#reject-confirm")
    page.fill("#reject-reason", "Phantom is upside down")
    page.click("#reject-confirm")
    page.wait_for_function("document.getElementById('review-status').textContent === 'rejected'", timeout=20_000)
    other.refresh_from_db()
    assert other.status == "rejected"
    assert other.events.get(action="rejected").reason == "Phantom is upside down"
    page.wait_for_url("**/review/", timeout=20_000)  # nothing left: back to the queue


def test_an_implausible_prediction_is_accepted_only_with_a_reason(page, live_server, login, reviewer):
    from annotations.models import ReviewEvent

    item = make_item(code="P-0401", cohort="sd", seed=17, date="2024-06-06",
                     uncertainty={"joint_sd_px": 2.0, "hka_sd_deg": 0.3, "member_disagreement": 0.05})
    prediction = item.prediction
    prediction.alignment["legs"][0]["metrics"]["hka_deviation_deg"]["value"] = 118.7
    prediction.save(update_fields=["alignment"])

    login("rita", "pw-rita")
    # The server refuses this prediction on its own checks: after the live checks of the (unchanged) outlines
    # have come back, the panel must still say why, as the "Accept anyway…" button does.
    with page.expect_response(lambda response: "/checks/" in response.url):
        open_editor(page, f"{live_server.url}/review/{item.pk}/")
    page.wait_for_timeout(300)  # the panel is redrawn from that response
    page.wait_for_selector("#review-blockers")
    assert "beyond any anatomy" in page.inner_text("#review-blockers")
    assert page.inner_text("#review-accept") == "Accept anyway…"
    page.click("#review-accept")
    page.wait_for_selector("#override-dialog[open]")
    assert page.is_disabled("#override-confirm")
    page.fill("#override-reason", "Severe deformity, checked on the film")
    page.click("#override-confirm")
    page.wait_for_function("document.getElementById('review-status').textContent === 'accepted'", timeout=20_000)
    event = ReviewEvent.objects.get(item=item, action="accepted")
    assert event.reason == "Severe deformity, checked on the film" and event.overridden_checks


def test_annotator_sees_the_queue_without_decision_buttons(page, live_server, login, annotator):
    item = make_item(code="P-0301", cohort="unknown", seed=16, date="2024-04-04",
                     uncertainty={"joint_sd_px": 2.0, "hka_sd_deg": 0.2, "member_disagreement": 0.05})
    login("anna", "pw-anna")
    page.goto(f"{live_server.url}/review/")
    page.wait_for_selector(f"tr.review-row[data-item='{item.pk}']")
    assert page.locator("#review-readonly").count() == 1
    open_editor(page, f"{live_server.url}/review/{item.pk}/")
    page.wait_for_selector("#review-readonly")
    assert page.locator("#review-accept, #review-correct, #review-reject").count() == 0
