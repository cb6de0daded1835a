"""Tests of the smp segmentation backend and the backend registry (CPU, seconds)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # effective only if torch is not imported yet
torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")

from inference.backends import smp_segmentation as smp_backend  # noqa: E402
from inference.backends.base import ArtifactError, MemberSpec, SegmentationModel  # noqa: E402
from inference.backends.registry import BACKENDS, UnknownBackendError, get_backend, load_member  # noqa: E402
from inference.backends.smp_segmentation import (  # noqa: E402
    letterbox_geometry,
    letterbox_image,
    letterbox_labels,
    letterbox_soft_labels,
    unletterbox_labels,
)
from training.core.datasets import TrainingSample  # noqa: E402

torch.set_num_threads(1)  # tiny models: one thread is fastest, and never spins on shared cores

NO_AUGMENT = {"scale": [1.0, 1.0], "shift": 0.0, "rotate_deg": 0.0, "brightness": 0.0, "contrast": 0.0,
              "gamma": 0.0, "hflip": 0.0}


def _sample(i: int, height: int = 100, width: int = 37) -> TrainingSample:
    """A trivially separable leg: bright femur above a mid-grey tibia on black, with noise."""
    rng = np.random.default_rng(i)
    labels = np.zeros((height, width), np.uint8)
    top = 8 + i
    labels[top : top + 36, 10:27] = 1
    labels[top + 44 : top + 84, 12:25] = 2
    image = np.where(labels == 1, 200, np.where(labels == 2, 110, 20)).astype(np.float64)
    image += rng.normal(0, 6, image.shape)
    return TrainingSample(f"s{i}", np.clip(image, 0, 255).astype(np.uint8), labels, np.full((1, 3, 2), np.nan), f"g{i}")


SAMPLES = [_sample(i) for i in range(4)]


def _spec(arch: str = "FPN", **params: object) -> MemberSpec:
    base = {"encoder": "resnet18", "input_size": [128, 64], "epochs": 1, "batch_size": 4, "augment": NO_AUGMENT}
    base.update(params)
    return MemberSpec("smp", arch, "segmentation", base)


# ------------------------------------------------------------------------------------------
# Letterbox geometry (exact)
# ------------------------------------------------------------------------------------------
def test_letterbox_geometry_cases() -> None:
    box = letterbox_geometry(1024, 128, input_height=512, input_width=64)
    assert (box.resized_height, box.resized_width, box.top, box.left) == (512, 64, 0, 0)
    box = letterbox_geometry(100, 37, input_height=128, input_width=64)  # s = 1.28
    assert (box.resized_height, box.resized_width, box.top, box.left) == (128, 47, 0, 8)
    box = letterbox_geometry(2048, 1024, input_height=512, input_width=512)  # s = 0.25
    assert (box.resized_height, box.resized_width, box.top, box.left) == (512, 256, 0, 128)
    box = letterbox_geometry(10, 100, input_height=64, input_width=64)  # wide: pad top/bottom
    assert (box.resized_height, box.resized_width, box.top, box.left) == (6, 64, 29, 0)


def test_letterbox_labels_roundtrip_upscale_exact() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (32, 10), dtype=np.uint8)
    box = letterbox_geometry(32, 10, input_height=128, input_width=64)  # s = 4: 128 x 40, left 12
    assert (box.resized_height, box.resized_width, box.top, box.left) == (128, 40, 0, 12)
    canvas = letterbox_labels(labels, box)
    assert canvas.shape == (128, 64)
    assert not canvas[:, :12].any() and not canvas[:, 52:].any()
    np.testing.assert_array_equal(canvas[:, 12:52], np.repeat(np.repeat(labels, 4, axis=0), 4, axis=1))
    np.testing.assert_array_equal(unletterbox_labels(canvas, box), labels)
    # Points: pixel [r, c]'s centre goes to the centre of its 4 x 4 block.
    np.testing.assert_allclose(box.to_input_xy(np.array([[0.5, 0.5], [9.5, 31.5]])), [[14.0, 2.0], [50.0, 126.0]])
    np.testing.assert_allclose(box.to_original_xy(box.to_input_xy(np.array([[3.25, 7.0]]))), [[3.25, 7.0]])


def test_letterbox_labels_roundtrip_downscale_of_block_constant_map() -> None:
    rng = np.random.default_rng(1)
    coarse = rng.integers(0, 3, (32, 10), dtype=np.uint8)
    labels = np.repeat(np.repeat(coarse, 2, axis=0), 2, axis=1)  # 64 x 20, 2 x 2 blocks
    box = letterbox_geometry(64, 20, input_height=32, input_width=32)  # s = 0.5: 32 x 10, left 11
    canvas = letterbox_labels(labels, box)
    np.testing.assert_array_equal(canvas[:, 11:21], coarse)
    np.testing.assert_array_equal(unletterbox_labels(canvas, box), labels)


def test_letterbox_image_pads_with_zeros_and_keeps_values() -> None:
    image = np.full((32, 10), 77, np.uint8)
    box = letterbox_geometry(32, 10, input_height=128, input_width=64)
    canvas = letterbox_image(image, box)
    assert canvas.dtype == np.uint8 and canvas.shape == (128, 64)
    assert (canvas[:, 12:52] == 77).all() and not canvas[:, :12].any() and not canvas[:, 52:].any()
    with pytest.raises(ValueError):
        letterbox_image(np.zeros((31, 10), np.uint8), box)


def test_augment_identity_flip_and_label_consistency() -> None:
    gen = torch.Generator().manual_seed(0)
    labels = torch.from_numpy(np.stack([s.label_map[:96, :32] for s in SAMPLES])).long()
    y = torch.nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).float()
    x = (labels.float() * 100.0 / 255.0).unsqueeze(1)
    x0, y0 = smp_backend._augment(x, y, NO_AUGMENT, gen)
    assert torch.equal(x0, x) and torch.equal(y0, y)
    x1, y1 = smp_backend._augment(x, y, {**NO_AUGMENT, "hflip": 1.0}, gen)
    torch.testing.assert_close(y1, torch.flip(y, dims=[-1]))
    torch.testing.assert_close(x1, torch.flip(x, dims=[-1]))
    geo = {**NO_AUGMENT, "scale": [0.8, 1.2], "shift": 0.1, "rotate_deg": 10.0}
    x2, y2 = smp_backend._augment(x, y, geo, gen)
    torch.testing.assert_close(y2.sum(dim=1), torch.ones(4, 96, 32))  # still probabilities
    # The image is label * 100 / 255, so image and targets must still agree (off the edges).
    agree = (torch.round(x2.squeeze(1) * 255.0 / 100.0).long() == y2.argmax(dim=1)).float().mean()
    assert agree > 0.97
    assert not torch.equal(y2, y)


def _centroid_xy(weights: np.ndarray) -> np.ndarray:
    rows, cols = np.indices(weights.shape)
    return np.array([(weights * (cols + 0.5)).sum(), (weights * (rows + 0.5)).sum()]) / weights.sum()


def test_soft_labels_are_aligned_probabilities() -> None:
    labels = np.zeros((64, 32), np.uint8)
    labels[11:31, 7:17] = 1  # pixel centres: x 7.5..16.5, y 11.5..30.5 -> centroid (12, 21)
    labels[40:60, 8:20] = 2
    box = letterbox_geometry(64, 32, input_height=32, input_width=32)  # s = 0.5: 32 x 16, left 8
    soft = letterbox_soft_labels(labels, box).astype(np.float64) / 255.0
    assert soft.shape == (3, 32, 32)
    np.testing.assert_allclose(soft.sum(axis=0), 1.0, atol=2 / 255)
    assert (soft[0, :, :8] == 1.0).all() and (soft[0, :, 24:] == 1.0).all()  # padding: background
    # The filtered targets keep the femur's centroid; nearest sampling moves it by a whole pixel.
    soft_xy = box.to_original_xy(_centroid_xy(soft[1]))[0]
    np.testing.assert_allclose(soft_xy, [12.0, 21.0], atol=0.02)
    nearest_xy = box.to_original_xy(_centroid_xy((letterbox_labels(labels, box) == 1).astype(float)))[0]
    np.testing.assert_allclose(nearest_xy, [11.0, 20.0])


def test_resolve_params_validation() -> None:
    params = smp_backend.resolve_params({"augment": {"hflip": 0.5}, "epochs": 3})
    assert params["augment"]["hflip"] == 0.5 and params["augment"]["scale"] == [0.9, 1.1]
    assert params["epochs"] == 3 and params["encoder"] == "resnet18"
    with pytest.raises(ValueError, match="unknown smp parameters"):
        smp_backend.resolve_params({"epoch": 3})
    with pytest.raises(ValueError, match="multiples of 32"):
        smp_backend.resolve_params({"input_size": [100, 64]})
    with pytest.raises(ValueError, match="unknown augment"):
        smp_backend.resolve_params({"augment": {"flip": 1}})


# ------------------------------------------------------------------------------------------
# Train / load / predict
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arch", "params"),
    [
        ("Unet", {}),
        ("FPN", {}),
        ("DeepLabV3Plus", {}),
        ("PSPNet", {}),
        ("Segformer", {"encoder": "mit_b0"}),
        ("UPerNet", {}),
        ("MAnet", {}),
        ("PAN", {"input_size": [256, 256]}),
    ],
)
def test_each_architecture_trains_saves_loads_and_predicts(tmp_path: Path, arch: str, params: dict) -> None:
    events: list[dict] = []
    manifest = smp_backend.train(_spec(arch, **params), SAMPLES, out_dir=tmp_path, progress=events.append)
    assert manifest["backend"] == "smp" and manifest["architecture"] == arch
    assert set(manifest["files"]) == {"weights.pt"}
    assert [e["epoch"] for e in events] == [1] and events[0]["epochs"] == 1 and np.isfinite(events[0]["loss"])
    model = load_member(tmp_path)
    assert isinstance(model, SegmentationModel)
    assert model.info()["architecture"] == arch
    image = np.random.default_rng(0).integers(0, 256, (75, 29), dtype=np.uint8)
    pred = model.predict(image)
    assert pred.shape == (75, 29) and pred.dtype == np.uint8 and set(np.unique(pred)) <= {0, 1, 2}


def _pooled_iou(preds: list[np.ndarray], truths: list[np.ndarray], label: int) -> float:
    inter = sum(int(np.count_nonzero((p == label) & (t == label))) for p, t in zip(preds, truths))
    union = sum(int(np.count_nonzero((p == label) | (t == label))) for p, t in zip(preds, truths))
    return inter / union


def test_learns_separable_image_and_maps_back_to_original_grid(tmp_path: Path) -> None:
    # Unet (full-resolution decoder) reaches IOU 0.99 here; FPN (1/4-resolution output) sat at 0.90,
    # on either side of the bar depending on the torch thread count.
    spec = _spec("Unet", epochs=40, lr=3e-3, dice_weight=1.0, schedule="constant")
    smp_backend.train(spec, SAMPLES, out_dir=tmp_path, seed=0)
    model = smp_backend.load(tmp_path)
    held_out = [_sample(i) for i in (4, 5)]  # 100 x 37: letterboxed to 128 x 47 inside 128 x 64
    preds = [model.predict(s.image) for s in held_out]
    truths = [s.label_map for s in held_out]
    assert all(p.shape == (100, 37) for p in preds)
    assert _pooled_iou(preds, truths, 1) > 0.9, "the member did not learn a perfectly separable image"
    assert _pooled_iou(preds, truths, 2) > 0.9, "the member did not learn a perfectly separable image"
    # Bigger input at another scale still lands on the original grid.
    big = _sample(6, height=200, width=74)
    pred = model.predict(big.image)
    assert pred.shape == (200, 74)


def test_tampered_weights_are_rejected(tmp_path: Path) -> None:
    smp_backend.train(_spec(), SAMPLES[:2], out_dir=tmp_path)
    smp_backend.load(tmp_path)
    with (tmp_path / "weights.pt").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ArtifactError, match="sha256"):
        smp_backend.load(tmp_path)
    with pytest.raises(ArtifactError, match="sha256"):
        load_member(tmp_path)


def test_progress_exception_stops_training_and_writes_nothing(tmp_path: Path) -> None:
    calls: list[int] = []

    class Stop(Exception):
        pass

    def progress(event: dict) -> None:
        calls.append(event["epoch"])
        raise Stop

    with pytest.raises(Stop):
        smp_backend.train(_spec(epochs=5), SAMPLES, out_dir=tmp_path / "a", progress=progress)
    assert calls == [1]
    assert not (tmp_path / "a" / "manifest.json").exists()
    with pytest.raises(ArtifactError, match="No manifest"):
        load_member(tmp_path / "a")


def test_same_seed_same_weights_and_iterations(tmp_path: Path) -> None:
    spec = _spec(iterations=3, batch_size=2, augment={**NO_AUGMENT, "scale": [0.9, 1.1], "hflip": 0.5})
    m1 = smp_backend.train(spec, SAMPLES, out_dir=tmp_path / "a", seed=7)
    m2 = smp_backend.train(spec, SAMPLES, out_dir=tmp_path / "b", seed=7)
    assert m1["training"]["steps"] == 3 and m1["training"]["epochs"] == 2  # 2 steps per epoch
    s1 = torch.load(tmp_path / "a" / "weights.pt", weights_only=True)
    s2 = torch.load(tmp_path / "b" / "weights.pt", weights_only=True)
    assert s1.keys() == s2.keys()
    assert all(torch.allclose(s1[k].float(), s2[k].float(), atol=1e-6) for k in s1)


def test_bad_specs_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown smp architecture"):
        smp_backend.train(_spec("DeepLabV4"), SAMPLES, out_dir=tmp_path)
    with pytest.raises(ValueError, match="cannot take input"):
        smp_backend.train(_spec("PAN"), SAMPLES, out_dir=tmp_path)  # 128 x 64 is too small for PAN
    with pytest.raises(ValueError, match="no training samples"):
        smp_backend.train(_spec(), [], out_dir=tmp_path)
    with pytest.raises(ValueError, match="smp segmentation member"):
        smp_backend.train(MemberSpec("heatmap", "FPN", "keypoint", {}), SAMPLES, out_dir=tmp_path)
    assert not (tmp_path / "manifest.json").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_cuda_request_falls_back_to_cpu(tmp_path: Path) -> None:
    smp_backend.train(_spec(), SAMPLES[:2], out_dir=tmp_path, device="cuda")
    assert smp_backend.load(tmp_path, device="cuda").info()["device"] == "cpu"


# ------------------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------------------
def test_registry_lookup_and_unknown_backend(tmp_path: Path) -> None:
    assert "smp" in BACKENDS
    assert get_backend("smp") is smp_backend
    with pytest.raises(KeyError, match="known backends: .*smp"):
        get_backend("no_such_backend")
    smp_backend.train(_spec(), SAMPLES[:2], out_dir=tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["backend"] = "no_such_backend"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UnknownBackendError) as info:
        load_member(tmp_path)
    assert isinstance(info.value, ArtifactError) and isinstance(info.value, KeyError)
    with pytest.raises(ArtifactError, match="not 'smp'"):
        smp_backend.load(tmp_path)


def test_imagenet_encoder_weights_are_loaded_before_training(tmp_path: Path, monkeypatch) -> None:
    from inference.backends import imagenet_weights

    loaded: list[str] = []
    real = imagenet_weights.load_imagenet_weights
    monkeypatch.setattr(imagenet_weights, "load_imagenet_weights",
                        lambda module, backbone: loaded.append(backbone) or real(module, backbone))
    spec = _spec("Unet", encoder="tu-tf_efficientnet_lite0", encoder_weights="imagenet")
    manifest = smp_backend.train(spec, SAMPLES[:2], out_dir=tmp_path / "m")
    assert loaded == ["tf_efficientnet_lite0"] and manifest["params"]["encoder_weights"] == "imagenet"
    assert smp_backend.load(tmp_path / "m").predict(SAMPLES[0].image).shape == SAMPLES[0].image.shape
    with pytest.raises(ValueError, match="bundled for timm encoders"):
        smp_backend.train(_spec("Unet", encoder_weights="imagenet"), SAMPLES[:2], out_dir=tmp_path / "r18")
