"""The leg localiser network: whole radiograph in, four landmark heatmaps out (torch side).

The image is letterboxed (aspect kept, centred, black padding) into :data:`INPUT_SIZE` (256 x 128,
height x width); a small encoder-decoder CNN (about 0.8 M parameters) returns, at stride 2, the
heatmaps of :data:`inference.core.leg_localisation.CHANNELS` (femoral-head apex and plafond centre of
the patient's right and left leg); :func:`inference.core.leg_localisation.decode_heatmaps` turns them
into legs.

Training (:func:`train`): Gaussian targets (sigma 1.5 cells), the penalty-reduced focal loss of
CenterNet, AdamW with a cosine schedule, and augmentation for what hospital images vary in: scale and
black borders (the image placed at a random size and place on a larger canvas), brightness, contrast
and gamma, inversion-free noise, and horizontal flips with the sides swapped (a mirrored right leg is
a left leg; a mirrored bilateral AP image keeps the convention image-left = patient right). A
checkpoint is written after every epoch and a stopped run resumes from it.

Artifact: ``weights.pt`` (float16 state dict) + ``manifest.json`` with its sha256.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from inference.backends.base import ArtifactError, MemberSpec, read_artifact_manifest, write_artifact_manifest
from inference.backends.small_cnn import conv_block, load_half, save_half, train_resumable
from inference.core.leg_localisation import CHANNELS, Localisation, LocaliserSample, decode_heatmaps

__all__ = ["INPUT_SIZE", "LegLocaliser", "LocaliserSample", "finished", "letterbox", "load", "train"]

INPUT_SIZE = (256, 128)
STRIDE = 2
SIGMA_CELLS = 1.5
WEIGHTS_FILE = "weights.pt"
CHECKPOINT_FILE = "checkpoint.pt"
SPEC = MemberSpec(backend="leg_localiser", architecture="heatmap-cnn", kind="keypoint")


@dataclass(frozen=True)
class Letterbox:
    scale: float
    offset_x: float
    offset_y: float

    def to_input(self, points_xy: NDArray[np.float64]) -> NDArray[np.float64]:
        p = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        return np.column_stack([p[:, 0] * self.scale + self.offset_x, p[:, 1] * self.scale + self.offset_y])

    def cells_to_original(self, cells_xy: NDArray[np.float64]) -> NDArray[np.float64]:
        p = np.asarray(cells_xy, dtype=np.float64).reshape(-1, 2) * STRIDE
        return np.column_stack([(p[:, 0] - self.offset_x) / self.scale, (p[:, 1] - self.offset_y) / self.scale])


def letterbox(image: NDArray[np.uint8], size: tuple[int, int] = INPUT_SIZE) -> tuple[NDArray[np.uint8], Letterbox]:
    """``image`` scaled (aspect kept, area-averaged) and centred on a black ``size`` canvas."""
    h, w = image.shape
    out_h, out_w = size
    scale = min(out_h / h, out_w / w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((new_w, new_h), Image.Resampling.BOX
                                                                             if scale < 1 else Image.Resampling.BILINEAR))
    canvas = np.zeros(size, dtype=np.uint8)
    x0, y0 = (out_w - new_w) // 2, (out_h - new_h) // 2
    canvas[y0:y0 + new_h, x0:x0 + new_w] = resized
    return canvas, Letterbox(scale=new_w / w, offset_x=float(x0), offset_y=float(y0))


def _build_net() -> Any:
    import torch
    from torch import nn

    class LocaliserNet(nn.Module):
        """Encoder to stride 32 (dilated context at the bottom), decoder with skips back to stride 2."""

        def __init__(self) -> None:
            super().__init__()
            self.stem = conv_block(1, 12, 1)  # /1
            self.enc1 = conv_block(12, 24, 2)  # /2
            self.enc2 = conv_block(24, 48, 2)  # /4
            self.enc3 = conv_block(48, 64, 2)  # /8
            self.enc4 = conv_block(64, 96, 2)  # /16
            self.enc5 = conv_block(96, 96, 2)  # /32
            self.context = nn.Sequential(nn.Conv2d(96, 96, 3, 1, 2, dilation=2, bias=False), nn.BatchNorm2d(96),
                                         nn.ReLU(inplace=True))
            self.up4 = conv_block(96 + 96, 64, 1)
            self.up3 = conv_block(64 + 64, 48, 1)
            self.up2 = conv_block(48 + 48, 32, 1)
            self.up1 = conv_block(32 + 24, 24, 1)
            self.head = nn.Conv2d(24, len(CHANNELS), 1)
            nn.init.constant_(self.head.bias, -2.19)  # sigmoid ~ 0.1 at start (CenterNet)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f1 = self.enc1(self.stem(x))
            f2 = self.enc2(f1)
            f3 = self.enc3(f2)
            f4 = self.enc4(f3)
            y = self.context(self.enc5(f4))
            for skip, layer in ((f4, self.up4), (f3, self.up3), (f2, self.up2), (f1, self.up1)):
                y = layer(torch.cat([nn.functional.interpolate(y, size=skip.shape[-2:], mode="bilinear",
                                                               align_corners=False), skip], 1))
            return self.head(y)

    return LocaliserNet()


class LegLocaliser:
    """A loaded localiser: :meth:`localise` gives the legs of one image."""

    def __init__(self, net: Any, manifest: dict[str, Any]) -> None:
        self.net, self.manifest = net, manifest

    def heatmaps(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.float64], Letterbox]:
        import torch

        canvas, box = letterbox(image)
        with torch.inference_mode():
            logits = self.net(torch.from_numpy(canvas).float().div_(255.0)[None, None])
        return torch.sigmoid(logits)[0].double().numpy(), box

    def localise(self, image: NDArray[np.uint8], *, dicom: Mapping[str, Any] | None = None) -> Localisation:
        heatmaps, box = self.heatmaps(image)
        h, w = image.shape
        return decode_heatmaps(heatmaps, to_original=box.cells_to_original, image_width=w, image_height=h,
                               dicom=dicom)


def load(directory: Path, *, device: str = "cpu") -> LegLocaliser:
    """Load a localiser artifact (sha256-checked)."""
    manifest = read_artifact_manifest(directory)
    if manifest.get("backend") != SPEC.backend:
        raise ArtifactError(f"{directory} is not a leg localiser (backend {manifest.get('backend')!r})")
    return LegLocaliser(load_half(_build_net(), directory / WEIGHTS_FILE, device=device), manifest)


# ----------------------------------------------------------------------------------------------------
# Training


def _targets(legs: Mapping[str, tuple[tuple[float, float], tuple[float, float]]], box: Letterbox,
             flipped: bool, out_h: int, out_w: int) -> NDArray[np.float32]:
    target = np.zeros((len(CHANNELS), out_h, out_w), dtype=np.float32)
    yy, xx = np.mgrid[0:out_h, 0:out_w]
    for side, (apex, ankle) in legs.items():
        if flipped:
            side = "left" if side == "right" else "right"
        for landmark, point in (("apex", apex), ("ankle", ankle)):
            x, y = box.to_input(np.array(point))[0]
            if flipped:
                x = INPUT_SIZE[1] - x
            cx, cy = x / STRIDE - 0.5, y / STRIDE - 0.5
            channel = CHANNELS.index((side, landmark))
            gauss = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * SIGMA_CELLS**2))
            target[channel] = np.maximum(target[channel], gauss)
            row, col = int(round(cy)), int(round(cx))
            if 0 <= row < out_h and 0 <= col < out_w:
                target[channel, row, col] = 1.0  # the peak cell is the one positive of the focal loss
    return target


def _augmented(sample: LocaliserSample, rng: np.random.Generator) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    image = sample.image
    h, w = image.shape
    # Black borders and scale: the image on a canvas up to 60 % larger in each direction.
    pad_x, pad_y = rng.uniform(0, 0.6) * w, rng.uniform(0, 0.3) * h
    left, top = rng.uniform(0, 1) * pad_x, rng.uniform(0, 1) * pad_y
    canvas = np.zeros((int(h + pad_y), int(w + pad_x)), dtype=np.uint8)
    canvas[int(top):int(top) + h, int(left):int(left) + w] = image
    legs = {side: ((a[0] + int(left), a[1] + int(top)), (b[0] + int(left), b[1] + int(top)))
            for side, (a, b) in sample.legs.items()}
    x, box = letterbox(canvas)
    xf = x.astype(np.float32) / 255.0
    xf = np.clip((xf - 0.5) * rng.uniform(0.7, 1.4) + 0.5 + rng.uniform(-0.15, 0.15), 0, 1) ** rng.uniform(0.7, 1.4)
    xf = np.clip(xf + rng.normal(0, rng.uniform(0, 0.03), xf.shape), 0, 1)
    flipped = bool(rng.uniform() < 0.5)
    if flipped:
        xf = xf[:, ::-1]
    target = _targets(legs, box, flipped, INPUT_SIZE[0] // STRIDE, INPUT_SIZE[1] // STRIDE)
    return np.ascontiguousarray(xf * 255).astype(np.uint8), target


def _focal_loss(logits: Any, target: Any) -> Any:
    import torch

    prob = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    positive = target.eq(1.0)
    pos_loss = -torch.log(prob) * (1 - prob) ** 2 * positive
    neg_loss = -torch.log(1 - prob) * prob**2 * (1 - target) ** 4 * (~positive)
    n_pos = positive.sum().clamp(min=1)
    return (pos_loss.sum() + neg_loss.sum()) / n_pos


def finished(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds a finished localiser (an artifact and no checkpoint left to resume)."""
    return (out_dir / "manifest.json").is_file() and not (out_dir / CHECKPOINT_FILE).is_file()


def train(samples: Sequence[LocaliserSample], *, out_dir: Path, epochs: int = 30, batch_size: int = 16,
          lr: float = 2e-3, seed: int = 0, progress: Callable[[dict[str, Any]], None] | None = None,
          training_data: Mapping[str, Any] | None = None) -> Path:
    """Train a localiser on ``samples`` into ``out_dir`` (resuming from its checkpoint); return the folder."""
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    if finished(out_dir):
        return out_dir  # nothing to resume
    net = _build_net()

    def batch_loss(indices: Sequence[int], rng: np.random.Generator) -> Any:
        batch = [_augmented(samples[i], rng) for i in indices]
        x = torch.from_numpy(np.stack([b[0] for b in batch])).float().div_(255.0)[:, None]
        return _focal_loss(net(x), torch.from_numpy(np.stack([b[1] for b in batch])))

    checkpoint = out_dir / CHECKPOINT_FILE
    history = train_resumable(net, n_items=len(samples), batch_loss=batch_loss, checkpoint=checkpoint, epochs=epochs,
                              batch_size=batch_size, lr=lr, seed=seed, stage="localiser", progress=progress)
    save_half(net, out_dir / WEIGHTS_FILE)
    write_artifact_manifest(out_dir, spec=SPEC, files=[WEIGHTS_FILE], extra={
        "input_size": list(INPUT_SIZE), "stride": STRIDE, "channels": [list(c) for c in CHANNELS],
        "epochs": epochs, "history": [round(v, 5) for v in history], "n_samples": len(samples),
        "training_data": dict(training_data or {}),
    })
    checkpoint.unlink()
    (out_dir / "history.json").write_text(json.dumps(history))
    return out_dir
