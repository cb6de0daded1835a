"""OpenMMLab adapters: models users trained with mmsegmentation / mmpose, imported and run as members.

The tests that build and run real OpenMMLab models need the optional extra
(``scripts/setup-openmmlab``) and are skipped with that reason without it. Models are built from
the configs bundled with mmseg / mmpose (random weights, few classes) and saved as the checkpoint a
user would bring; they go through the real import -> sha256 -> registry load -> predict path.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from inference.backends.base import ArtifactError, KeypointModel, SegmentationModel  # noqa: E402
from inference.backends.openmmlab import _check_legs, _class_lut, import_artifact, openmmlab_available  # noqa: E402
from inference.backends.registry import BACKENDS, load_member  # noqa: E402
from inference.core.phantom import generate_phantom  # noqa: E402

needs_mmseg = pytest.mark.skipif(not openmmlab_available("mmseg"),
                                 reason="OpenMMLab extra not installed (run scripts/setup-openmmlab)")
needs_mmpose = pytest.mark.skipif(not openmmlab_available("mmpose"),
                                  reason="OpenMMLab extra not installed (run scripts/setup-openmmlab)")


def test_registry_names_the_openmmlab_backends():
    assert {"mmseg", "mmpose"} <= set(BACKENDS)


def test_class_map_becomes_a_lookup_table():
    lut = _class_lut({"3": "femur", "1": "tibia"})
    assert lut.tolist() == [0, 2, 0, 1]
    with pytest.raises(ValueError, match="femur"):
        _class_lut({"1": "patella"})


def test_leg_mapping_is_checked():
    assert _check_legs([{"hip": 0, "knee": 1, "ankle": 2}]) == [{"hip": 0, "knee": 1, "ankle": 2}]
    with pytest.raises(ValueError, match="legs"):
        _check_legs([{"hip": 0, "knee": 1}])


@pytest.mark.skipif(openmmlab_available("mmseg"), reason="the extra is installed here")
def test_without_the_extra_import_says_how_to_install_it(tmp_path: Path):
    (tmp_path / "c.py").write_text("model = {}\n")
    (tmp_path / "w.pth").write_bytes(b"0")
    with pytest.raises(ArtifactError, match="scripts/setup-openmmlab"):
        import_artifact(backend="mmseg", config_path=tmp_path / "c.py", checkpoint_path=tmp_path / "w.pth",
                        out_dir=tmp_path / "artifact", class_map={"1": "femur", "2": "tibia"})


def _phantom_leg() -> np.ndarray:
    phantom = generate_phantom(seed=3, legs=1)
    return phantom.image


def _mim_config(package: str, relative: str) -> Path:
    import importlib

    root = Path(importlib.import_module(package).__file__).parent / ".mim" / "configs"
    return root / relative


def _save_checkpoint(model, path: Path, classes: tuple[str, ...] | None = None) -> None:  # noqa: ANN001
    import torch

    meta = {"dataset_meta": {"classes": classes}} if classes else {}
    torch.save({"state_dict": model.state_dict(), "meta": meta}, path)


def _fastscnn_legs(tmp_path: Path) -> tuple[Path, Path]:
    """A 3-class Fast-SCNN config (from mmseg's own configs) and a randomly initialised checkpoint of it."""
    from mmengine.config import Config
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(_mim_config("mmseg", "fastscnn/fast_scnn_8xb4-160k_cityscapes-512x1024.py"))
    norm = {"type": "BN", "requires_grad": True}
    cfg.model.backbone.norm_cfg = norm
    cfg.model.decode_head.norm_cfg = norm
    cfg.model.decode_head.num_classes = 3
    for head in cfg.model.auxiliary_head:
        head.norm_cfg, head.num_classes = norm, 3
    cfg.model.data_preprocessor.size = None
    cfg.test_pipeline = [{"type": "LoadImageFromFile"}, {"type": "Resize", "scale": (256, 512), "keep_ratio": True},
                         {"type": "PackSegInputs"}]
    config_path = tmp_path / "fastscnn_legs.py"
    cfg.dump(str(config_path))
    _save_checkpoint(MODELS.build(cfg.model), tmp_path / "iter_1.pth", ("background", "femur", "tibia"))
    return config_path, tmp_path / "iter_1.pth"


@needs_mmseg
def test_mmseg_model_imports_loads_and_predicts_a_label_map(tmp_path: Path):
    config_path, _ = _fastscnn_legs(tmp_path)
    manifest = import_artifact(backend="mmseg", config_path=config_path, checkpoint_path=tmp_path / "iter_1.pth",
                               out_dir=tmp_path / "artifact", class_map={"1": "femur", "2": "tibia"})
    model = load_member(tmp_path / "artifact")

    assert manifest["backend"] == "mmseg" and set(manifest["files"]) == {"config.py", "checkpoint.pth"}
    assert isinstance(model, SegmentationModel)
    image = _phantom_leg()
    labels = model.predict(image)
    assert labels.shape == image.shape and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= {0, 1, 2}

    (tmp_path / "artifact" / "checkpoint.pth").write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match="sha256"):
        load_member(tmp_path / "artifact")


@needs_mmpose
def test_mmpose_model_imports_loads_and_predicts_joints_in_image_coordinates(tmp_path: Path):
    from mmengine.config import Config
    from mmpose.registry import MODELS
    from mmpose.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(_mim_config(
        "mmpose", "body_2d_keypoint/topdown_heatmap/coco/td-hm_mobilenetv2_8xb64-210e_coco-256x192.py"))
    cfg.model.backbone.init_cfg = None
    cfg.model.head.out_channels = 3
    config_path = tmp_path / "mobilenet_leg.py"
    cfg.dump(str(config_path))
    _save_checkpoint(MODELS.build(cfg.model), tmp_path / "best.pth")

    import_artifact(backend="mmpose", config_path=config_path, checkpoint_path=tmp_path / "best.pth",
                    out_dir=tmp_path / "artifact", legs=[{"hip": 0, "knee": 1, "ankle": 2}])
    model = load_member(tmp_path / "artifact")

    assert isinstance(model, KeypointModel)
    image = _phantom_leg()
    prediction = model.predict(image)
    assert prediction.joints_xy.shape == (1, 3, 2) and prediction.scores.shape == (1, 3)
    # Image coordinates of the top-down crop: the whole-image box widened to the model's 192:256 input and
    # padded by mmpose's 1.25 (a randomly initialised head may point anywhere inside it, margins included),
    # give or take the decoder's sub-cell refinement (two cells of the 48 x 64 heatmap).
    height, width = image.shape
    box_w, box_h = max(width, height * 192 / 256) * 1.25, max(height, width * 256 / 192) * 1.25
    assert np.all(np.abs(prediction.joints_xy[..., 0] - width / 2) <= box_w / 2 + 2 * box_w / 48)
    assert np.all(np.abs(prediction.joints_xy[..., 1] - height / 2) <= box_h / 2 + 2 * box_h / 64)


@needs_mmseg
@pytest.mark.django_db
def test_import_openmmlab_command_registers_a_candidate_member(tmp_path: Path, settings):
    from django.core.management import call_command

    from inference.models import ModelVersion

    settings.MODEL_STORE = tmp_path / "store"
    config_path, checkpoint = _fastscnn_legs(tmp_path)
    call_command("import_openmmlab", "mmseg", "--config", str(config_path), "--checkpoint", str(checkpoint),
                 "--name", "fastscnn-ours", "--class", "femur=1", "--class", "tibia=2")
    version = ModelVersion.objects.get()
    assert (version.backend, version.kind, version.artifact_path) == ("mmseg", "segmentation",
                                                                      "imported/mmseg-fastscnn-ours")
    model = load_member(settings.MODEL_STORE / version.artifact_path)
    assert model.predict(_phantom_leg()).shape == _phantom_leg().shape
