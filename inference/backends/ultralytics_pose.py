"""YOLO-pose key-point member (ultralytics): one box per leg with hip, knee and ankle.

Training builds a YOLO pose dataset on the fly in a temporary folder: each training image is written
as a grey PNG, and each leg becomes one object of class 0 ``leg`` whose box is the bounding box of
that leg's femur and tibia pixels (from the label map, split into legs as in
:mod:`inference.core.joints_from_masks`) widened by ``box_margin_frac`` of its width and height on
each side, with its three key points (visibility 2; 0 for joints that are NaN in the sample). The
model is built from a yaml (``yolov8n-pose.yaml`` by default; ``.pt`` names would download weights)
with ``kpt_shape [3, 3]`` and ``flip_idx [0, 1, 2]`` (a horizontal flip keeps hip, knee and ankle
in place). The artifact is ``last.pt`` plus ``manifest.json`` (sha256-checked on load).

Prediction keeps floats throughout (the reference code truncated to integers): detections above
``conf`` (at least ``min_legs`` of them when any exist, at most ``max_legs``) become legs, ordered by
box centre x; within a leg the three points are sorted by y into hip < knee < ankle (spec §2.4 [D]).

ultralytics reaches for the network unless told not to; :func:`ensure_offline` sets
``YOLO_OFFLINE=1`` and ``YOLO_AUTOINSTALL=false`` (unless already set) before the first import and
provides the ``Arial.ttf`` that training otherwise downloads (a copy of matplotlib's DejaVuSans,
when matplotlib is installed). Nothing happens at import time of this module.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from inference.backends.base import (
    ArtifactError,
    KeypointPrediction,
    MemberSpec,
    ProgressCallback,
    read_artifact_manifest,
    resolve_device,
    write_artifact_manifest,
)
from inference.backends.keypoint_common import expand_boxes, sample_leg_boxes

if TYPE_CHECKING:  # pragma: no cover
    from inference.core.samples import TrainingSample

logger = logging.getLogger(__name__)

BACKEND = "ultralytics_pose"
WEIGHTS_FILE = "last.pt"

DEFAULT_PARAMS: dict[str, Any] = {
    "model_yaml": "yolov8n-pose.yaml",
    "epochs": 50,
    "imgsz": 512,
    "batch": 16,
    "box_margin_frac": 0.05,
    "rect": False,
    "mosaic": 1.0,
    "close_mosaic": 10,
    "fliplr": 0.5,
    "scale": 0.3,
    "translate": 0.1,
    "degrees": 0.0,
    "hsv_v": 0.3,
    "optimizer": "auto",
    "lr0": 0.01,
    "cos_lr": False,
    "pose": 12.0,
    "max_train_samples": None,
    "conf": 0.25,
    "iou": 0.3,
    "max_legs": 2,
    "min_legs": 1,
    "time_limit_s": None,
}


def ensure_offline() -> None:
    """Make ultralytics work without network access (idempotent; call before importing it)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")
    from ultralytics.utils import USER_CONFIG_DIR

    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        target = Path(USER_CONFIG_DIR) / name
        if target.exists():
            continue
        try:
            import matplotlib

            src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
            if src.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, target)
        except (ImportError, OSError) as exc:  # pragma: no cover - best effort
            logger.warning("could not provide %s for ultralytics offline use: %s", name, exc)


def _params(spec: MemberSpec) -> dict[str, Any]:
    unknown = set(spec.params) - set(DEFAULT_PARAMS)
    if unknown:
        raise ValueError(f"unknown ultralytics_pose params: {sorted(unknown)}")
    return {**DEFAULT_PARAMS, **spec.params}


def _write_dataset(samples: Sequence[TrainingSample], root: Path, margin_frac: float) -> Path:
    from PIL import Image

    img_dir, lbl_dir = root / "images" / "train", root / "labels" / "train"
    img_dir.mkdir(parents=True)
    lbl_dir.mkdir(parents=True)
    n_val = min(2, len(samples))
    val_img, val_lbl = root / "images" / "val", root / "labels" / "val"
    val_img.mkdir(parents=True)
    val_lbl.mkdir(parents=True)
    for i, s in enumerate(samples):
        img = np.asarray(s.image)
        if img.ndim != 2 or img.dtype != np.uint8:
            raise ValueError(f"sample {s.name!r}: image must be (H, W) uint8, got {img.shape} {img.dtype}")
        h, w = img.shape
        boxes = expand_boxes(sample_leg_boxes(s), margin_frac=margin_frac, width=w, height=h)
        lines = []
        for box, joints in zip(boxes, np.asarray(s.joints_xy, dtype=np.float64), strict=True):
            if not np.all(np.isfinite(box)):
                continue
            cx, cy = 0.5 * (box[0] + box[2]) / w, 0.5 * (box[1] + box[3]) / h
            bw, bh = (box[2] - box[0]) / w, (box[3] - box[1]) / h
            kp = []
            for x, y in joints:
                if np.isfinite(x) and np.isfinite(y):
                    kp += [f"{x / w:.6f}", f"{y / h:.6f}", "2"]
                else:
                    kp += ["0", "0", "0"]
            lines.append(" ".join(["0", f"{cx:.6f}", f"{cy:.6f}", f"{bw:.6f}", f"{bh:.6f}", *kp]))
        stem = f"{i:05d}"
        Image.fromarray(img, mode="L").save(img_dir / f"{stem}.png")
        (lbl_dir / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
        if i < n_val:
            shutil.copyfile(img_dir / f"{stem}.png", val_img / f"{stem}.png")
            shutil.copyfile(lbl_dir / f"{stem}.txt", val_lbl / f"{stem}.txt")
    data_yaml = root / "data.yaml"
    data_yaml.write_text(
        f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n  0: leg\n"
        "kpt_shape: [3, 3]\nflip_idx: [0, 1, 2]\n"
    )
    return data_yaml



def _ultralytics_device(device: str) -> str:
    resolved = resolve_device(device)
    return "cuda:0" if resolved == "cuda" else resolved


def train(
    spec: MemberSpec,
    samples: Sequence[TrainingSample],
    *,
    out_dir: Path,
    device: str = "cpu",
    progress: ProgressCallback | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train a YOLO-pose member and write ``last.pt`` + ``manifest.json`` into ``out_dir``.

    Parameters
    ----------
    spec : MemberSpec
        ``backend == "ultralytics_pose"``, ``kind == "keypoint"``; ``architecture`` is a label
        (e.g. ``"yolov8n-pose"``); ``params`` override :data:`DEFAULT_PARAMS` (``model_yaml``,
        ``epochs``, ``imgsz``, ``batch``, augmentation, ``max_train_samples`` ...).
    samples : sequence of TrainingSample
        Images with their legs' joints (``(n_legs, 3, 2)``, legs left to right) and label maps
        (for the leg boxes).
    out_dir : Path
        Artifact folder (created). The manifest is written last.
    device : str
        ``"cpu"``, ``"cuda"``/``"cuda:0"`` (CPU fallback when unavailable) or ``"auto"``.
    progress : callable, optional
        Called after every epoch with ``{"epoch", "epochs", "loss"}``; an exception raised inside
        it stops training and propagates.
    seed : int
        Seeds ultralytics and the ``max_train_samples`` subset.

    Returns
    -------
    dict
        The manifest as :func:`inference.backends.base.read_artifact_manifest` returns it.

    Raises
    ------
    ValueError
        Wrong backend/kind, unknown params, no samples, or a non-uint8 2-D image.
    """
    if spec.backend != BACKEND or spec.kind != "keypoint":
        raise ValueError(f"spec must be an {BACKEND} keypoint member, got {spec.backend!r}/{spec.kind!r}")
    if not samples:
        raise ValueError("no training samples")
    p = _params(spec)
    device = _ultralytics_device(device)
    ensure_offline()
    from ultralytics import YOLO

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = list(samples)
    if p["max_train_samples"] is not None and len(chosen) > int(p["max_train_samples"]):
        idx = np.random.default_rng(seed).choice(len(chosen), int(p["max_train_samples"]), replace=False)
        chosen = [chosen[i] for i in sorted(idx)]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="yolo_pose_") as tmp:
        root = Path(tmp)
        data_yaml = _write_dataset(chosen, root / "data", float(p["box_margin_frac"]))
        model = YOLO(str(p["model_yaml"]), task="pose")
        epochs = int(p["epochs"])
        state: dict[str, Any] = {}

        def on_epoch_end(trainer: Any) -> None:
            loss = trainer.tloss
            if isinstance(loss, dict):
                value = float(sum(float(v) for v in loss.values()))
            elif loss is None:
                value = float("nan")
            else:
                value = float(np.sum(np.asarray(loss.detach().cpu() if hasattr(loss, "detach") else loss)))
            state["loss"] = value
            if progress is not None:
                progress({"epoch": int(trainer.epoch) + 1, "epochs": epochs, "loss": value})

        model.add_callback("on_train_epoch_end", on_epoch_end)
        kwargs: dict[str, Any] = dict(
            data=str(data_yaml),
            epochs=epochs,
            imgsz=int(p["imgsz"]),
            batch=int(p["batch"]),
            device=device,
            workers=0,
            plots=False,
            amp=False,
            pretrained=False,
            project=str(root / "runs"),
            name="train",
            exist_ok=True,
            val=False,
            verbose=False,
            seed=int(seed),
            deterministic=False,
            rect=bool(p["rect"]),
            mosaic=float(p["mosaic"]),
            close_mosaic=int(p["close_mosaic"]),
            fliplr=float(p["fliplr"]),
            scale=float(p["scale"]),
            translate=float(p["translate"]),
            degrees=float(p["degrees"]),
            hsv_h=0.0,
            hsv_s=0.0,
            hsv_v=float(p["hsv_v"]),
            optimizer=str(p["optimizer"]),
            lr0=float(p["lr0"]),
            cos_lr=bool(p["cos_lr"]),
            pose=float(p["pose"]),
            patience=10**6,
        )
        if p["time_limit_s"]:
            kwargs["time"] = float(p["time_limit_s"]) / 3600.0
        model.train(**kwargs)
        weights = root / "runs" / "train" / "weights" / "last.pt"
        if not weights.is_file():
            raise ArtifactError(f"ultralytics did not write {weights}")
        shutil.copyfile(weights, out_dir / WEIGHTS_FILE)
    seconds = time.perf_counter() - t0
    import ultralytics

    resolved = MemberSpec(backend=BACKEND, architecture=spec.architecture, kind="keypoint", params=p)
    write_artifact_manifest(
        out_dir,
        spec=resolved,
        files=[WEIGHTS_FILE],
        extra={
            "format_version": 1,
            "joint_names": ["hip", "knee", "ankle"],
            "training": {
                "n_samples": len(chosen),
                "epochs": int(p["epochs"]),
                "seconds": round(seconds, 3),
                "final_loss": state.get("loss"),
                "seed": int(seed),
                "device": device,
                "ultralytics_version": ultralytics.__version__,
            },
        },
    )
    return read_artifact_manifest(out_dir)


@dataclass
class UltralyticsPoseModel:
    """A loaded YOLO-pose member; satisfies :class:`inference.backends.base.KeypointModel`."""

    model: Any
    manifest: dict[str, Any]
    params: dict[str, Any]
    device: str

    def info(self) -> dict[str, Any]:
        return {
            "backend": BACKEND,
            "architecture": self.manifest.get("architecture"),
            "params": self.params,
            "device": self.device,
        }

    def is_ready(self) -> bool:
        return self.model is not None

    def predict(self, image: NDArray[np.uint8], *, max_legs: int | None = None) -> KeypointPrediction:
        """Key points of every detected leg.

        Parameters
        ----------
        image : (H, W) uint8 ndarray
            Grey image, original resolution (a 3-channel image is accepted as is).
        max_legs : int, optional
            Override of the ``max_legs`` parameter (e.g. 1 for a single-leg view).

        Returns
        -------
        KeypointPrediction
            ``joints_xy`` (n_legs, 3, 2) float64, ``scores`` (n_legs, 3) key-point confidences,
            ``leg_boxes_xyxy`` (n_legs, 4); legs left to right, joints sorted by y.
        """
        img = np.asarray(image)
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"image must be (H, W) or (H, W, 3) uint8, got {img.shape} {img.dtype}")
        limit = int(self.params["max_legs"] if max_legs is None else max_legs)
        res = self.model.predict(
            img,
            imgsz=int(self.params["imgsz"]),
            conf=0.001,
            iou=float(self.params["iou"]),
            max_det=max(limit, 1) * 5,
            device=self.device,
            verbose=False,
        )[0]
        if res.boxes is None or len(res.boxes) == 0 or res.keypoints is None:
            return KeypointPrediction(np.zeros((0, 3, 2)), np.zeros((0, 3)), np.zeros((0, 4)))
        boxes = res.boxes.xyxy.cpu().numpy().astype(np.float64)
        conf = res.boxes.conf.cpu().numpy().astype(np.float64)
        kp = res.keypoints.data.cpu().numpy().astype(np.float64)  # (n, 3, 3) x, y, conf
        order = np.argsort(-conf, kind="stable")
        keep = [i for i in order if conf[i] >= float(self.params["conf"])]
        if len(keep) < int(self.params["min_legs"]):
            keep = list(order[: int(self.params["min_legs"])])
        keep = keep[:limit]
        boxes, kp, conf = boxes[keep], kp[keep], conf[keep]
        by_x = np.argsort(0.5 * (boxes[:, 0] + boxes[:, 2]), kind="stable")
        boxes, kp, conf = boxes[by_x], kp[by_x], conf[by_x]
        joints = kp[:, :, :2]
        scores = kp[:, :, 2] if kp.shape[2] == 3 else np.repeat(conf[:, None], 3, axis=1)
        by_y = np.argsort(joints[:, :, 1], axis=1, kind="stable")
        joints = np.take_along_axis(joints, by_y[:, :, None], axis=1)
        scores = np.take_along_axis(scores, by_y, axis=1)
        return KeypointPrediction(joints.copy(), scores.copy(), boxes.copy())


def load(directory: Path, *, device: str = "cpu") -> UltralyticsPoseModel:
    """Load a trained member from its artifact folder (sha256-verified).

    Raises
    ------
    ArtifactError
        Missing manifest or weights, a sha256 mismatch, or an artifact of another backend.
    """
    directory = Path(directory)
    manifest = read_artifact_manifest(directory)
    if manifest.get("backend") != BACKEND:
        raise ArtifactError(f"{directory} holds a {manifest.get('backend')!r} artifact, not {BACKEND!r}")
    ensure_offline()
    from ultralytics import YOLO

    params = {**DEFAULT_PARAMS, **manifest.get("params", {})}
    device = _ultralytics_device(device)
    model = YOLO(str(directory / WEIGHTS_FILE), task="pose")
    return UltralyticsPoseModel(model=model, manifest=manifest, params=params, device=device)
