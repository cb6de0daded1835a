"""OpenMMLab members: segmentation models of mmsegmentation and top-down key-point models of mmpose.

Users who already trained models with OpenMMLab bring them as they are: an mmengine config file
plus its checkpoint. :func:`import_artifact` copies both into an artifact folder with a
``manifest.json`` (sha256 of each file, the class or key-point mapping) and checks that the model
loads; the registry (:mod:`inference.backends.registry`, names ``"mmseg"`` and ``"mmpose"``) then
loads it like any other member, so it can be used by ``predict`` and in ensembles.

These backends need the optional OpenMMLab extra (``scripts/setup-openmmlab``: mmcv 2.1.0 built
from source, mmsegmentation 1.2.2, mmpose 1.3.2, mmdet 3.3.0). Without it, loading raises
:class:`~inference.backends.base.ArtifactError` with that instruction; nothing else in the
application depends on it.

Mappings
--------
* segmentation: ``class_map`` maps the model's class index to our labels, e.g.
  ``{"1": "femur", "2": "tibia"}``; every other class becomes background.
* key points: ``legs`` lists, per leg, the model's key-point index of hip, knee and ankle, e.g.
  ``[{"hip": 0, "knee": 1, "ankle": 2}]`` for a one-leg model or two entries (image-left leg
  first) for a six-point bilateral model. mmpose models are top-down: the whole image is the box.

Images reach OpenMMLab as 3-channel BGR ``uint8`` arrays (grey replicated), the format of
``mmseg.apis.inference_model`` and ``mmpose.apis.inference_topdown``; both apply the config's own
test pipeline (resize, normalisation) and return results in original image coordinates.

Training is not done through these adapters: OpenMMLab models are trained with OpenMMLab's own
tools (``tools/train.py``) and imported here.
"""

from __future__ import annotations

import logging

import importlib.util
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inference.backends.base import (
    ArtifactError,
    KeypointPrediction,
    MemberSpec,
    read_artifact_manifest,
    resolve_device,
    write_artifact_manifest,
)
from inference.core.legs import FEMUR, JOINT_NAMES, TIBIA

__all__ = ["CONFIG_FILE", "CHECKPOINT_FILE", "import_artifact", "openmmlab_available"]

CONFIG_FILE = "config.py"
CHECKPOINT_FILE = "checkpoint.pth"
_LABELS = {"femur": FEMUR, "tibia": TIBIA}
_PACKAGES = {"mmseg": ("mmcv", "mmengine", "mmseg"), "mmpose": ("mmcv", "mmengine", "mmpose", "mmdet")}

logger = logging.getLogger(__name__)


def openmmlab_available(backend: str) -> bool:
    """Whether the packages ``backend`` (``"mmseg"`` or ``"mmpose"``) needs are installed."""
    return all(importlib.util.find_spec(name) is not None for name in _PACKAGES[backend])


def _require(backend: str) -> None:
    if not openmmlab_available(backend):
        missing = [name for name in _PACKAGES[backend] if importlib.util.find_spec(name) is None]
        raise ArtifactError(
            f"The {backend} backend needs the OpenMMLab extra ({', '.join(missing)} not installed on this "
            "worker): run scripts/setup-openmmlab"
        )


def _bgr(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if image.ndim != 2:
        raise ValueError(f"image must be (H, W) grey, got shape {image.shape}")
    return np.ascontiguousarray(np.repeat(image[:, :, np.newaxis], 3, axis=2))


def _class_lut(class_map: Mapping[str, str]) -> NDArray[np.uint8]:
    """Lookup table model class -> 0/1/2 from ``{"<model class>": "femur"|"tibia"}``."""
    indices = {int(k): v for k, v in class_map.items()}
    if not indices or any(v not in _LABELS for v in indices.values()) or min(indices) < 0:
        raise ValueError(f"class_map must map model class indices to 'femur'/'tibia', got {dict(class_map)}")
    lut = np.zeros(max(indices) + 1, dtype=np.uint8)
    for index, label in indices.items():
        lut[index] = _LABELS[label]
    return lut


def _check_legs(legs: Sequence[Mapping[str, int]]) -> list[dict[str, int]]:
    if not 1 <= len(legs) <= 2 or any(set(leg) != set(JOINT_NAMES) for leg in legs):
        raise ValueError(f"legs must be 1 or 2 mappings with keys {JOINT_NAMES}, got {list(legs)}")
    return [{name: int(leg[name]) for name in JOINT_NAMES} for leg in legs]


# --------------------------------------------------------------------------------------------------
# Import


def import_artifact(
    *,
    backend: str,
    config_path: Path,
    checkpoint_path: Path,
    out_dir: Path,
    class_map: Mapping[str, str] | None = None,
    legs: Sequence[Mapping[str, int]] | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Copy a user's OpenMMLab config + checkpoint into an artifact folder and check it loads.

    Parameters
    ----------
    backend : {"mmseg", "mmpose"}
    config_path, checkpoint_path : Path
        The mmengine config (a ``.py`` file without ``_base_`` references outside itself, e.g. the
        ``dump``-ed config of a training run) and its checkpoint.
    out_dir : Path
        Created; must not hold an artifact already.
    class_map : mapping, required for ``"mmseg"``
        ``{"<model class index>": "femur"|"tibia"}``.
    legs : sequence of mappings, required for ``"mmpose"``
        Per leg ``{"hip": i, "knee": j, "ankle": k}`` (model key-point indices).

    Returns
    -------
    dict
        The manifest.

    Raises
    ------
    ArtifactError
        The extra is missing, a file is missing, or the model cannot be built from the files.
    ValueError
        A malformed mapping.
    """
    if backend not in _PACKAGES:
        raise ValueError(f"backend must be 'mmseg' or 'mmpose', got {backend!r}")
    _require(backend)
    for path in (config_path, checkpoint_path):
        if not Path(path).is_file():
            raise ArtifactError(f"{path} does not exist")
    if (out_dir / "manifest.json").exists():
        raise ArtifactError(f"{out_dir} already holds an artifact")
    if backend == "mmseg":
        if class_map is None:
            raise ValueError("class_map is required for an mmseg model")
        _class_lut(class_map)
        extra: dict[str, Any] = {"class_map": {str(k): v for k, v in class_map.items()}}
        kind = "segmentation"
    else:
        if legs is None:
            raise ValueError("legs is required for an mmpose model")
        extra = {"legs": _check_legs(legs)}
        kind = "keypoint"
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config_path, out_dir / CONFIG_FILE)
    shutil.copyfile(checkpoint_path, out_dir / CHECKPOINT_FILE)
    spec = MemberSpec(backend=backend, architecture=Path(config_path).stem, kind=kind,
                      params={"source_config": str(config_path), "source_checkpoint": str(checkpoint_path)})
    write_artifact_manifest(out_dir, spec=spec, files=[CONFIG_FILE, CHECKPOINT_FILE], extra=extra)
    try:
        (load_segmentation if backend == "mmseg" else load_keypoints)(out_dir, device=device)
    except Exception as exc:
        (out_dir / "manifest.json").unlink()
        raise ArtifactError(f"The OpenMMLab model in {config_path} / {checkpoint_path} does not load: {exc}") from exc
    return json.loads((out_dir / "manifest.json").read_text())


def _manifest(directory: Path, backend: str) -> dict[str, Any]:
    _require(backend)
    manifest = read_artifact_manifest(Path(directory))
    if manifest.get("backend") != backend:
        raise ArtifactError(f"{directory} holds a {manifest.get('backend')!r} artifact, not {backend!r}")
    return manifest


# --------------------------------------------------------------------------------------------------
# Segmentation (mmsegmentation)


@dataclass
class MMSegSegmenter:
    """An mmsegmentation model whose classes are mapped to 0 background / 1 femur / 2 tibia."""

    model: Any
    lut: NDArray[np.uint8]
    manifest: dict[str, Any]

    def info(self) -> dict[str, Any]:
        return {"backend": "mmseg", "architecture": self.manifest["architecture"],
                "class_map": self.manifest["class_map"]}

    def predict(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        from mmseg.apis import inference_model

        result = inference_model(self.model, _bgr(image))
        classes = result.pred_sem_seg.data[0].cpu().numpy().astype(np.int64)
        out = np.zeros(classes.shape, dtype=np.uint8)
        known = classes < len(self.lut)
        out[known] = self.lut[classes[known]]
        return out


def load_segmentation(directory: Path, *, device: str = "cpu") -> MMSegSegmenter:
    """Load an imported mmseg artifact (sha256 checked)."""
    manifest = _manifest(directory, "mmseg")
    from mmseg.apis import init_model

    model = init_model(str(Path(directory) / CONFIG_FILE), str(Path(directory) / CHECKPOINT_FILE),
                       device=resolve_device(device))
    return MMSegSegmenter(model, _class_lut(manifest["class_map"]), manifest)


# --------------------------------------------------------------------------------------------------
# Key points (mmpose, top-down)


@dataclass
class MMPoseKeypoints:
    """A top-down mmpose model over the whole image; its key points mapped to hip/knee/ankle per leg."""

    model: Any
    legs: list[dict[str, int]]
    manifest: dict[str, Any]

    def info(self) -> dict[str, Any]:
        return {"backend": "mmpose", "architecture": self.manifest["architecture"], "legs": self.legs}

    def predict(self, image: NDArray[np.uint8]) -> KeypointPrediction:
        from mmpose.apis import inference_topdown

        height, width = image.shape
        box = np.array([[0.0, 0.0, float(width), float(height)]])
        result = inference_topdown(self.model, _bgr(image), bboxes=box, bbox_format="xyxy")[0]
        points = np.asarray(result.pred_instances.keypoints, dtype=np.float64)[0]  # (K, 2) image x, y
        scores = np.asarray(result.pred_instances.keypoint_scores, dtype=np.float64)[0]
        joints = np.stack([[points[leg[name]] for name in JOINT_NAMES] for leg in self.legs])
        joint_scores = np.stack([[scores[leg[name]] for name in JOINT_NAMES] for leg in self.legs])
        return KeypointPrediction(joints_xy=joints, scores=joint_scores)


def load_keypoints(directory: Path, *, device: str = "cpu") -> MMPoseKeypoints:
    """Load an imported mmpose artifact (sha256 checked)."""
    manifest = _manifest(directory, "mmpose")
    from mmpose.apis import init_model

    model = init_model(str(Path(directory) / CONFIG_FILE), str(Path(directory) / CHECKPOINT_FILE),
                       device=resolve_device(device))
    legs = _check_legs(manifest["legs"])
    meta = getattr(model, "dataset_meta", None) or {}
    # The head's output channels are the model's key points; the dataset meta may be the config's base
    # dataset (e.g. COCO's 17 points for a head retrained on 3).
    n_keypoints = int(getattr(getattr(model, "head", None), "out_channels", 0) or meta.get("num_keypoints", 0) or 0)
    flip_indices = meta.get("flip_indices")
    if model.test_cfg.get("flip_test") and n_keypoints and len(flip_indices or ()) != n_keypoints:
        logger.warning("%s: the dataset's flip_indices (%s) do not fit the model's %d key points; flip test off",
                       directory, None if flip_indices is None else len(flip_indices), n_keypoints)
        model.test_cfg["flip_test"] = False
    if n_keypoints and max(max(leg.values()) for leg in legs) >= n_keypoints:
        raise ArtifactError(f"{directory}: legs refer to key point indices beyond the model's {n_keypoints}")
    return MMPoseKeypoints(model, legs, manifest)


def train(spec: MemberSpec, samples: Sequence[Any], **_: Any) -> dict[str, Any]:
    """OpenMMLab members are trained with OpenMMLab's tools and imported (:func:`import_artifact`)."""
    raise ArtifactError(
        f"{spec.backend} members are not trained here: train with OpenMMLab's tools/train.py, then "
        "`python manage.py import_openmmlab` the config and checkpoint"
    )
