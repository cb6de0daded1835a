"""The leg localiser network: a killed training run resumes from its last epoch; artifacts load sha256-checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference.backends import leg_localiser
from inference.backends.base import ArtifactError
from tests.inference.backends.resumable import train_killed_then_resumed


def test_training_resumes_after_a_kill_and_the_artifact_loads(phantom_landmark_samples: list, tmp_path: Path) -> None:
    samples = phantom_landmark_samples
    resumed = train_killed_then_resumed(leg_localiser.train, tmp_path, leg_localiser.CHECKPOINT_FILE,
                                        samples=samples, epochs=3, batch_size=2)
    assert [e["epoch"] for e in resumed] == [2, 3]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert len(manifest["history"]) == 3

    model = leg_localiser.load(tmp_path)
    heatmaps, _box = model.heatmaps(samples[1].image)
    assert heatmaps.shape == (4, leg_localiser.INPUT_SIZE[0] // leg_localiser.STRIDE,
                              leg_localiser.INPUT_SIZE[1] // leg_localiser.STRIDE)
    assert np.all((heatmaps >= 0) & (heatmaps <= 1))
    model.localise(samples[1].image)  # decodes whatever it found, without error

    (tmp_path / leg_localiser.WEIGHTS_FILE).write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match="sha256"):
        leg_localiser.load(tmp_path)


def test_letterbox_maps_points_back() -> None:
    image = np.zeros((3000, 1000), dtype=np.uint8)
    canvas, box = leg_localiser.letterbox(image)
    assert canvas.shape == leg_localiser.INPUT_SIZE
    point = np.array([[400.0, 2100.0]])
    cells = box.to_input(point) / leg_localiser.STRIDE
    np.testing.assert_allclose(box.cells_to_original(cells), point, atol=1e-6)
