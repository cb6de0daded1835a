"""Review queue services: priority, item creation and backfill, decisions, angle deltas, conflicts.

Predictions are built without torch: a phantom's LabelMe truth stands in for the ensemble output and
its alignment is computed with the same core function the pipeline uses.
"""

from __future__ import annotations

import copy
import io
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image as PILImage

from annotations.models import (
    AnnotationRevision,
    Case,
    ReviewAction,
    ReviewEvent,
    ReviewItem,
    ReviewStatus,
    RevisionSource,
)
from review.services import (
    ReviewForbidden,
    alignment_deltas,
    review_accept,
    review_assign,
    review_correct,
    review_item_create_for_prediction,
    review_priority,
    review_reject,
    review_reopen,
)
from annotations.services import image_upload
from enllasd_web.exceptions import Conflict, InvalidInput
from inference.core.alignment import AlignmentResult, hka_deviation_deg
from inference.core.labelme_alignment import align_labelme_document
from inference.core.phantom import Phantom, generate_phantom
from inference.models import EnsembleVersion, JobStatus, Prediction, VersionStatus

pytestmark = pytest.mark.django_db

PHANTOM_SEED = 11
UNCERTAINTY = {"joint_sd_px": 2.0, "hka_sd_deg": 0.3, "member_disagreement": 0.05}


@lru_cache(maxsize=None)
def phantom(seed: int = PHANTOM_SEED) -> Phantom:
    """A one-leg 512 x 1024 phantom."""
    return generate_phantom(seed=seed, legs=1)


@lru_cache(maxsize=None)
def phantom_png(seed: int = PHANTOM_SEED) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(phantom(seed).image).save(buffer, format="PNG")
    return buffer.getvalue()


@lru_cache(maxsize=None)
def phantom_alignment(seed: int = PHANTOM_SEED) -> AlignmentResult:
    return align_labelme_document(phantom(seed).labelme)


def make_prediction(case: Case, *, uncertainty: dict[str, Any] | None = None,
                    ensemble: EnsembleVersion | None = None) -> Prediction:
    """A succeeded prediction of the phantom on a new image of ``case`` (one image per case)."""
    image = image_upload(case=case, data=phantom_png(), filename="phantom.png", uploaded_by=None)
    ensemble = ensemble or EnsembleVersion.objects.get_or_create(name="test-ensemble", view="AP")[0]
    return Prediction.objects.create(
        image=image, ensemble_version=ensemble, status=JobStatus.SUCCEEDED,
        document=copy.deepcopy(phantom().labelme), alignment=phantom_alignment().to_json(),
        uncertainty=dict(uncertainty or UNCERTAINTY),
        member_outputs={"keypoint": [{"fold": 0, "model": "kp", "joints_xy": [[[1, 2], [3, 4], [5, 6]]],
                                      "scores": [[0.9, 0.8, 0.7]]}],
                        "segmentation": [{"fold": 0, "model": "unet", "iou_vs_ensemble": {"femur": 0.9, "tibia": 0.8}}],
                        "majority_iou_vs_ensemble": {"femur": 0.95, "tibia": 0.9}},
    )


def make_item(case: Case, **kwargs: Any) -> ReviewItem:
    return review_item_create_for_prediction(prediction=make_prediction(case, **kwargs))


def moved_knee_document(dx: float) -> dict[str, Any]:
    """The phantom's document with the knee point moved ``dx`` px along +x."""
    document = copy.deepcopy(phantom().labelme)
    for shape in document["shapes"]:
        if shape["label"] == "knee":
            shape["points"][0][0] += dx
    return document


# -- priority ---------------------------------------------------------------------------------------


def test_priority_is_the_documented_weighted_sum() -> None:
    half = {"joint_sd_px": 5.12, "hka_sd_deg": 1.0, "member_disagreement": 0.15}  # each half of full scale
    ranked = review_priority(uncertainty=half, flags=[], image_height=1024)
    assert ranked.components == {"joint_spread": 0.5, "angle_spread": 0.5, "member_disagreement": 0.5, "flags": []}
    assert ranked.priority == pytest.approx(0.5)
    flagged = review_priority(uncertainty=half, flags=["left: knee_update_rejected"], image_height=1024)
    assert flagged.priority == pytest.approx(1.0)
    saturated = review_priority(uncertainty={"joint_sd_px": 1e3, "hka_sd_deg": None}, flags=[], image_height=1024)
    assert saturated.priority == pytest.approx(1.0)  # large and unknown spreads count as full scale


# -- creation ---------------------------------------------------------------------------------------


def test_item_creation_is_idempotent_and_logs_one_created_event(case) -> None:
    prediction = make_prediction(case)
    item = review_item_create_for_prediction(prediction=prediction, pipeline_flags=["legs_touch"])
    again = review_item_create_for_prediction(prediction=prediction)
    assert again.pk == item.pk and ReviewItem.objects.count() == 1
    assert item.status == ReviewStatus.PENDING and item.image_id == prediction.image_id
    flags = item.priority_components["flags"]
    assert flags[0] == "legs_touch" and "right: anatomical_side_inferred" in flags
    assert item.priority == review_priority(uncertainty=UNCERTAINTY, flags=flags, image_height=1024).priority
    assert list(ReviewEvent.objects.values_list("action", "actor")) == [(ReviewAction.CREATED, None)]


def test_unfinished_prediction_gets_no_item(case) -> None:
    prediction = make_prediction(case)
    Prediction.objects.filter(pk=prediction.pk).update(status=JobStatus.RUNNING)
    prediction.refresh_from_db()
    with pytest.raises(InvalidInput):
        review_item_create_for_prediction(prediction=prediction)


def test_backfill_command_creates_missing_items_once(case) -> None:
    make_prediction(case)
    call_command("review_items_backfill")
    call_command("review_items_backfill")
    assert ReviewItem.objects.count() == 1


def test_prediction_run_queues_the_succeeded_prediction_for_review(case, monkeypatch) -> None:
    prediction = make_prediction(case)
    Prediction.objects.filter(pk=prediction.pk).update(status=JobStatus.QUEUED, alignment=None)
    prediction.ensemble_version.config = {"path": "unused"}
    prediction.ensemble_version.status = VersionStatus.ACTIVE
    prediction.ensemble_version.save()
    _run_with_stub_pipeline(prediction, monkeypatch)
    item = ReviewItem.objects.get(prediction=prediction)
    assert "left: knee_update_rejected" in item.priority_components["flags"]


def test_a_candidate_ensembles_prediction_is_not_queued_for_review(case, monkeypatch) -> None:
    prediction = make_prediction(case)  # its ensemble is a candidate (e.g. predicting for a comparison)
    Prediction.objects.filter(pk=prediction.pk).update(status=JobStatus.QUEUED, alignment=None)
    prediction.ensemble_version.config = {"path": "unused"}
    prediction.ensemble_version.save()
    _run_with_stub_pipeline(prediction, monkeypatch)
    assert Prediction.objects.get(pk=prediction.pk).status == JobStatus.SUCCEEDED
    assert not ReviewItem.objects.filter(prediction=prediction).exists()


def _run_with_stub_pipeline(prediction: Prediction, monkeypatch) -> None:  # noqa: ANN001
    from inference import predictions as inference_services

    result = SimpleNamespace(document=phantom().labelme, alignment=phantom_alignment(), member_outputs={},
                             uncertainty=UNCERTAINTY, timings={}, flags=("left: knee_update_rejected",))
    monkeypatch.setattr("inference.ensemble_store.load_ensemble", lambda path: None)
    monkeypatch.setattr("inference.pipeline.run_ensemble", lambda *args, **kwargs: result)
    monkeypatch.setattr(inference_services, "image_pixels", lambda image: (np.zeros((2, 2), np.uint8), None))
    inference_services.prediction_run(prediction=Prediction.objects.get(pk=prediction.pk))


# -- decisions ---------------------------------------------------------------------------------------


def test_accept_adds_a_model_revision_and_an_event(case, reviewer) -> None:
    item = make_item(case)
    decided = review_accept(item=item, user=reviewer, base_revision_id=None)
    assert decided.status == ReviewStatus.ACCEPTED and decided.decided_by == reviewer
    revision = AnnotationRevision.objects.get(image=item.image)
    assert decided.revision == revision and revision.source == RevisionSource.MODEL
    assert revision.author == reviewer and "test-ensemble" in revision.message
    assert revision.document["shapes"] == phantom().labelme["shapes"]
    item.image.refresh_from_db()
    assert item.image.head_revision == revision
    event = ReviewEvent.objects.get(action=ReviewAction.ACCEPTED)
    assert (event.actor, event.revision, event.item) == (reviewer, revision, decided)


def test_correct_stores_the_hka_delta_of_a_moved_knee(case, reviewer) -> None:
    item = make_item(case)
    predicted = phantom_alignment().legs[0]
    dx = -12.0 * predicted.medial_sign  # lateral: toward varus
    review_correct(item=item, user=reviewer, document=moved_knee_document(dx), base_revision_id=None)
    item.refresh_from_db()
    assert item.status == ReviewStatus.CORRECTED and item.revision.source == RevisionSource.CORRECTED
    event = ReviewEvent.objects.get(action=ReviewAction.CORRECTED)
    hka = event.angle_deltas[predicted.image_side]["hka_deviation_deg"]
    joints = predicted.joints
    expected, _ = hka_deviation_deg(joints.hip_xy, joints.knee_xy + [dx, 0.0], joints.ankle_xy,
                                    medial_sign=predicted.medial_sign)
    assert hka["predicted"] == pytest.approx(predicted.metrics["hka_deviation_deg"].value, abs=1e-6)
    assert hka["corrected"] == pytest.approx(expected, abs=1e-6)
    assert hka["delta"] == pytest.approx(expected - hka["predicted"], abs=1e-6)
    # More varus, by about the tilt the shift gives each segment: atan(12 / femur) + atan(12 / tibia).
    femur_px, tibia_px = joints.knee_xy[1] - joints.hip_xy[1], joints.ankle_xy[1] - joints.knee_xy[1]
    small_angle = np.degrees(np.arctan(12.0 / femur_px) + np.arctan(12.0 / tibia_px))
    assert hka["delta"] < 0 and hka["delta"] == pytest.approx(-small_angle, abs=0.3)


def test_correct_with_an_invalid_document_writes_nothing(case, reviewer) -> None:
    item = make_item(case)
    broken = moved_knee_document(0.0)
    broken["shapes"][0]["points"] = [[1, "x"]]
    with pytest.raises(InvalidInput):
        review_correct(item=item, user=reviewer, document=broken, base_revision_id=None)
    item.refresh_from_db()
    assert item.status == ReviewStatus.PENDING and not AnnotationRevision.objects.exists()


def test_correct_without_complete_legs_records_why_there_are_no_deltas(case, reviewer) -> None:
    item = make_item(case)
    document = moved_knee_document(0.0)
    document["shapes"] = [shape for shape in document["shapes"] if shape["label"] != "ankle"]
    review_correct(item=item, user=reviewer, document=document, base_revision_id=None)
    event = ReviewEvent.objects.get(action=ReviewAction.CORRECTED)
    assert list(event.angle_deltas) == ["error"] and "hip, knee and ankle" in event.angle_deltas["error"]


def test_reject_needs_a_reason(case, reviewer) -> None:
    item = make_item(case)
    with pytest.raises(InvalidInput):
        review_reject(item=item, user=reviewer, reason="  ")
    decided = review_reject(item=item, user=reviewer, reason="knee points swapped")
    assert decided.status == ReviewStatus.REJECTED and decided.revision is None
    assert ReviewEvent.objects.get(action=ReviewAction.REJECTED).reason == "knee points swapped"
    assert not AnnotationRevision.objects.exists()


def test_annotators_cannot_decide(case, annotator) -> None:
    item = make_item(case)
    for decide in (lambda: review_accept(item=item, user=annotator, base_revision_id=None),
                   lambda: review_reject(item=item, user=annotator, reason="no"),
                   lambda: review_reopen(item=item, user=annotator)):
        with pytest.raises(ReviewForbidden) as caught:
            decide()
        assert caught.value.status_code == 403
    item.refresh_from_db()
    assert item.status == ReviewStatus.PENDING


def test_second_decision_conflicts_with_the_current_state(case, reviewer, admin_user_role) -> None:
    item = make_item(case)
    review_reject(item=item, user=reviewer, reason="blurred")
    with pytest.raises(Conflict) as caught:
        review_accept(item=item, user=admin_user_role, base_revision_id=None)
    state = caught.value.extra["item"]
    assert caught.value.extra["code"] == "already_decided"
    assert (state["status"], state["decided_by"]) == (ReviewStatus.REJECTED, reviewer.username)
    assert not AnnotationRevision.objects.exists()


def test_stale_base_revision_conflicts_and_keeps_the_newer_work(case, reviewer, annotator) -> None:
    from annotations.services import annotation_revision_submit

    item = make_item(case)
    theirs = annotation_revision_submit(image=item.image, document=phantom().labelme, base_revision_id=None,
                                        source=RevisionSource.MANUAL, author=annotator)
    with pytest.raises(Conflict) as caught:
        review_accept(item=item, user=reviewer, base_revision_id=None)
    assert caught.value.extra["head_revision"]["id"] == theirs.pk
    item.refresh_from_db()
    item.image.refresh_from_db()
    assert item.status == ReviewStatus.PENDING and item.image.head_revision == theirs
    assert not ReviewEvent.objects.exclude(action=ReviewAction.CREATED).exists()
    review_accept(item=item, user=reviewer, base_revision_id=theirs.pk)  # retry on the new head works


def test_reopen_returns_a_decided_item_to_the_queue(case, reviewer) -> None:
    item = make_item(case)
    with pytest.raises(Conflict):
        review_reopen(item=item, user=reviewer)
    review_accept(item=item, user=reviewer, base_revision_id=None)
    reopened = review_reopen(item=item, user=reviewer, reason="second look")
    assert (reopened.status, reopened.decided_by, reopened.revision) == (ReviewStatus.PENDING, None, None)
    head = AnnotationRevision.objects.get(image=item.image)
    review_correct(item=item, user=reviewer, document=moved_knee_document(3.0), base_revision_id=head.pk)
    actions = list(ReviewEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == [ReviewAction.CREATED, ReviewAction.ACCEPTED, ReviewAction.REOPENED, ReviewAction.CORRECTED]


def test_assign_needs_a_reviewer_assignee(case, reviewer, annotator) -> None:
    item = make_item(case)
    with pytest.raises(InvalidInput):
        review_assign(item=item, user=reviewer, assignee=annotator)
    assert review_assign(item=item, user=reviewer, assignee=reviewer).assignee == reviewer
    assert ReviewEvent.objects.get(action=ReviewAction.ASSIGNED).reason == "Assigned to rita"


def test_events_are_append_only(case) -> None:
    event = ReviewEvent.objects.get(item=make_item(case))
    event.reason = "rewritten"
    with pytest.raises(RuntimeError):
        event.save()


def test_alignment_deltas_match_legs_by_image_side() -> None:
    def alignment(side: str, hka: float | None) -> dict[str, Any]:
        metric = None if hka is None else {"value": hka}
        return {"legs": [{"image_side": side, "metrics": {"hka_deviation_deg": metric}}]}

    deltas = alignment_deltas(alignment("left", -2.0), alignment("left", -3.5))
    assert deltas["left"]["hka_deviation_deg"] == {"predicted": -2.0, "corrected": -3.5, "delta": -1.5}
    assert deltas["left"]["MPTA"] == {"predicted": None, "corrected": None, "delta": None}
    assert alignment_deltas(alignment("left", -2.0), alignment("right", 1.0)) == {}
    unknown = alignment_deltas(alignment("left", -2.0), alignment("left", None))
    assert unknown["left"]["hka_deviation_deg"]["delta"] is None
