"""The landmark refiner network: a second, close look at each leg's femoral-head apex and plafond centre.

For each leg the localiser found, a :class:`inference.core.landmark_patches.LandmarkPatch` is cut
around its apex and around its ankle (a tenth of the leg's length square, 64 x 64, left legs mirrored);
a small encoder-decoder CNN (about 0.47 M parameters) gives a heatmap per landmark at stride 2, whose
soft-argmax (integral regression) is the landmark in the patch, mapped back to original pixels. The
refinement runs :data:`PASSES` times, each pass centred on the previous answer.

Training (:func:`train`): the localiser's samples (EOS landmarks, OAI crops and pairs, phantoms);
each epoch cuts every landmark's patch around the truth moved by a random offset (sigma
:data:`JITTER_FRACTION` of the leg length, like the localiser's error), with the patch size scaled by
0.85-1.15 and brightness, contrast, gamma and noise varied; L1 loss on the soft-argmax in patch
pixels. A checkpoint is written after every epoch and a stopped run resumes from it.

Artifact: ``weights.pt`` (float16 state dict) + ``manifest.json`` with its sha256.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inference.backends.base import ArtifactError, MemberSpec, read_artifact_manifest, write_artifact_manifest
from inference.backends.leg_localiser import LocaliserSample
from inference.backends.small_cnn import conv_block, load_half, save_half, train_resumable
from inference.core.landmark_patches import LANDMARKS, PATCH_PIXELS, LandmarkPatch
from inference.core.leg_localisation import Localisation, LocalisedLeg, leg_box

__all__ = ["LandmarkRefiner", "finished", "load", "train"]

STRIDE = 2
PASSES = 2
JITTER_FRACTION = 0.012
WEIGHTS_FILE = "weights.pt"
CHECKPOINT_FILE = "checkpoint.pt"
SPEC = MemberSpec(backend="landmark_refiner", architecture="patch-heatmap-cnn", kind="keypoint")


def _build_net() -> Any:
    import torch
    from torch import nn

    class RefinerNet(nn.Module):
        """Encoder to stride 16 (the whole patch in view), decoder with skips back to stride 2."""

        def __init__(self) -> None:
            super().__init__()
            self.stem = conv_block(1, 16, 1)  # /1
            self.enc1 = conv_block(16, 24, 2)  # /2
            self.enc2 = conv_block(24, 48, 2)  # /4
            self.enc3 = conv_block(48, 64, 2)  # /8
            self.enc4 = conv_block(64, 96, 2)  # /16
            self.up3 = conv_block(96 + 64, 64, 1)
            self.up2 = conv_block(64 + 48, 48, 1)
            self.up1 = conv_block(48 + 24, 32, 1)
            self.head = nn.Conv2d(32, len(LANDMARKS), 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f1 = self.enc1(self.stem(x))
            f2 = self.enc2(f1)
            f3 = self.enc3(f2)
            y = self.enc4(f3)
            for skip, layer in ((f3, self.up3), (f2, self.up2), (f1, self.up1)):
                y = layer(torch.cat([nn.functional.interpolate(y, size=skip.shape[-2:], mode="bilinear",
                                                               align_corners=False), skip], 1))
            return self.head(y)

    return RefinerNet()


def _soft_argmax(logits: Any, channels: Any) -> Any:
    """``(N, C, h, w)`` logits and each row's channel -> ``(N, 2)`` expected ``(u, v)`` in patch pixels."""
    import torch

    picked = logits[torch.arange(len(channels)), channels]  # (N, h, w)
    n, h, w = picked.shape
    prob = torch.softmax(picked.reshape(n, -1), dim=1).reshape(n, h, w)
    # Cell i of the stride-2 map covers patch pixels 2i and 2i + 1: its centre is 2i + 0.5.
    us = torch.arange(w, dtype=prob.dtype) * STRIDE + (STRIDE - 1) / 2.0
    vs = torch.arange(h, dtype=prob.dtype) * STRIDE + (STRIDE - 1) / 2.0
    return torch.stack([(prob.sum(1) * us).sum(1), (prob.sum(2) * vs).sum(1)], dim=1)


class LandmarkRefiner:
    """A loaded refiner: :meth:`refine` moves each localised leg's apex and ankle onto the bone."""

    def __init__(self, net: Any, manifest: dict[str, Any]) -> None:
        self.net, self.manifest = net, manifest

    def points(self, patches: Sequence[NDArray[np.uint8]], landmarks: Sequence[str]) -> NDArray[np.float64]:
        """Each patch's landmark in patch pixels, ``(N, 2)``."""
        import torch

        x = torch.from_numpy(np.stack(patches)).float().div_(255.0)[:, None]
        channels = torch.tensor([LANDMARKS.index(name) for name in landmarks])
        with torch.inference_mode():
            return _soft_argmax(self.net(x), channels).double().numpy()

    def refine_points(self, image: NDArray[np.uint8], points: Sequence[tuple[str, NDArray[np.float64]]],
                      leg_lengths: Sequence[float], mirrored: Sequence[bool]) -> NDArray[np.float64]:
        """``(landmark, coarse xy)`` pairs of ``image`` -> refined ``(N, 2)`` original points."""
        current = np.array([np.asarray(p, dtype=np.float64) for _, p in points]).reshape(-1, 2)
        names = [name for name, _ in points]
        for _ in range(PASSES):
            patches = [LandmarkPatch.around(xy, length, mirrored=m)
                       for xy, length, m in zip(current, leg_lengths, mirrored, strict=True)]
            found = self.points([patch.cut(image) for patch in patches], names)
            current = np.vstack([patch.to_original(uv) for patch, uv in zip(patches, found, strict=True)])
        return current

    def refine(self, image: NDArray[np.uint8], localisation: Localisation) -> Localisation:
        """``localisation`` with every leg's apex and ankle refined (and its box redrawn from them)."""
        legs = list(localisation.legs)
        if not legs:
            return localisation
        points = [(name, np.array(getattr(leg, f"{name}_xy"))) for leg in legs for name in LANDMARKS]
        lengths = [float(np.hypot(*np.subtract(leg.ankle_xy, leg.apex_xy))) for leg in legs for _ in LANDMARKS]
        mirrored = [leg.looks_like == "left" for leg in legs for _ in LANDMARKS]
        refined = self.refine_points(image, points, lengths, mirrored).reshape(len(legs), len(LANDMARKS), 2)
        new_legs: list[LocalisedLeg] = []
        for leg, found in zip(legs, refined, strict=True):
            xy = {name: (float(point[0]), float(point[1])) for name, point in zip(LANDMARKS, found, strict=True)}
            new_legs.append(replace(leg, apex_xy=xy["apex"], ankle_xy=xy["ankle"],
                                    box_xyxy=leg_box(np.array(xy["apex"]), np.array(xy["ankle"]))))
        return replace(localisation, legs=tuple(new_legs))


def load(directory: Path, *, device: str = "cpu") -> LandmarkRefiner:
    """Load a refiner artifact (sha256-checked)."""
    manifest = read_artifact_manifest(directory)
    if manifest.get("backend") != SPEC.backend:
        raise ArtifactError(f"{directory} is not a landmark refiner (backend {manifest.get('backend')!r})")
    return LandmarkRefiner(load_half(_build_net(), directory / WEIGHTS_FILE, device=device), manifest)


# ----------------------------------------------------------------------------------------------------
# Training


def _landmarks(samples: Sequence[LocaliserSample]) -> list[tuple[int, str, NDArray[np.float64], float, bool]]:
    """``(sample index, landmark, truth xy, leg length, mirrored)`` of every landmark of ``samples``."""
    rows = []
    for index, sample in enumerate(samples):
        for side, (apex, ankle) in sample.legs.items():
            length = float(np.hypot(*np.subtract(ankle, apex)))
            # A leg is shown as a right leg: patient-left legs of a standard AP image are mirrored.
            for name, point in (("apex", apex), ("ankle", ankle)):
                rows.append((index, name, np.asarray(point, dtype=np.float64), length, side == "left"))
    return rows


def _augmented(image: NDArray[np.uint8], truth: NDArray[np.float64], length: float, mirrored: bool,
               rng: np.random.Generator) -> tuple[NDArray[np.uint8], NDArray[np.float64]]:
    offset = np.clip(rng.normal(0.0, JITTER_FRACTION * length, 2), -0.03 * length, 0.03 * length)
    patch = LandmarkPatch.around(truth + offset, length * rng.uniform(0.85, 1.15), mirrored=mirrored)
    x = patch.cut(image).astype(np.float32) / 255.0
    x = np.clip((x - 0.5) * rng.uniform(0.7, 1.4) + 0.5 + rng.uniform(-0.15, 0.15), 0, 1) ** rng.uniform(0.7, 1.4)
    x = np.clip(x + rng.normal(0, rng.uniform(0, 0.03), x.shape), 0, 1)
    return (x * 255).astype(np.uint8), patch.to_patch(truth)[0]


def finished(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds a finished refiner (an artifact and no checkpoint left to resume)."""
    return (out_dir / "manifest.json").is_file() and not (out_dir / CHECKPOINT_FILE).is_file()


def train(samples: Sequence[LocaliserSample], *, out_dir: Path, epochs: int = 30, batch_size: int = 32,
          lr: float = 2e-3, seed: int = 0, progress: Callable[[dict[str, Any]], None] | None = None,
          training_data: Mapping[str, Any] | None = None) -> Path:
    """Train a refiner on ``samples``' landmarks into ``out_dir`` (resuming from its checkpoint); return the folder."""
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    if finished(out_dir):
        return out_dir
    rows = _landmarks(samples)
    if not rows:
        raise ValueError("no landmarks to train the refiner on")
    net = _build_net()

    def batch_loss(indices: Sequence[int], rng: np.random.Generator) -> Any:
        batch = [rows[i] for i in indices]
        made = [_augmented(samples[i].image, truth, length, mirrored, rng) for i, _, truth, length, mirrored in batch]
        x = torch.from_numpy(np.stack([m[0] for m in made])).float().div_(255.0)[:, None]
        target = torch.from_numpy(np.stack([m[1] for m in made])).float()
        channels = torch.tensor([LANDMARKS.index(name) for _, name, *_ in batch])
        return (_soft_argmax(net(x), channels) - target).abs().sum(1).mean()

    checkpoint = out_dir / CHECKPOINT_FILE
    history = train_resumable(net, n_items=len(rows), batch_loss=batch_loss, checkpoint=checkpoint, epochs=epochs,
                              batch_size=batch_size, lr=lr, seed=seed, stage="landmark_refiner", progress=progress)
    save_half(net, out_dir / WEIGHTS_FILE)
    write_artifact_manifest(out_dir, spec=SPEC, files=[WEIGHTS_FILE], extra={
        "patch_pixels": PATCH_PIXELS, "stride": STRIDE, "landmarks": list(LANDMARKS), "passes": PASSES,
        "epochs": epochs, "history": [round(v, 4) for v in history], "n_landmarks": len(rows),
        "training_data": dict(training_data or {}),
    })
    checkpoint.unlink()
    (out_dir / "history.json").write_text(json.dumps(history))
    return out_dir
