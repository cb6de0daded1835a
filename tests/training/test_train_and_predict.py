"""End to end on phantoms: train the smoke ensemble, register it, predict from the CLI and through a worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from annotations.services import case_create, image_upload, patient_create
from inference.core.phantom import write_phantom_set
from inference.models import EnsembleVersion, JobStatus, ModelVersion, Prediction, VersionStatus
from tests.workers import celery_worker, wait_for
from training.models import RunStatus, TrainingRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_train_register_predict_cli_and_worker(tmp_path, settings):
    settings.MODEL_STORE = tmp_path / "store"
    data = tmp_path / "phantoms"
    write_phantom_set(data, n=6, seed=7, legs=1)
    call_command("train", "--config", "smoke", "--data", str(data), "--group-pattern", r"^(.*)$")

    run = TrainingRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED and run.progress["stage"] == "done"
    ensemble = EnsembleVersion.objects.get()
    assert ensemble.status == VersionStatus.ACTIVE  # the first ensemble of a view becomes active
    assert ModelVersion.objects.count() == 2 * 4 and ensemble.members.count() == 8
    assert len(ensemble.stackers["femur"]) == 2 and "table_ii" in run.metrics
    for version in ModelVersion.objects.all():
        assert (Path(settings.MODEL_STORE) / version.artifact_path / "manifest.json").is_file()

    out = tmp_path / "out"
    image_path = sorted(data.glob("*.png"))[0]
    call_command("predict", str(image_path), "--out", str(out), "--anatomical-side", "right")
    document = json.loads((out / f"{image_path.stem}.json").read_text())
    alignment = json.loads((out / f"{image_path.stem}.alignment.json").read_text())
    assert {s["label"] for s in document["shapes"]} >= {"hip", "knee", "ankle"}
    assert alignment["image"] == image_path.name and len(alignment["legs"]) == 1
    assert alignment["legs"][0]["anatomical_side"] == "right"
    assert "hka_deviation_deg" in alignment["legs"][0]["metrics"]

    case = case_create(patient=patient_create(code="E2E"))
    with celery_worker(queues="default,inference", extra_env={"MODEL_STORE": str(settings.MODEL_STORE)}):
        image = image_upload(case=case, data=image_path.read_bytes(), filename=image_path.name, uploaded_by=None)
        assert wait_for(lambda: Prediction.objects.filter(image=image, status__in=[JobStatus.SUCCEEDED,
                                                                                 JobStatus.FAILED]).exists(),
                        timeout=240)
    prediction = Prediction.objects.get(image=image)
    assert prediction.status == JobStatus.SUCCEEDED, prediction.error
    assert prediction.alignment["legs"] and set(prediction.timings) >= {"segmentation_members", "alignment", "total"}
    assert set(prediction.uncertainty) == {"joint_sd_px", "hka_sd_deg", "member_disagreement"}
