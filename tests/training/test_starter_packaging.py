"""Packaging the starter (``build_starter``'s last step): float16 artifacts, checksums, the hand-written model
card kept across rebuilds and nothing stale left behind."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from inference.backends.base import sha256_file  # noqa: E402
from inference.starter import STARTER_DIR  # noqa: E402
from training.starter import MODEL_CARD, package_starter  # noqa: E402


def test_repackaging_keeps_the_model_card_and_writes_checksums(tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "starter"
    out.mkdir()
    (out / MODEL_CARD).write_text("# card\n")
    (out / "stale.txt").write_text("from an older build")
    manifest = package_starter(STARTER_DIR, STARTER_DIR / "localiser", out,
                               refiner_dir=STARTER_DIR / "landmark_refiner", evaluation={"note": "test"})

    assert (out / MODEL_CARD).read_text() == "# card\n" and not (out / "stale.txt").exists()
    assert manifest["input_mode"] == "leg_crops" and manifest["localiser"] == "localiser"
    assert manifest["landmark_refiner"] == "landmark_refiner" and (out / "landmark_refiner" / "weights.pt").is_file()
    assert manifest["inference_options"]["ankle_from_landmarks"] == 1.0
    assert json.loads((out / "ensemble.json").read_text())["evaluation"]["note"] == "test"
    sums = dict(line.split("  ")[::-1] for line in (out / "SHA256SUMS").read_text().splitlines())
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {"SHA256SUMS", MODEL_CARD}
    assert set(sums) == files and all(sha256_file(out / name) == digest for name, digest in sums.items())
    member = json.loads((out / "fold0" / "segmentation-smp-Unet" / "manifest.json").read_text())
    assert member["stored_dtype"] == "float16"


def test_packaging_without_a_refiner_leaves_no_reference_to_one(tmp_path) -> None:  # noqa: ANN001
    manifest = package_starter(STARTER_DIR, STARTER_DIR / "localiser", tmp_path / "starter")
    assert "landmark_refiner" not in manifest and not (tmp_path / "starter" / "landmark_refiner").exists()
    assert "ankle_from_landmarks" not in manifest["inference_options"]
