"""The starter shipped in models/starter: registered once, active on a fresh install, and `predict` with it
reads a bilateral radiograph as two legs with their patient sides, lengths and LLD."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from inference.core.phantom import write_phantom_set
from inference.models import EnsembleVersion, VersionStatus
from inference.starter import STARTER_DIR, starter_ensemble_register
from tests.conftest import shared_data_dir

pytestmark = pytest.mark.django_db


def test_starter_is_registered_once_and_activated(settings, tmp_path) -> None:
    settings.MODEL_STORE = str(tmp_path / "store")
    first = starter_ensemble_register()
    again = starter_ensemble_register()
    assert first.pk == again.pk and EnsembleVersion.objects.count() == 1
    assert first.status == VersionStatus.ACTIVE and first.config["input_mode"] == "leg_crops"
    manifest = json.loads((STARTER_DIR / "ensemble.json").read_text())
    n_members = sum(len(f["segmentation"]) + len(f["keypoint"]) for f in manifest["folds"])
    assert first.members.count() == n_members
    assert (tmp_path / "store" / first.config["path"] / "localiser" / "weights.pt").is_file()


def test_predict_without_an_active_ensemble_uses_the_starter_on_both_legs(settings, tmp_path) -> None:
    settings.MODEL_STORE = str(tmp_path / "store")
    write_phantom_set(tmp_path / "in", n=1, seed=2028, legs=2)
    image = next((tmp_path / "in").glob("*.png"))
    call_command("predict", str(image), "--out", str(tmp_path / "out"), "--pixel-spacing", "0.4")
    result = json.loads((tmp_path / "out" / f"{image.stem}.alignment.json").read_text())
    assert [(leg["image_side"], leg["anatomical_side"]) for leg in result["legs"]] == [("left", "right"),
                                                                                       ("right", "left")]
    for leg in result["legs"]:
        assert leg["metrics"]["hka_deviation_deg"]["value"] is not None
        assert leg["metrics"]["leg_length"]["unit"] == "mm" and leg["metrics"]["leg_length"]["value"] > 300
        assert leg["landmarks"]["femoral_head_apex"][1] < leg["joints"]["hip"][1]
    assert result["lld"]["unit"] == "mm"
    document = json.loads((tmp_path / "out" / f"{image.stem}.json").read_text())
    assert {s["label"] for s in document["shapes"]} == {"femur", "tibia", "hip", "knee", "ankle", "femoral_head_apex"}
    # `align` of the written document gives the numbers `predict` printed (the document carries its measurement).
    call_command("align", str(tmp_path / "out" / f"{image.stem}.json"), "--out", str(tmp_path / "again.json"),
                 "--pixel-spacing", "0.4")
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["legs"] == result["legs"] and again["lld"] == result["lld"]


@pytest.mark.skipif(not (shared_data_dir() / "dicom" / "RG3_UNCR.dcm").is_file(), reason="../shared/data absent")
def test_an_ankle_radiograph_is_outside_intended_use(settings, tmp_path, capsys) -> None:
    settings.MODEL_STORE = str(tmp_path / "store")
    call_command("predict", str(shared_data_dir() / "dicom" / "RG3_UNCR.dcm"), "--out", str(tmp_path))
    result = json.loads((tmp_path / "RG3_UNCR.alignment.json").read_text())
    assert result["legs"] == [] and result["lld"] is None
    assert "outside_intended_use" in capsys.readouterr().out
