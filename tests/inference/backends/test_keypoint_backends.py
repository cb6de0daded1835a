"""Key-point member backends: crop geometry, heatmap coding, YOLO-pose and heatmap train/save/load."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from inference.backends.base import ArtifactError, MemberSpec
from inference.backends.keypoint_common import (
    box_transform,
    decode_heatmaps,
    encode_heatmaps,
    expand_boxes,
    leg_boxes_from_label_map,
    sample_leg_boxes,
    warp_image,
)
from inference.core.legs import FEMUR, TIBIA
from training.core.datasets import TrainingSample

JOINTS = np.array([[30.5, 24.25], [32.0, 124.5], [33.75, 226.0]])


def tiny_sample(seed: int, *, shift: int = 0) -> TrainingSample:
    """A 64 x 256 single-leg image: bright femur and tibia bars, joints on their ends."""
    rng = np.random.default_rng(seed)
    lm = np.zeros((256, 64), np.uint8)
    lm[16:122, 22 + shift : 40 + shift] = FEMUR
    lm[126:232, 24 + shift : 42 + shift] = TIBIA
    image = (rng.normal(40, 8, lm.shape) + 120 * (lm > 0)).clip(0, 255).astype(np.uint8)
    joints = JOINTS + np.array([shift, 0.0])
    return TrainingSample(f"p{seed}_1x1", image, lm, joints[None], group=f"p{seed}")


# --------------------------------------------------------------------------------------------------
# Geometry (no torch)


def test_stretch_transform_maps_box_corners_to_input_corners_and_back() -> None:
    tf = box_transform([10.0, 20.0, 30.0, 120.0], input_size=(64, 16), mode="stretch")
    corners = np.array([[10.0, 20.0], [30.0, 120.0], [20.0, 70.0]])
    np.testing.assert_allclose(tf.to_input(corners), [[0, 0], [16, 64], [8, 32]], atol=1e-12)
    np.testing.assert_allclose(tf.to_image(tf.to_input(corners)), corners, atol=1e-12)


def test_letterbox_transform_keeps_aspect_and_centres() -> None:
    tf = box_transform([0.0, 0.0, 10.0, 100.0], input_size=(64, 64), mode="letterbox")
    np.testing.assert_allclose(tf.matrix, np.diag([0.64, 0.64]), atol=1e-12)
    np.testing.assert_allclose(
        tf.to_input(np.array([[0.0, 0.0], [10.0, 100.0]])), [[28.8, 0.0], [35.2, 64.0]], atol=1e-12
    )
    rot = box_transform([0.0, 0.0, 10.0, 100.0], input_size=(64, 64), mode="letterbox", rotation_deg=17.0, flip=True)
    pts = np.random.default_rng(0).uniform(0, 100, (5, 2))
    np.testing.assert_allclose(rot.to_image(rot.to_input(pts)), pts, atol=1e-9)
    np.testing.assert_allclose(rot.to_input(np.array([5.0, 50.0])), [32.0, 32.0], atol=1e-12)
    with pytest.raises(ValueError):
        box_transform([0, 0, 0, 10], input_size=(32, 32))


def test_warp_image_is_exact_for_linear_intensity() -> None:
    """Bilinear resampling of a ramp equals the ramp at each input pixel's preimage."""
    h, w = 120, 80
    xx = np.tile(np.arange(w) + 0.5, (h, 1))
    ramp = np.round(xx * 2).astype(np.uint8)  # value = 2 x (exact, < 256)
    tf = box_transform([20.0, 30.0, 52.0, 94.0], input_size=(32, 32), mode="stretch", rotation_deg=7.0, flip=True)
    out = warp_image(ramp, tf)
    jj, ii = np.meshgrid(np.arange(32) + 0.5, np.arange(32) + 0.5)
    pre = tf.to_image(np.stack([jj.ravel(), ii.ravel()], axis=1))
    np.testing.assert_allclose(out.ravel(), 2 * pre[:, 0], atol=1e-3)


def test_heatmap_encode_decode_round_trip() -> None:
    pts = np.array([[13.3, 41.7], [18.9, 22.6], [np.nan, 3.0]])
    hm, ok = encode_heatmaps(pts, heatmap_size=(16, 8), stride=4, sigma=1.5)
    assert hm.shape == (3, 16, 8) and ok.tolist() == [1.0, 1.0, 0.0]
    assert hm[2].max() == 0.0
    dec, score = decode_heatmaps(hm[:2], stride=4, mode="dark", sigma=1.5)
    np.testing.assert_allclose(dec, pts[:2], atol=0.05)
    # Grid positions (u, v) = (2.825, 9.925) and (4.225, 5.15): best cells (3, 10) and (4, 5).
    arg, _ = decode_heatmaps(hm[:2], stride=4, mode="argmax")
    np.testing.assert_allclose(arg, [[14.0, 42.0], [18.0, 22.0]])
    quarter, _ = decode_heatmaps(hm[:2], stride=4, mode="quarter")
    np.testing.assert_allclose(quarter, [[13.0, 41.0], [19.0, 23.0]])
    assert score[0] == pytest.approx(hm[0].max())


def test_leg_boxes_from_label_map_and_margin() -> None:
    s = tiny_sample(0)
    np.testing.assert_array_equal(leg_boxes_from_label_map(s.label_map), [[22, 16, 42, 232]])
    np.testing.assert_array_equal(sample_leg_boxes(s), [[22, 16, 42, 232]])
    np.testing.assert_allclose(
        expand_boxes(np.array([[22.0, 16.0, 42.0, 232.0]]), margin_frac=0.05, width=64, height=256),
        [[20.0, 5.2, 44.0, 242.8]],
    )
    both = np.concatenate([s.label_map, s.label_map[:, ::-1]], axis=1)
    np.testing.assert_array_equal(leg_boxes_from_label_map(both), [[22, 16, 42, 232], [86, 16, 106, 232]])


# --------------------------------------------------------------------------------------------------
# Heatmap backend


@pytest.fixture(scope="module")
def torch_ready():
    torch = pytest.importorskip("torch")
    pytest.importorskip("timm")
    torch.set_num_threads(2)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return torch


HM_PARAMS = {
    "global_input_size": [64, 32],
    "local_input_size": [32, 32],
    "head_channels": 16,
    "epochs": 1,
    "batch_size": 2,
}


@pytest.mark.parametrize("architecture", ["simplebaseline-test_resnet", "fpn-test_resnet"])
def test_heatmap_member_train_save_load_predict(torch_ready, tmp_path: Path, architecture: str) -> None:
    from inference.backends import heatmap_keypoints as hk

    samples = [tiny_sample(i, shift=i) for i in range(4)]
    spec = MemberSpec(
        "heatmap",
        architecture,
        "keypoint",
        {**HM_PARAMS, "loss": "integral"}
        if "fpn" in architecture
        else {**HM_PARAMS, "sb_level": -2, "deconv_layers": 2},
    )
    seen = []
    manifest = hk.train(spec, samples, out_dir=tmp_path / "m", progress=seen.append, seed=0)
    assert manifest["backend"] == "heatmap" and manifest["architecture"] == architecture
    assert manifest["training"]["steps"] == 2 and [d["epoch"] for d in seen] == [1]
    assert set(manifest["files"]) == {"weights.pt"} and manifest["typical_n_legs"] == 1
    model = hk.load(tmp_path / "m")
    assert model.info()["two_stage"] is True
    pred = model.predict(samples[0].image, leg_boxes_xyxy=sample_leg_boxes(samples[0]))
    assert pred.joints_xy.shape == (1, 3, 2) and pred.scores.shape == (1, 3)
    assert pred.joints_xy.dtype == np.float64 and np.isfinite(pred.joints_xy).all()
    assert np.all(np.diff(pred.joints_xy[0, :, 1]) >= 0)
    auto = model.predict(samples[0].image)  # boxes found by the member itself
    assert auto.joints_xy.shape == (1, 3, 2) and auto.leg_boxes_xyxy.shape == (1, 4)
    two = model.predict(np.concatenate([samples[0].image] * 2, axis=1), n_legs=2)
    assert two.joints_xy.shape == (2, 3, 2)
    assert two.leg_boxes_xyxy[0, 0] < two.leg_boxes_xyxy[1, 0]

    # Tampering with the weights is caught by the manifest's sha256.
    with open(tmp_path / "m" / "weights.pt", "ab") as handle:
        handle.write(b"x")
    with pytest.raises(ArtifactError):
        hk.load(tmp_path / "m")


def test_heatmap_prediction_maps_peaks_back_exactly(torch_ready, tmp_path: Path) -> None:
    """Replace the network output by known peaks: the joints land on the mapped image points."""
    from inference.backends import heatmap_keypoints as hk

    samples = [tiny_sample(i) for i in range(2)]
    params = {**HM_PARAMS, "global_input_size": [128, 64], "two_stage": False, "decode": "dark", "sigma": 1.5}
    spec = MemberSpec("heatmap", "fpn-test_resnet", "keypoint", params)
    hk.train(spec, samples, out_dir=tmp_path / "m")
    model = hk.load(tmp_path / "m")
    box = np.array([20.0, 10.0, 44.0, 240.0])
    tf = box_transform(box, input_size=(128, 64), mode="stretch")
    truth = np.array([[26.3, 40.1], [31.7, 125.2], [37.2, 199.9]])
    stride = model._stride

    def fake(which: str, crops: np.ndarray) -> np.ndarray:
        hm, _ = encode_heatmaps(
            tf.to_input(truth), heatmap_size=(128 // stride, 64 // stride), stride=stride, sigma=1.5
        )
        return np.repeat(hm[None], len(crops), axis=0)

    model._heatmaps = fake  # type: ignore[method-assign]
    pred = model.predict(samples[0].image, leg_boxes_xyxy=box[None], box_margin=False)
    np.testing.assert_allclose(pred.joints_xy[0], truth, atol=0.05)
    np.testing.assert_allclose(pred.leg_boxes_xyxy, box[None])


def test_heatmap_params_are_validated() -> None:
    from inference.backends import heatmap_keypoints as hk

    with pytest.raises(ValueError):
        hk.resolve_params({"global_input_size": [100, 32]})
    with pytest.raises(ValueError):
        hk.resolve_params({"no_such_param": 1})
    with pytest.raises(ValueError):
        hk.resolve_params({"augment": {"no_such": 1}})
    assert hk.resolve_params({"augment": {"hflip": 0.5}})["augment"]["rotate_deg"] == 5.0
    with pytest.raises(ValueError):
        hk._split_architecture("resnet18")


# --------------------------------------------------------------------------------------------------
# YOLO-pose backend


def test_yolo_dataset_labels_are_normalised_boxes_and_keypoints(tmp_path: Path) -> None:
    from inference.backends.ultralytics_pose import _write_dataset

    s = tiny_sample(0)
    nan_leg = TrainingSample("q_1", s.image, s.label_map, np.array([[[30.5, 24.25], [np.nan, np.nan], [33.75, 226.0]]]))
    data_yaml = _write_dataset([s, nan_leg], tmp_path, 0.05)
    assert "kpt_shape: [3, 3]" in data_yaml.read_text() and "flip_idx: [0, 1, 2]" in data_yaml.read_text()
    line = (tmp_path / "labels" / "train" / "00000.txt").read_text().split()
    # Box [22, 16, 42, 232] widened by 5 % per side -> [20, 5.2, 44, 242.8] in a 64 x 256 image.
    assert line[:5] == ["0", f"{32 / 64:.6f}", f"{124 / 256:.6f}", f"{24 / 64:.6f}", f"{237.6 / 256:.6f}"]
    assert line[5:8] == [f"{30.5 / 64:.6f}", f"{24.25 / 256:.6f}", "2"]
    assert line[-3:] == [f"{33.75 / 64:.6f}", f"{226.0 / 256:.6f}", "2"]
    second = (tmp_path / "labels" / "train" / "00001.txt").read_text().split()
    assert second[8:11] == ["0", "0", "0"]  # an unknown knee is invisible


@pytest.fixture(scope="module")
def yolo_ready():
    pytest.importorskip("torch")
    pytest.importorskip("ultralytics")
    if "YOLO_CONFIG_DIR" not in os.environ:
        os.environ["YOLO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="yolo_cfg_")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")


def test_yolo_member_train_save_load_predict(yolo_ready, tmp_path: Path) -> None:
    from inference.backends import ultralytics_pose as up

    samples = [tiny_sample(i, shift=i) for i in range(4)]
    spec = MemberSpec(
        "ultralytics_pose", "yolov8n-pose", "keypoint", {"epochs": 1, "imgsz": 64, "batch": 4, "mosaic": 0.0}
    )
    seen = []
    manifest = up.train(spec, samples, out_dir=tmp_path / "y", progress=seen.append)
    assert manifest["backend"] == "ultralytics_pose" and set(manifest["files"]) == {"last.pt"}
    assert [d["epoch"] for d in seen] == [1] and manifest["params"]["imgsz"] == 64
    model = up.load(tmp_path / "y")
    pred = model.predict(samples[0].image)
    n = pred.joints_xy.shape[0]
    assert 1 <= n <= 2 and pred.scores.shape == (n, 3) and pred.leg_boxes_xyxy.shape == (n, 4)
    assert pred.joints_xy.dtype == np.float64
    assert np.all(np.diff(pred.joints_xy[:, :, 1], axis=1) >= 0)  # hip < knee < ankle by y
    assert model.predict(samples[0].image, max_legs=1).joints_xy.shape[0] == 1

    manifest_path = tmp_path / "y" / "manifest.json"
    doc = json.loads(manifest_path.read_text())
    doc["files"]["last.pt"] = "0" * 64
    manifest_path.write_text(json.dumps(doc))
    with pytest.raises(ArtifactError):
        up.load(tmp_path / "y")


def test_soft_decoders(torch_ready) -> None:
    """Local centroid ignores mass away from the peak; the soft-argmax is the full expectation."""
    from inference.backends.heatmap_keypoints import _local_centroid, _soft_argmax

    prob = np.zeros((1, 1, 8, 8))
    prob[0, 0, 3, 4] = prob[0, 0, 3, 5] = 0.4  # peak pair: centroid cell (u, v) = (4.5, 3)
    prob[0, 0, 7, 0] = 0.2  # far distractor
    np.testing.assert_allclose(_local_centroid(prob, 4, radius=2)[0, 0], [(4.5 + 0.5) * 4, (3 + 0.5) * 4])
    logits = torch_ready.from_numpy(np.log(np.maximum(prob, 1e-30)))
    u = 0.4 * 4 + 0.4 * 5 + 0.2 * 0
    v = 0.8 * 3 + 0.2 * 7
    np.testing.assert_allclose(_soft_argmax(logits, 4).numpy()[0, 0], [(u + 0.5) * 4, (v + 0.5) * 4], atol=1e-5)


def test_registry_names_the_keypoint_backends() -> None:
    from inference.backends.registry import BACKENDS, get_backend

    assert get_backend("heatmap").BACKEND_NAME == "heatmap"
    assert get_backend("ultralytics_pose").BACKEND == "ultralytics_pose"
    assert {"heatmap", "ultralytics_pose"} <= set(BACKENDS)


def test_heatmap_member_starts_from_bundled_imagenet_weights(torch_ready, tmp_path: Path, monkeypatch) -> None:
    from inference.backends import heatmap_keypoints as hk
    from inference.backends import imagenet_weights

    loaded: list[str] = []
    real = imagenet_weights.load_imagenet_weights
    monkeypatch.setattr(imagenet_weights, "load_imagenet_weights",
                        lambda module, backbone: loaded.append(backbone) or real(module, backbone))
    spec = MemberSpec("heatmap", "fpn-tf_efficientnet_lite0", "keypoint",
                      {**HM_PARAMS, "epochs": 1, "backbone_weights": "imagenet"})
    manifest = hk.train(spec, [tiny_sample(i, shift=i) for i in range(2)], out_dir=tmp_path / "m", seed=0)
    assert loaded == ["tf_efficientnet_lite0", "tf_efficientnet_lite0"]  # the global and the local network
    assert manifest["params"]["backbone_weights"] == "imagenet"
    assert hk.load(tmp_path / "m").predict(tiny_sample(0).image).joints_xy.shape == (1, 3, 2)
