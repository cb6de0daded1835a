"""The leg localiser network: a killed training run resumes from its last epoch; artifacts load sha256-checked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inference.backends import leg_localiser
from inference.backends.base import ArtifactError
from inference.core.phantom import generate_phantom
from training.core.leg_samples import phantom_leg_truths


class _Killed(Exception):
    pass


@pytest.fixture(scope="module")
def samples() -> list[leg_localiser.LocaliserSample]:
    out = []
    for seed, legs in ((1, 1), (2, 2)):
        phantom = generate_phantom(seed=seed, legs=legs)
        out.append(leg_localiser.LocaliserSample(phantom.stem, phantom.image, {
            t.anatomical_side: (t.apex_xy, t.ankle_xy) for t in phantom_leg_truths(phantom)}))
    return out


def test_training_resumes_after_a_kill_and_the_artifact_loads(samples, tmp_path) -> None:  # noqa: ANN001
    events: list[dict] = []

    def killed_after_first_epoch(event: dict) -> None:
        events.append(event)
        raise _Killed  # the worker dies right after epoch 1 was checkpointed

    with pytest.raises(_Killed):
        leg_localiser.train(samples, out_dir=tmp_path, epochs=3, batch_size=2, progress=killed_after_first_epoch)
    assert (tmp_path / leg_localiser.CHECKPOINT_FILE).is_file() and not (tmp_path / "manifest.json").exists()

    resumed: list[dict] = []
    leg_localiser.train(samples, out_dir=tmp_path, epochs=3, batch_size=2, progress=resumed.append)
    assert [e["epoch"] for e in events] == [1] and [e["epoch"] for e in resumed] == [2, 3]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert len(manifest["history"]) == 3 and not (tmp_path / leg_localiser.CHECKPOINT_FILE).exists()

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
