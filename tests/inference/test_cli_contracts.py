"""The command-line contracts of architecture.md §6: phantom and align (keys exactly as specified)."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

LEG_KEYS = {"image_side", "anatomical_side", "joints", "metrics", "landmarks", "flags"}
METRICS = {"hka_deviation_deg", "HKA", "NSA", "mLDFA", "aLDFA", "mLPFA", "MPTA", "mLDTA", "JLCA", "AMA", "MAD",
           "femoral_cora_deg", "tibial_cora_deg", "leg_length", "femur_length", "tibia_length"}
LANDMARKS = {"femoral_head_apex", "medial_knee_joint_line", "lateral_knee_joint_line"}


@pytest.mark.parametrize("legs", [1, 2])
def test_phantom_then_align_reproduces_the_truth(tmp_path, legs):
    call_command("phantom", "--n", "2", "--out", str(tmp_path), "--seed", "11", "--legs", str(legs))
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert len(truth) == 2
    for stem, expected in truth.items():
        assert (tmp_path / f"{stem}.png").is_file()
        document = json.loads((tmp_path / f"{stem}.json").read_text())
        assert document["imageData"] is None and document["imagePath"] == f"{stem}.png"
        assert (document["imageWidth"], document["imageHeight"]) == ((1024, 2048) if legs == 2 else (512, 1024))
        out = tmp_path / f"{stem}.alignment.json"
        call_command("align", str(tmp_path / f"{stem}.json"), "--out", str(out))
        result = json.loads(out.read_text())
        assert set(result) == {"image", "width", "height", "pixel_spacing_mm", "legs", "lld"}
        assert set(expected) == set(result)
        assert len(result["legs"]) == legs
        for measured, built in zip(result["legs"], expected["legs"], strict=True):
            assert LEG_KEYS <= set(measured) and METRICS == set(measured["metrics"])
            assert measured["image_side"] == built["image_side"]
            assert measured["anatomical_side"] == built["anatomical_side"]
            deviation = measured["metrics"]["hka_deviation_deg"]
            assert {"value", "sd", "p2_5", "p97_5"} <= set(deviation)
            assert deviation["value"] == pytest.approx(built["metrics"]["hka_deviation_deg"]["value"], abs=0.3)
            assert measured["metrics"]["MAD"]["unit"] == "px"
            assert set(measured["landmarks"]) == LANDMARKS and all(measured["landmarks"].values())
            assert measured["metrics"]["leg_length"]["unit"] == "px" and measured["metrics"]["leg_length"]["value"] > 0
        if legs == 2:
            assert result["lld"]["unit"] == "px"


def test_align_prints_json_and_rejects_garbage(tmp_path, capsys):
    call_command("phantom", "--n", "1", "--out", str(tmp_path), "--seed", "5", "--legs", "1")
    stem = next(iter(json.loads((tmp_path / "truth.json").read_text())))
    capsys.readouterr()
    call_command("align", str(tmp_path / f"{stem}.json"), "--pixel-spacing", "0.5")
    printed = json.loads(capsys.readouterr().out)
    assert printed["pixel_spacing_mm"] == 0.5
    assert printed["legs"][0]["metrics"]["MAD"]["unit"] == "mm"
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2, 3]")
    with pytest.raises(CommandError):
        call_command("align", str(bad))
