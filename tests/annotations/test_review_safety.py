"""Approving is safe (issue 16, item 7).

* A prediction that fails a blocking check (no leg, a missing bone, HKA beyond any anatomy, joints out of
  order or outside the bones) cannot be accepted with one click: 409 ``implausible_prediction`` with the
  reasons; correcting or rejecting works, and accepting anyway needs a reason, which the event, the
  revision message and every dataset snapshot holding the revision record.
* The item detail names the next pending item, so the reviewer moves on after a decision.
* The review panel's flags follow the document shown (``POST /api/review/items/<id>/checks/``).
* Images with approved outlines (imported, manual, accepted, corrected) get no review item for predictions
  of themselves.
"""

from __future__ import annotations

import copy

import pytest
from django.urls import reverse

from annotations.models import Case, Patient, ReviewEvent, ReviewItem, ReviewStatus, RevisionSource
from review.services import review_item_create_for_prediction, review_items_backfill
from annotations.services import annotation_revision_submit
from clinical.core.acceptance import acceptance_blockers
from clinical.core.plausibility import PlausibilityFlag
from tests.annotations.test_review_services import make_item, make_prediction, phantom, phantom_alignment

pytestmark = pytest.mark.django_db


def _implausible(prediction):  # noqa: ANN001, ANN202 - a Prediction
    """The prediction with the README's tiny-ensemble reading: HKA deviation +118.7° on its leg."""
    alignment = copy.deepcopy(prediction.alignment)
    alignment["legs"][0]["metrics"]["hka_deviation_deg"]["value"] = 118.7
    prediction.alignment = alignment
    prediction.save(update_fields=["alignment"])
    return prediction


def _accept_url(item: ReviewItem) -> str:
    return reverse("annotations:review-item-accept", kwargs={"item_id": item.pk})


def _new_case(code: str) -> Case:
    return Case.objects.create(patient=Patient.objects.create(code=code), view="AP")


# -- the rule (pure) ------------------------------------------------------------------------------------


def test_blockers_name_each_failure_by_the_patients_side():
    plausible = phantom_alignment().to_json()
    assert acceptance_blockers(plausible) == []
    assert acceptance_blockers({"legs": []}) == ["No leg was aligned."]
    leg = copy.deepcopy(plausible["legs"][0])
    leg["anatomical_side"] = "right"
    leg["metrics"]["hka_deviation_deg"]["value"] = -52.0
    leg["flags"] = ["tibia: 12 pixels (< 500); mask-based tibia metrics skipped", "knee_update_skipped"]
    knee = PlausibilityFlag("knee_outside_bones", "knee centre 80 px outside the bone ends", leg["image_side"])
    head = PlausibilityFlag("femoral_head_fit", "head outline not round", leg["image_side"])  # a prompt only
    assert acceptance_blockers({"legs": [leg]}, [knee, head]) == [
        "Right leg: no usable tibia outline (tibia: 12 pixels (< 500); mask-based tibia metrics skipped).",
        "Right leg: HKA deviation -52.0° is beyond any anatomy (limit ±45°).",
        "Right leg: knee centre 80 px outside the bone ends.",
    ]


def test_an_angle_beyond_physiological_limits_or_far_from_the_other_leg_blocks():
    """Issue 27, item 3: film 1009's left mLDTA of 67.5° (the right leg 88.0°) was approved with one click."""
    alignment = phantom_alignment().to_json()
    right, left = alignment["legs"][0], copy.deepcopy(alignment["legs"][0])
    alignment["legs"] = [right, left]
    right["anatomical_side"], left["anatomical_side"] = "right", "left"
    for leg, value in ((right, 88.0), (left, 67.5)):
        leg["metrics"]["mLDTA"] = {**(leg["metrics"]["mLDTA"] or {}), "value": value}
    assert acceptance_blockers(alignment) == [
        "Left leg: mLDTA 67.5° is outside physiological limits (71-107°).",
        "mLDTA differs by 20.5° between the legs (right leg 88.0° and left leg 67.5°; limit 15°).",
    ]
    left["metrics"]["mLDTA"]["value"] = 75.0  # a real deformity may be asymmetric: inside both limits
    assert acceptance_blockers(alignment) == []


# -- accepting ------------------------------------------------------------------------------------------


def test_an_implausible_prediction_is_refused_then_accepted_only_with_a_recorded_reason(case, reviewer_client):
    item = make_item(case)
    _implausible(item.prediction)

    detail = reviewer_client.get(reverse("annotations:review-item-detail", kwargs={"item_id": item.pk})).json()
    assert detail["acceptance_blockers"] == [
        "Leg on the image's left: HKA deviation +118.7° is beyond any anatomy (limit ±45°)."
        if detail["legs"][0]["anatomical_side"] is None else
        f"{detail['legs'][0]['anatomical_side'].capitalize()} leg: HKA deviation +118.7° is beyond any anatomy "
        "(limit ±45°)."]

    refused = reviewer_client.post(_accept_url(item), {"base_revision": None}, format="json")
    assert refused.status_code == 409
    assert refused.json()["extra"]["code"] == "implausible_prediction"
    assert refused.json()["extra"]["blockers"] == detail["acceptance_blockers"]
    item.refresh_from_db()
    assert item.status == ReviewStatus.PENDING and item.image.head_revision_id is None
    blank = reviewer_client.post(_accept_url(item), {"base_revision": None, "override_reason": "  "}, format="json")
    assert blank.status_code == 409

    accepted = reviewer_client.post(_accept_url(item), {"base_revision": None,
                                                        "override_reason": "checked on the film: severe deformity"},
                                    format="json")
    assert accepted.status_code == 200, accepted.content
    event = ReviewEvent.objects.get(item=item, action="accepted")
    assert event.reason == "checked on the film: severe deformity"
    assert event.overridden_checks == detail["acceptance_blockers"]
    item.refresh_from_db()
    assert item.revision.source == RevisionSource.MODEL
    assert "overriding 1 failed check(s): checked on the film: severe deformity" in item.revision.message
    events = reviewer_client.get(reverse("annotations:image-review-events", kwargs={"image_id": item.image_id}))
    assert events.json()["results"][0]["overridden_checks"] == detail["acceptance_blockers"]


def test_a_plausible_prediction_is_accepted_with_one_click(case, reviewer_client):
    item = make_item(case)
    assert reviewer_client.post(_accept_url(item), {"base_revision": None}, format="json").status_code == 200
    assert ReviewEvent.objects.get(item=item, action="accepted").overridden_checks == []


def test_an_implausible_prediction_can_still_be_corrected_or_rejected(case, reviewer_client):
    corrected = make_item(case)
    _implausible(corrected.prediction)
    response = reviewer_client.post(reverse("annotations:review-item-correct", kwargs={"item_id": corrected.pk}),
                                    {"base_revision": None, "document": copy.deepcopy(phantom().labelme)},
                                    format="json")
    assert response.status_code == 200, response.content
    rejected = make_item(_new_case("P-rej"))
    _implausible(rejected.prediction)
    response = reviewer_client.post(reverse("annotations:review-item-reject", kwargs={"item_id": rejected.pk}),
                                    {"reason": "HKA 118.7° is impossible"}, format="json")
    assert response.status_code == 200


def test_the_snapshot_records_an_override(reviewer, reviewer_client):
    from training.snapshots import dataset_snapshot_create

    overridden = make_item(_new_case("P-over"))
    _implausible(overridden.prediction)
    reviewer_client.post(_accept_url(overridden), {"base_revision": None, "override_reason": "deformity"},
                         format="json")
    plain = make_item(_new_case("P-plain"))
    reviewer_client.post(_accept_url(plain), {"base_revision": None}, format="json")

    snapshot = dataset_snapshot_create(name="with override", view="AP", n_folds=2)
    entries = {entry.image_id: entry for entry in snapshot.entries.all()}
    record = entries[overridden.image_id].acceptance_override
    assert record["reason"] == "deformity" and record["by"] == reviewer.username
    assert record["checks"] and "beyond any anatomy" in record["checks"][0]
    assert entries[plain.image_id].acceptance_override == {}


# -- moving on, and flags that follow the document -------------------------------------------------------


def test_the_detail_names_the_next_pending_item(case, reviewer_client):
    first = make_item(case, uncertainty={"joint_sd_px": 50.0, "hka_sd_deg": 3.0, "member_disagreement": 0.3})
    second = make_item(_new_case("P-next"))
    body = reviewer_client.post(_accept_url(first), {"base_revision": None}, format="json").json()
    assert body["status"] == "accepted" and body["next_item"] == second.pk
    last = reviewer_client.post(_accept_url(second), {"base_revision": None}, format="json").json()
    assert last["next_item"] is None


def test_checks_follow_the_document_shown(case, annotator_client):
    item = make_item(case)
    url = reverse("annotations:review-item-checks", kwargs={"item_id": item.pk})
    truth = copy.deepcopy(phantom().labelme)
    clean = annotator_client.post(url, {"document": truth}, format="json")
    assert clean.status_code == 200 and clean.json()["blockers"] == []
    swapped = copy.deepcopy(truth)  # knee and ankle points exchanged: joints out of order
    points = {shape["label"]: shape for shape in swapped["shapes"] if shape["shape_type"] == "point"}
    points["knee"]["points"], points["ankle"]["points"] = points["ankle"]["points"], points["knee"]["points"]
    flagged = annotator_client.post(url, {"document": swapped}, format="json").json()
    assert any("joint_order" in flag for flag in flagged["flags"])
    assert any("joints out of order" in blocker for blocker in flagged["blockers"])


def test_checks_keep_what_the_localiser_said_of_the_image(case, annotator_client):
    """The side convention and a low-confidence leg hold whatever outlines are shown: they lead the checks."""
    item = make_item(case)
    side_flag = "side_from_display_convention"
    item.prediction.member_outputs = {"localisation": {"legs": [], "flags": [side_flag]}}
    item.prediction.save(update_fields=["member_outputs"])
    url = reverse("annotations:review-item-checks", kwargs={"item_id": item.pk})
    flags = annotator_client.post(url, {"document": copy.deepcopy(phantom().labelme)}, format="json").json()["flags"]
    assert flags[0] == side_flag and flags.count(side_flag) == 1


# -- no review items for images with approved outlines -----------------------------------------------------


@pytest.mark.parametrize("source", [RevisionSource.IMPORTED, RevisionSource.MANUAL, RevisionSource.CORRECTED])
def test_a_prediction_of_an_image_with_approved_outlines_gets_no_review_item(case, source):
    prediction = make_prediction(case)
    annotation_revision_submit(image=prediction.image, document=copy.deepcopy(phantom().labelme),
                               base_revision_id=None, source=source, author=None)
    prediction.image.refresh_from_db()
    assert review_item_create_for_prediction(prediction=prediction) is None
    assert review_items_backfill() == 0
    assert not ReviewItem.objects.exists()


def test_a_sam_draft_is_not_approved_so_its_prediction_is_reviewed(case):
    prediction = make_prediction(case)
    annotation_revision_submit(image=prediction.image, document=copy.deepcopy(phantom().labelme),
                               base_revision_id=None, source=RevisionSource.SAM_ASSISTED, author=None)
    prediction.image.refresh_from_db()
    assert review_item_create_for_prediction(prediction=prediction) is not None


# -- images outside intended use (issue 27, item 5) ------------------------------------------------------


def test_an_image_without_a_leg_is_listed_apart_and_never_sent_to_next(case, reviewer_client, client, reviewer):
    """A non-leg DICOM got priority 1.50 and reviewers were auto-advanced to it after each decision."""
    leg_item = make_item(case)
    no_leg = make_prediction(_new_case("P-NOT-A-LEG"))
    no_leg.alignment = {**no_leg.alignment, "legs": [], "lld": None}
    no_leg.save(update_fields=["alignment"])
    not_a_leg = review_item_create_for_prediction(prediction=no_leg,
                                                  pipeline_flags=["outside_intended_use: no full-length leg found"])
    assert not_a_leg.outside_intended_use and not leg_item.outside_intended_use
    assert not_a_leg.priority >= leg_item.priority  # by priority alone it would lead the queue

    listed = reviewer_client.get(reverse("annotations:review-item-list")).json()["results"]
    assert [row["id"] for row in listed] == [leg_item.pk]
    apart = reviewer_client.get(reverse("annotations:review-item-list") + "?not_a_leg=true").json()["results"]
    assert [(row["id"], row["outside_intended_use"]) for row in apart] == [(not_a_leg.pk, True)]

    detail = reviewer_client.get(reverse("annotations:review-item-detail", kwargs={"item_id": leg_item.pk})).json()
    assert detail["next_item"] is None  # the not-a-leg item is not where a reviewer goes next
    client.force_login(reviewer)
    page = client.get(f"/cases/{no_leg.image.case_id}/").content.decode()
    assert "Not a leg: no leg found (outside intended use)" in page
