"""Issue 15 item 3: SAM re-tuned from approved work.

A snapshot of phantom radiographs with approved outlines -> ``POST /api/sam/tuning-runs/`` -> a real worker
on the ``training`` queue embeds and tunes, and is killed (SIGKILL) after its first checkpointed epoch -> the
redelivered task resumes from the checkpoint, evaluates candidate and active weights on the held-out fold ->
promote (every ``get_segmenter`` now loads the candidate) -> roll back (the shipped file again). Plus the
API's permissions and validation errors, on the database only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from annotations.models import RevisionSource
from annotations.services import annotation_revision_submit, case_create, image_upload, patient_create
from inference.core.phantom import generate_phantom
from inference.models import ModelKind, ModelVersion, VersionStatus
from tests.conftest import api_client_for, labelme_document, png_bytes
from tests.workers import celery_worker, wait_for
from training.models import RunStatus, SamPromotion, TrainingRun
from training.snapshots import dataset_snapshot_create

PROMPTS = {"box", "click", "box+click", "leg box"}
STATS = {"n", "mean", "median", "p10", "p90"}


def _approved(code: str, data: bytes, document: dict, name: str = "leg.png"):  # noqa: ANN202
    image = image_upload(case=case_create(patient=patient_create(code=code)), data=data, filename=name,
                         uploaded_by=None)
    annotation_revision_submit(image=image, document=document, base_revision_id=None,
                               source=RevisionSource.IMPORTED, author=None)
    return image


def _png(pixels) -> bytes:  # noqa: ANN001
    import io

    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _phantom_snapshot():  # noqa: ANN202
    """Three one-leg phantoms and a bilateral one, each its own patient, approved; 2 folds of 2 images."""
    for seed, legs in ((31, 1), (32, 1), (33, 1), (34, 2)):
        phantom = generate_phantom(seed=seed, legs=legs)
        _approved(f"SAM-{seed}", _png(phantom.image), phantom.labelme, name=f"{phantom.stem}.png")
    return dataset_snapshot_create(name="approved phantoms", n_folds=2, seed=0)


# --------------------------------------------------------------------------------------------------
# The loop, with a real worker


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_tune_kill_resume_compare_promote_roll_back(tmp_path, settings, admin_site_client, django_user_model):
    from inference.sam import registry
    from training.tasks import sam_tuning_run_execute

    settings.MODEL_STORE = tmp_path / "store"
    api = api_client_for(django_user_model.objects.get(username="root"))
    snapshot = _phantom_snapshot()
    shipped = registry.shipped_bone_weights().sha256
    assert api.get("/api/sam/models/").json()["bone_weights"] == {
        "source": "shipped", "path": "models/sam/litemedsam_bone/litemedsam_bone.pt", "sha256": shipped,
        "model_version": None, "training_run": None}

    with celery_worker(queues="training") as worker:
        started = api.post("/api/sam/tuning-runs/", {"snapshot": snapshot.pk, "epochs": 3, "batch_size": 2,
                                                     "examples_per_image": 1}, format="json")
        assert started.status_code == 202, started.content
        run = TrainingRun.objects.get(pk=started.json()["id"])
        assert (run.config_name, run.config["holdout_fold"], run.config["tune"]["epochs"]) == ("sam_bone", 1, 3)
        assert run.config["train_images"] + run.config["heldout_images"] == 4
        assert run.config["train_legs"] + run.config["heldout_legs"] == 5
        checkpoint = Path(settings.MODEL_STORE) / "sam" / str(run.pk) / "train" / "checkpoint.pt"

        def first_epoch_recorded() -> bool:  # written to the row right after the checkpoint file
            return bool(TrainingRun.objects.values_list("loss_history", flat=True).get(pk=run.pk))

        assert wait_for(first_epoch_recorded, timeout=900, interval=0.05), TrainingRun.objects.get(pk=run.pk).log
        assert checkpoint.is_file()
        worker.kill()  # SIGKILL after the first checkpointed epoch: no ack, the run is left running
        worker.wait()
    killed = TrainingRun.objects.get(pk=run.pk)
    assert killed.status == RunStatus.RUNNING and killed.progress["stage"] in {"train", "export", "evaluate"}
    assert killed.loss_history and killed.loss_history[0]["epoch"] == 1
    assert "embedded 4/4 " in killed.log and "epoch 1/3: loss" in killed.log

    # The message a killed worker held is redelivered (acks_late, reject_on_worker_lost): run it as a worker would.
    assert sam_tuning_run_execute(str(run.pk)) == RunStatus.SUCCEEDED
    run.refresh_from_db()
    assert "resumed by a redelivered task" in run.log and "resumed after epoch" in run.log, run.log
    assert [row["epoch"] for row in run.loss_history] == [1, 2, 3]
    assert all(row["loss"] > 0 for row in run.loss_history)
    assert run.progress["stage"] == "done" and run.code_version

    sam = run.metrics["sam"]
    assert (sam["holdout_fold"], sam["train_images"], sam["heldout_images"]) == (1, 2, 2)
    for role in ("candidate", "active"):
        assert set(sam[role]["iou"]) == {"femur", "tibia"}
        for bone in ("femur", "tibia"):
            assert set(sam[role]["iou"][bone]) == PROMPTS
            for stats in sam[role]["iou"][bone].values():
                assert set(stats) == STATS and stats["n"] == sam["heldout_legs"]
                assert 0.0 <= stats["p10"] <= stats["median"] <= 1.0 and 0.0 <= stats["mean"] <= 1.0
    # The shipped model outlines a phantom bone from a box well; tuning 3 small steps keeps it a bone model.
    assert sam["active"]["iou"]["tibia"]["box"]["mean"] > 0.6
    assert sam["candidate"]["iou"]["tibia"]["box"]["mean"] > 0.5
    assert sam["active"]["weights"]["sha256"] == shipped == sam["init_weights"]["sha256"]

    resumed_at = next(line for line in run.log.splitlines() if line.startswith("resumed after epoch"))
    print(f"\nSAM tuning run {run.pk}: {resumed_at.split(' from ')[0]}; held-out IoU (mean, "
          f"{sam['heldout_legs']} legs) candidate / active: " + ", ".join(
              f"{bone} {prompt} {sam['candidate']['iou'][bone][prompt]['mean']:.3f} / "
              f"{sam['active']['iou'][bone][prompt]['mean']:.3f}" for bone in ("femur", "tibia")
              for prompt in ("box", "click")))
    weights = Path(settings.MODEL_STORE) / sam["candidate"]["weights"]["path"]
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert sam["candidate"]["weights"] == {"path": f"sam/{run.pk}/litemedsam_bone.pt", "sha256": digest}
    assert weights.with_name("litemedsam_bone.pt.sha256").read_text().split() == [digest, "litemedsam_bone.pt"]
    candidate = ModelVersion.objects.get(training_run=run)
    assert (candidate.kind, candidate.backend, candidate.status, candidate.sha256) == (
        ModelKind.PROMPTABLE, "litemedsam_bone", VersionStatus.CANDIDATE, digest)
    detail = api.get(f"/api/sam/tuning-runs/{run.pk}/").json()
    assert detail["candidate"] == {"model_version": candidate.pk, "path": candidate.artifact_path, "sha256": digest,
                                   "status": "candidate"}
    assert detail["metrics"]["sam"]["candidate"]["iou"]["femur"]["box"]["n"] == sam["heldout_legs"]

    page = admin_site_client.get(f"/admin/training/trainingrun/{run.pk}/change/").content.decode()
    assert 'id="run-sam-comparison"' in page and "Promote these SAM weights" in page and "leg box" in page

    # Promote: every process's next get_segmenter loads the candidate, sha256-checked.
    assert registry.get_segmenter("litemedsam_bone").tuned_id == shipped
    promoted = api.post(f"/api/sam/tuning-runs/{run.pk}/promote/", {"reason": "better on the held-out fold"},
                        format="json")
    assert promoted.status_code == 200, promoted.content
    assert promoted.json()["weights"] == candidate.pk and promoted.json()["previous"] is None
    assert promoted.json()["sha256"] == digest and promoted.json()["promoted_by"] == "root"
    tuned = registry.get_segmenter("litemedsam_bone")
    assert tuned.tuned_id == digest and registry.get_segmenter("litemedsam_bone") is tuned
    bone_weights = api.get("/api/sam/models/").json()["bone_weights"]
    assert (bone_weights["source"], bone_weights["sha256"], bone_weights["training_run"]) == (
        "tuned", digest, str(run.pk))
    assert api.post(f"/api/sam/tuning-runs/{run.pk}/promote/", {}, format="json").status_code == 409
    page = admin_site_client.get(f"/admin/training/trainingrun/{run.pk}/change/").content.decode()
    assert "Roll back the SAM weights" in page and "every SAM worker uses them" in page

    # Roll back: the shipped file again; nothing further to undo.
    rolled = api.post("/api/sam/rollback/", {"reason": "clicks worse"}, format="json")
    assert rolled.status_code == 200, rolled.content
    assert (rolled.json()["weights"], rolled.json()["previous"], rolled.json()["sha256"]) == (
        None, candidate.pk, shipped)
    assert rolled.json()["rollback_of"] == promoted.json()["id"]
    assert registry.get_segmenter("litemedsam_bone").tuned_id == shipped
    assert ModelVersion.objects.get(pk=candidate.pk).status == VersionStatus.RETIRED
    again = api.post("/api/sam/rollback/", {}, format="json")
    assert again.status_code == 409 and again.json()["extra"]["code"] == "nothing_to_roll_back"
    assert [p["id"] for p in api.get("/api/sam/promotions/").json()] == [rolled.json()["id"], promoted.json()["id"]]
    assert SamPromotion.objects.count() == 2


# --------------------------------------------------------------------------------------------------
# Permissions and validation (database only; nothing is queued: the test's transaction never commits)


def _smaller_fold(snapshot) -> int:  # noqa: ANN001
    """The fold of a 3-patient, 2-fold snapshot that holds one image (the other holds two)."""
    folds = list(snapshot.entries.values_list("fold", flat=True))
    return min((0, 1), key=folds.count)


@pytest.fixture
def small_snapshot(db):
    """Two patients with approved outlines on small random images: one training image per fold."""
    for seed in (1, 2):
        _approved(f"S-{seed}", png_bytes(seed=seed), labelme_document())
    return dataset_snapshot_create(name="two", n_folds=2)


def test_only_admins_start_and_follow_tuning_runs(small_snapshot, annotator_client, reviewer_client,
                                                  admin_client_api):
    body = {"snapshot": small_snapshot.pk}
    for client in (annotator_client, reviewer_client):
        assert client.post("/api/sam/tuning-runs/", body, format="json").status_code == 403
        assert client.post("/api/sam/rollback/", {}, format="json").status_code == 403
        assert client.get("/api/sam/tuning-runs/").status_code == 403
    assert api_client_for(None).post("/api/sam/tuning-runs/", body, format="json").status_code in {401, 403}
    models = annotator_client.get("/api/sam/models/").json()
    assert models["bone_weights"]["source"] == "shipped" and models["default"] == "litemedsam_bone"


@pytest.mark.parametrize(("body", "status", "text"), [
    ({}, 400, "snapshot"),
    ({"snapshot": 999999}, 400, "snapshot"),
    ({"epochs": 0}, 400, "epochs"),
    ({"epochs": 1000}, 400, "epochs"),
    ({"holdout_fold": 2}, 400, "holdout_fold must be between 0 and 1"),
    ({"holdout_fold": 0}, 400, "tuning needs at least 2"),
])
def test_bad_tuning_requests_are_clear_400s(small_snapshot, admin_client_api, body, status, text):
    payload = {"snapshot": small_snapshot.pk, **body} if body else {}
    if body.get("snapshot") == 999999:
        payload = body
    response = admin_client_api.post("/api/sam/tuning-runs/", payload, format="json")
    assert response.status_code == status, response.content
    assert text in response.content.decode()
    assert not TrainingRun.objects.exists()


def test_a_snapshot_whose_outlines_make_no_legs_is_refused(db, admin_client_api):
    two_femurs = labelme_document()
    two_femurs["shapes"].append({**two_femurs["shapes"][0], "points": [[45, 5], [60, 5], [60, 60], [45, 60]]})
    for seed in (1, 2, 3):
        _approved(f"L-{seed}", png_bytes(seed=seed), two_femurs if seed == 2 else labelme_document())
    snapshot = dataset_snapshot_create(name="bad", n_folds=2)
    response = admin_client_api.post("/api/sam/tuning-runs/", {"snapshot": snapshot.pk}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["extra"]["code"] == "no_bone_outlines"
    assert "2 femur and 1 tibia outlines without group_id" in body["message"]
    assert [problem["image"] for problem in body["extra"]["images"]] == [
        entry.image_id for entry in snapshot.entries.all() if entry.patient_code == "L-2"]


def test_a_queued_run_cannot_be_promoted_and_nothing_rolls_back(small_snapshot, admin_client_api):
    _approved("S-3", png_bytes(seed=3), labelme_document())
    snapshot = dataset_snapshot_create(name="three", n_folds=2)
    started = admin_client_api.post("/api/sam/tuning-runs/",
                                    {"snapshot": snapshot.pk, "holdout_fold": _smaller_fold(snapshot)}, format="json")
    assert started.status_code == 202, started.content
    run_id = started.json()["id"]
    assert started.json()["status"] == "queued" and started.json()["candidate"] is None
    promote = admin_client_api.post(f"/api/sam/tuning-runs/{run_id}/promote/", {}, format="json")
    assert promote.status_code == 409 and promote.json()["extra"]["code"] == "run_not_succeeded"
    rollback = admin_client_api.post("/api/sam/rollback/", {"reason": "x"}, format="json")
    assert rollback.status_code == 409 and rollback.json()["extra"]["code"] == "nothing_to_roll_back"
    listed = admin_client_api.get("/api/sam/tuning-runs/").json()
    assert [run["id"] for run in listed] == [run_id]


def test_admin_action_and_page_start_a_tuning_run(small_snapshot, admin_site_client):
    _approved("S-3", png_bytes(seed=3), labelme_document())
    snapshot = dataset_snapshot_create(name="three", n_folds=2)
    page = admin_site_client.get(f"/admin/training/datasetsnapshot/{snapshot.pk}/change/").content.decode()
    assert "Tune SAM on this snapshot" in page
    fold = _smaller_fold(snapshot)
    response = admin_site_client.post("/admin/training/datasetsnapshot/", {
        "action": "tune_sam", "_selected_action": [snapshot.pk], "apply": "1", "epochs": 2, "seed": 0,
        "holdout_fold": fold})
    run = TrainingRun.objects.get(config_name="sam_bone")
    assert response.status_code == 302 and response["Location"].endswith(f"/trainingrun/{run.pk}/change/")
    assert (run.dataset_snapshot_id, run.config["tune"]["epochs"], run.config["holdout_fold"]) == (
        snapshot.pk, 2, fold)
    refused = admin_site_client.post(f"/admin/training/datasetsnapshot/{small_snapshot.pk}/tune-sam/",
                                     {"epochs": 2, "seed": 0}, follow=True)
    assert "tuning needs at least 2" in refused.content.decode()
