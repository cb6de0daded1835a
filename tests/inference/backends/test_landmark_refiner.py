"""The landmark refiner: a killed training run resumes, the artifact loads sha256-checked, refinement maps back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference.backends import landmark_refiner
from inference.backends.base import ArtifactError
from inference.backends.leg_localiser import LocaliserSample
from inference.core.landmark_patches import PATCH_PIXELS
from inference.core.leg_localisation import Localisation, LocalisedLeg, leg_box
from tests.inference.backends.resumable import train_killed_then_resumed


def test_training_resumes_after_a_kill_and_the_artifact_loads(phantom_landmark_samples: list, tmp_path: Path) -> None:
    samples = phantom_landmark_samples
    resumed = train_killed_then_resumed(landmark_refiner.train, tmp_path, landmark_refiner.CHECKPOINT_FILE,
                                        samples=samples, epochs=3, batch_size=4)
    assert [e["epoch"] for e in resumed] == [2, 3]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert len(manifest["history"]) == 3 and manifest["n_landmarks"] == 6  # 1 + 2 legs, apex and ankle each
    assert landmark_refiner.finished(tmp_path)

    refiner = landmark_refiner.load(tmp_path)
    image = samples[1].image
    legs = []
    for (side, (apex, ankle)), image_side in zip(sorted(samples[1].legs.items(), reverse=True), ("left", "right"),
                                                 strict=True):
        apex, ankle = np.add(apex, (6.0, -4.0)), np.add(ankle, (-5.0, 3.0))  # a localiser a few pixels off
        legs.append(LocalisedLeg(side, image_side, tuple(apex), tuple(ankle), leg_box(apex, ankle), 0.9))
    refined = refiner.refine(image, Localisation(tuple(legs), ("a flag",)))
    assert refined.flags == ("a flag",) and [leg.anatomical_side for leg in refined.legs] == ["right", "left"]
    for before, after in zip(legs, refined.legs, strict=True):
        length = np.hypot(*np.subtract(before.ankle_xy, before.apex_xy))
        for old, new in ((before.apex_xy, after.apex_xy), (before.ankle_xy, after.ankle_xy)):
            # Three epochs teach little, but the answer must stay inside the patch around the coarse point.
            assert np.all(np.abs(np.subtract(new, old)) <= 0.05 * length * landmark_refiner.PASSES)
        assert after.box_xyxy == leg_box(np.array(after.apex_xy), np.array(after.ankle_xy))

    points = refiner.points([np.zeros((PATCH_PIXELS, PATCH_PIXELS), np.uint8)] * 2, ["apex", "ankle"])
    assert points.shape == (2, 2) and np.all((points >= 0) & (points <= PATCH_PIXELS - 1))

    (tmp_path / landmark_refiner.WEIGHTS_FILE).write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match="sha256"):
        landmark_refiner.load(tmp_path)


def test_refining_no_legs_changes_nothing(phantom_landmark_samples: list, tmp_path: Path) -> None:
    samples = phantom_landmark_samples
    landmark_refiner.train(samples[:1], out_dir=tmp_path, epochs=1, batch_size=2)
    empty = Localisation((), ("outside",))
    assert landmark_refiner.load(tmp_path).refine(samples[0].image, empty) is empty


def test_training_without_landmarks_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no landmarks"):
        landmark_refiner.train([LocaliserSample("empty", np.zeros((64, 32), np.uint8), {})], out_dir=tmp_path)
