"""Dataset snapshots (selection rules, folds, export, training data), promotion / rollback / re-prediction,
lineage, the admin pages and who may do what. Services and APIs on the DB; no worker, no model."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.utils import timezone

from annotations.models import Cohort, RevisionSource, View
from annotations.services import (
    annotation_revision_submit,
    case_create,
    image_upload,
    labelme_bundle_import,
    patient_create,
)
from enllasd_web.exceptions import Conflict, InvalidInput
from inference.core.phantom import write_phantom_set
from inference.models import EnsembleVersion, JobStatus, Prediction, VersionStatus
from tests.conftest import api_client_for, labelme_document, png_bytes
from training import repredictions
from training.core.datasets import load_labelme_folder
from training.lineage import current_code_version
from training.models import (
    DatasetSnapshot,
    EnsembleComparison,
    EnsemblePromotion,
    RepredictJob,
    RunStatus,
    TrainingRun,
)
from training.promotions import ensemble_promote, ensemble_rollback, repredict_job_create
from training.repredictions import repredict_job_run
from training.selectors import approved_revisions, pending_images
from training.snapshots import dataset_snapshot_create, dataset_snapshot_export, snapshot_training_data

pytestmark = pytest.mark.django_db


def _image(case, name: str, seed: int):  # noqa: ANN001, ANN202
    return image_upload(case=case, data=png_bytes(seed=seed), filename=name, uploaded_by=None)


def _revise(image, source: str, document: dict | None = None):  # noqa: ANN001, ANN202
    return annotation_revision_submit(image=image, document=document or labelme_document(),
                                      base_revision_id=image.head_revision_id, source=source, author=None)


@pytest.fixture
def images():
    """P1 (AP): a imported, b manual->sam_assisted, c sam_assisted->corrected, d none, e model without tibia;
    P2 (LAT): f imported; P3 (AP, cohort SD): g model."""
    p1 = case_create(patient=patient_create(code="P1"))
    lat = case_create(patient=patient_create(code="P2"), view=View.LAT)
    p3 = case_create(patient=patient_create(code="P3", cohort=Cohort.SD))
    made = {name: _image(case, f"{name}.png", seed) for seed, (name, case) in enumerate(
        [("a", p1), ("b", p1), ("c", p1), ("d", p1), ("e", p1), ("f", lat), ("g", p3)])}
    _revise(made["a"], RevisionSource.IMPORTED)
    _revise(made["b"], RevisionSource.MANUAL)
    _revise(made["b"], RevisionSource.SAM_ASSISTED)
    _revise(made["c"], RevisionSource.SAM_ASSISTED)
    no_tibia = labelme_document()
    no_tibia["shapes"] = [s for s in no_tibia["shapes"] if s["label"] != "tibia"]
    _revise(made["e"], RevisionSource.MODEL, no_tibia)
    _revise(made["f"], RevisionSource.IMPORTED)
    _revise(made["g"], RevisionSource.MODEL)
    made["before_correction"] = timezone.now()
    _revise(made["c"], RevisionSource.CORRECTED)
    return made


def test_approved_revisions_are_approved_heads_of_the_view(images):
    chosen = {r.image_id for r in approved_revisions(view=View.AP)}
    assert chosen == {images[k].pk for k in ("a", "c", "e", "g")}
    assert {r.image_id for r in approved_revisions(view=View.AP, cohort=Cohort.SD)} == {images["g"].pk}
    assert {r.image_id for r in approved_revisions(view=View.AP, case_ids=[images["a"].case_id])} == {
        images[k].pk for k in ("a", "c", "e")}
    # As of before c's correction, c's head was a SAM-assisted draft: not approved.
    as_of = {r.image_id for r in approved_revisions(view=View.AP, created_before=images["before_correction"])}
    assert as_of == {images[k].pk for k in ("a", "e", "g")}
    assert set(pending_images(view=View.AP).values_list("pk", flat=True)) == {images["b"].pk, images["d"].pk}


def test_snapshot_freezes_trainable_approved_revisions_with_patient_grouped_folds(images, admin_user_role):
    snapshot = dataset_snapshot_create(name="s1", view=View.AP, n_folds=2, seed=3, created_by=admin_user_role)
    entries = {e.image_id: e for e in snapshot.entries.all()}
    assert set(entries) == {images[k].pk for k in ("a", "c", "g")}
    assert snapshot.excluded == [{"image": images["e"].pk, "revision": images["e"].head_revision_id,
                                  "reason": "no femur and tibia outline"}]
    assert entries[images["a"].pk].fold == entries[images["c"].pk].fold != entries[images["g"].pk].fold
    assert entries[images["a"].pk].patient_code == "P1"
    assert (snapshot.n_folds, snapshot.seed, snapshot.code_version) == (2, 3, current_code_version())
    assert snapshot.code_version.startswith(("git:", "package:"))
    with pytest.raises(InvalidInput, match="cannot fill 3 folds"):
        dataset_snapshot_create(name="s2", view=View.AP, n_folds=3)
    with pytest.raises(InvalidInput, match="n_folds"):
        dataset_snapshot_create(name="s3", view=View.AP, n_folds=1)


def test_export_zip_holds_the_frozen_revisions_even_after_new_ones(images, tmp_path):
    snapshot = dataset_snapshot_create(name="s", view=View.AP, n_folds=2)
    frozen = {e.image_id: e.revision.document for e in snapshot.entries.select_related("revision")}
    _revise(images["a"], RevisionSource.MANUAL, labelme_document(shift=5.0))
    buffer = io.BytesIO()
    assert dataset_snapshot_export(snapshot=snapshot, out=buffer) == 3
    with zipfile.ZipFile(buffer) as bundle:
        names = set(bundle.namelist())
        manifest = json.loads(bundle.read("snapshot.json"))
        assert names == {"snapshot.json"} | {f"{k}.json" for k in "acg"} | {f"{k}.png" for k in "acg"}
        exported = json.loads(bundle.read("a.json"))
    assert exported["shapes"][0]["points"] == frozen[images["a"].pk]["shapes"][0]["points"]
    assert exported["imagePath"] == "a.png" and exported["imageData"] is None
    assert {e["image"]: e["fold"] for e in manifest["entries"]} == {
        e.image_id: e.fold for e in snapshot.entries.all()}
    bundle_path = tmp_path / "snapshot.zip"
    bundle_path.write_bytes(buffer.getvalue())
    assert len(load_labelme_folder(bundle_path, joints_from="none")) == 3  # what `train --data` reads


@pytest.fixture(scope="module")
def phantom_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("phantoms")
    write_phantom_set(folder, n=4, seed=11, legs=1)
    return folder


def test_snapshot_training_data_uses_the_revisions_patients_and_folds(phantom_folder):
    report = labelme_bundle_import(path=phantom_folder, user=None, patient_pattern=r"^(.*)$")
    assert report.images_created == 4
    snapshot = dataset_snapshot_create(name="phantoms", view=View.AP, n_folds=2)
    samples, folds = snapshot_training_data(snapshot=snapshot)
    entries = list(snapshot.entries.select_related("image").order_by("id"))
    assert [s.name for s in samples] == [f"{e.image_id}-{e.image.stem}" for e in entries]
    assert [s.group for s in samples] == [e.patient_code for e in entries]
    assert folds.fold_of_image.tolist() == [e.fold for e in entries] and folds.n_folds == 2
    assert all(s.label_map.shape == (1024, 512) and s.joints_xy.shape == (1, 3, 2) for s in samples)


# --------------------------------------------------------------------------------------------
# Promotion, rollback, re-prediction
# --------------------------------------------------------------------------------------------
def _ensemble(name: str, view: str = View.AP) -> EnsembleVersion:
    return EnsembleVersion.objects.create(name=name, view=view, config={"path": f"ensembles/{name}"})


def test_promotions_are_recorded_and_rollbacks_undo_them_in_order(admin_user_role):
    a, b, c = _ensemble("a"), _ensemble("b"), _ensemble("c")
    first = ensemble_promote(ensemble=a, promoted_by=admin_user_role, reason="first", repredict=False)
    assert first.previous_active is None and not RepredictJob.objects.exists()
    ensemble_promote(ensemble=b, promoted_by=admin_user_role)
    to_c = ensemble_promote(ensemble=c, promoted_by=admin_user_role, reason="better MPTA")
    assert (to_c.previous_active, to_c.reason, to_c.promoted_by) == (b, "better MPTA", admin_user_role)
    assert RepredictJob.objects.filter(ensemble=c, promotion=to_c, status=RunStatus.QUEUED).count() == 1
    with pytest.raises(Conflict, match="already the active"):
        ensemble_promote(ensemble=c, promoted_by=admin_user_role)

    back = ensemble_rollback(view=View.AP, promoted_by=admin_user_role)
    assert back.ensemble == b and back.rollback_of == to_c and back.previous_active == c
    assert ensemble_rollback(view=View.AP, promoted_by=admin_user_role).ensemble == a
    a.refresh_from_db(), b.refresh_from_db(), c.refresh_from_db()
    assert (a.status, b.status, c.status) == (VersionStatus.ACTIVE, VersionStatus.RETIRED, VersionStatus.RETIRED)
    with pytest.raises(Conflict, match="Nothing to roll back"):
        ensemble_rollback(view=View.AP, promoted_by=admin_user_role)
    assert EnsemblePromotion.objects.count() == 5


def test_repredict_job_predicts_pending_and_selected_images_skipping_existing(images, monkeypatch):
    ensemble = _ensemble("new")
    Prediction.objects.create(image=images["b"], ensemble_version=ensemble, status=JobStatus.SUCCEEDED)
    ran: list[int] = []

    def fake_run(*, prediction: Prediction) -> Prediction:
        if prediction.image_id == images["g"].pk:
            raise RuntimeError("model exploded")
        ran.append(prediction.image_id)
        Prediction.objects.filter(pk=prediction.pk).update(status=JobStatus.SUCCEEDED)
        return prediction

    monkeypatch.setattr(repredictions, "prediction_run", fake_run)
    with pytest.raises(InvalidInput, match="not AP images"):
        repredict_job_create(ensemble=ensemble, image_ids=[images["f"].pk])
    job = repredict_job_create(ensemble=ensemble, image_ids=[images["a"].pk, images["g"].pk])
    job = repredict_job_run(job=job)
    # Pending: b (already predicted: skipped) and d; selected: a and g (g fails).
    assert (job.status, job.total, job.skipped, job.done, job.failed) == (RunStatus.SUCCEEDED, 4, 1, 2, 1)
    assert sorted(ran) == sorted([images["a"].pk, images["d"].pk])
    assert Prediction.objects.get(image=images["g"], ensemble_version=ensemble).status == JobStatus.FAILED
    assert Prediction.objects.filter(ensemble_version=ensemble).count() == 4


def test_prediction_lineage_reaches_the_snapshot_and_code_version(images, annotator_client):
    snapshot = dataset_snapshot_create(name="s", view=View.AP, n_folds=2)
    run = TrainingRun.objects.create(config_name="smoke", dataset_snapshot=snapshot, code_version="git:abc")
    ensemble = EnsembleVersion.objects.create(name="e", training_run=run, config={"path": "x"})
    prediction = Prediction.objects.create(image=images["a"], ensemble_version=ensemble)
    body = annotator_client.get(f"/api/predictions/{prediction.pk}/lineage/").json()
    assert body["ensemble_version"]["id"] == ensemble.pk
    assert body["training_run"]["code_version"] == "git:abc"
    assert body["dataset_snapshot"]["id"] == snapshot.pk and body["dataset_snapshot"]["n_images"] == 3
    assert api_client_for(None).get(f"/api/predictions/{prediction.pk}/lineage/").status_code == 401


# --------------------------------------------------------------------------------------------
# API permissions and shapes
# --------------------------------------------------------------------------------------------
def test_only_admins_create_snapshots_reviewers_read_them(images, annotator_client, reviewer_client,
                                                          admin_client_api):
    body = {"name": "api", "view": "AP", "n_folds": 2}
    assert annotator_client.post("/api/datasets/", body, format="json").status_code == 403
    assert reviewer_client.post("/api/datasets/", body, format="json").status_code == 403
    created = admin_client_api.post("/api/datasets/", body, format="json")
    assert created.status_code == 201, created.json()
    snapshot_id = created.json()["id"]
    assert created.json()["n_images"] == 3 and created.json()["created_by"] == "adam"
    assert annotator_client.get("/api/datasets/").status_code == 403
    assert [s["id"] for s in reviewer_client.get("/api/datasets/").json()] == [snapshot_id]
    detail = reviewer_client.get(f"/api/datasets/{snapshot_id}/").json()
    assert {e["image"] for e in detail["entries"]} == {images[k].pk for k in "acg"}
    export = reviewer_client.get(f"/api/datasets/{snapshot_id}/export/")
    assert export.status_code == 200 and export["Content-Type"] == "application/zip"
    assert "snapshot.json" in zipfile.ZipFile(io.BytesIO(b"".join(export.streaming_content))).namelist()
    too_many = admin_client_api.post("/api/datasets/", {**body, "n_folds": 5}, format="json")
    assert too_many.status_code == 400 and too_many.json()["extra"]["code"] == "too_few_patients"


def test_only_admins_retrain_compare_promote_and_roll_back(images, annotator_client, reviewer_client,
                                                           admin_client_api):
    snapshot = dataset_snapshot_create(name="s", view=View.AP, n_folds=2)
    active, candidate = _ensemble("active"), _ensemble("candidate")
    ensemble_promote(ensemble=active, promoted_by=None, repredict=False)
    requests = [
        ("/api/training-runs/start/", {"config": "smoke", "dataset_snapshot": snapshot.pk}),
        (f"/api/ensembles/{candidate.pk}/compare/", {"dataset_snapshot": snapshot.pk}),
        (f"/api/ensembles/{candidate.pk}/promote/", {"reason": "x"}),
        ("/api/ensembles/rollback/", {"view": "AP"}),
    ]
    for url, body in requests:
        for client in (annotator_client, reviewer_client):
            assert client.post(url, body, format="json").status_code == 403, url

    run = admin_client_api.post(requests[0][0], requests[0][1], format="json")
    assert run.status_code == 202 and run.json()["dataset_snapshot"] == snapshot.pk
    both = admin_client_api.post("/api/training-runs/start/", {"config": "smoke", "dataset_snapshot": snapshot.pk,
                                                              "phantoms": 4}, format="json")
    assert both.status_code == 400 and both.json()["extra"]["code"] == "ambiguous_training_data"

    compared = admin_client_api.post(requests[1][0], requests[1][1], format="json")
    assert compared.status_code == 202
    comparison = EnsembleComparison.objects.get(pk=compared.json()["id"])
    assert (comparison.candidate, comparison.baseline, comparison.status) == (candidate, active, RunStatus.QUEUED)
    assert reviewer_client.get(f"/api/comparisons/{comparison.pk}/").status_code == 200
    assert annotator_client.get(f"/api/comparisons/{comparison.pk}/").status_code == 403

    promoted = admin_client_api.post(requests[2][0], {"reason": "better", "comparison": comparison.pk,
                                                      "repredict_image_ids": [images["a"].pk]}, format="json")
    assert promoted.status_code == 200, promoted.json()
    assert promoted.json()["previous_active"] == active.pk and promoted.json()["comparison"] == comparison.pk
    job = RepredictJob.objects.get(pk=promoted.json()["repredict_job"])
    assert job.image_ids == [images["a"].pk] and job.include_pending
    assert reviewer_client.get(f"/api/repredict-jobs/{job.pk}/").json()["status"] == "queued"

    rolled = admin_client_api.post(requests[3][0], requests[3][1], format="json")
    assert rolled.status_code == 200 and rolled.json()["ensemble"] == active.pk
    assert admin_client_api.post(requests[3][0], requests[3][1], format="json").status_code == 409


# --------------------------------------------------------------------------------------------
# Admin pages
# --------------------------------------------------------------------------------------------
def test_admin_creates_snapshots_starts_runs_and_shows_progress(images, admin_site_client):
    page = admin_site_client.get("/admin/training/datasetsnapshot/")
    assert page.status_code == 200 and b"Create snapshot from approved revisions" in page.content
    created = admin_site_client.post("/admin/training/datasetsnapshot/create-from-approved/",
                                     {"name": "admin-made", "view": "AP", "n_folds": 2, "seed": 0})
    assert created.status_code == 302
    snapshot = DatasetSnapshot.objects.get(name="admin-made")
    change = admin_site_client.get(f"/admin/training/datasetsnapshot/{snapshot.pk}/change/")
    assert change.status_code == 200 and b"Retrain from this snapshot" in change.content

    chooser = admin_site_client.post("/admin/training/datasetsnapshot/",
                                     {"action": "retrain", "_selected_action": [snapshot.pk], "index": 0})
    assert chooser.status_code == 200 and b"Start training" in chooser.content
    started = admin_site_client.post("/admin/training/datasetsnapshot/", {
        "action": "retrain", "_selected_action": [snapshot.pk], "config": "tiny", "seed": 1, "apply": "1"})
    assert started.status_code == 302
    run = TrainingRun.objects.get(dataset_snapshot=snapshot)
    assert (run.config_name, run.seed, run.status) == ("tiny", 1, RunStatus.QUEUED)

    TrainingRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, progress={"stage": "train", "fold": 1, "epoch": 2, "epochs": 5, "eta_s": 75},
        loss_history=[{"fold": 0, "member": "unet", "epoch": 1, "loss": 0.9},
                      {"fold": 0, "member": "unet", "epoch": 2, "loss": 0.5}])
    run_page = admin_site_client.get(f"/admin/training/trainingrun/{run.pk}/change/")
    content = run_page.content.decode()
    assert run_page.status_code == 200 and "<svg" in content and "2/5" in content and "1m15s" in content
    assert "Cancel this run" in content
    assert admin_site_client.post(f"/admin/training/trainingrun/{run.pk}/cancel/").status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED


def test_admin_compares_promotes_from_the_comparison_page_and_rolls_back(images, admin_site_client):
    snapshot = dataset_snapshot_create(name="s", view=View.AP, n_folds=2)
    old, candidate = _ensemble("old"), _ensemble("candidate")
    ensemble_promote(ensemble=old, promoted_by=None, repredict=False)
    queued = admin_site_client.post("/admin/training/ensemblelifecycle/", {
        "action": "compare", "_selected_action": [candidate.pk], "dataset_snapshot": snapshot.pk, "apply": "1"})
    assert queued.status_code == 302
    comparison = EnsembleComparison.objects.get(candidate=candidate)
    assert (comparison.baseline, comparison.dataset_snapshot) == (old, snapshot)

    pairs = [[178.0, 177.0], [176.0, 177.5]]
    EnsembleComparison.objects.filter(pk=comparison.pk).update(status=RunStatus.SUCCEEDED, metrics={
        "n_images": 2, "units": {"HKA": "deg"}, "failed": [],
        "candidate": {"ensemble": candidate.pk, "pooled_iou": {"femur": 0.9, "tibia": 0.8},
                      "mean_iou": {"femur": 0.9, "tibia": 0.8}, "keypoints": {"error_px_mean": 3.0},
                      "angles": {"HKA": {"n": 2, "mae": 1.25, "bias": -0.25, "sd": 1.77, "loa_low": -3.7,
                                         "loa_high": 3.2, "pairs": pairs}}}})
    page = admin_site_client.get(f"/admin/training/ensemblecomparison/{comparison.pk}/change/")
    content = page.content.decode()
    assert page.status_code == 200 and "<svg" in content and "HKA MAE" in content and "Promote the candidate" in content
    promoted = admin_site_client.post(f"/admin/training/ensemblecomparison/{comparison.pk}/promote/",
                                      {"reason": "after review", "repredict": "on"})
    assert promoted.status_code == 302
    promotion = EnsemblePromotion.objects.get(ensemble=candidate)
    assert (promotion.comparison, promotion.reason, promotion.previous_active) == (comparison, "after review", old)

    rolled = admin_site_client.post("/admin/training/ensemblelifecycle/", {
        "action": "roll_back", "_selected_action": [candidate.pk], "reason": "MPTA worse in clinic", "apply": "1"})
    assert rolled.status_code == 302
    old.refresh_from_db()
    assert old.status == VersionStatus.ACTIVE
    assert EnsemblePromotion.objects.get(rollback_of=promotion).reason == "MPTA worse in clinic"
    for url in ("/admin/training/ensemblelifecycle/", f"/admin/training/ensemblelifecycle/{candidate.pk}/change/",
                "/admin/training/ensemblepromotion/", "/admin/training/repredictjob/"):
        assert admin_site_client.get(url).status_code == 200, url


def test_admin_pages_refuse_non_admin_staff(images, client, django_user_model):
    from django.contrib.auth.models import Group

    staff = django_user_model.objects.create_user("staffer", password="pw", is_staff=True)
    staff.groups.add(Group.objects.get(name="reviewer"))
    client.force_login(staff)
    assert client.get("/admin/training/datasetsnapshot/create-from-approved/").status_code == 403
    assert not DatasetSnapshot.objects.exists()
