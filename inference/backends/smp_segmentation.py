"""Segmentation members over segmentation-models-pytorch (smp): train, save, load, predict.

One member is one smp model (decoder ``spec.architecture`` + encoder ``spec.params["encoder"]``)
that maps a grey image to a 3-class label map (0 background, 1 femur, 2 tibia). Importing this
module is cheap: torch and smp are imported inside :func:`train` and :func:`load`; the letterbox
geometry below is plain numpy.

Input handling (letterbox)
--------------------------
The network sees a fixed ``input_size = (height, width)`` (both multiples of 32). An ``(H, W)``
image is scaled by ``s = min(height / H, width / W)`` (aspect kept) to
``(round(H s), round(W s))``, placed in the middle of a zero canvas (radiograph background is
black) and normalised. Predictions are mapped back exactly to the original pixel grid: the logits
are cropped to the resized region, resampled bilinearly (pixel-centre convention,
``align_corners=False``) to ``(H, W)`` and only then arg-maxed, so the label map has the original
size whatever the input size. :func:`unletterbox_labels` is the nearest-neighbour equivalent for
label maps.

Training
--------
AdamW, pixel cross-entropy against soft targets (the one-hot label map resampled with the image's
own filter, :func:`letterbox_soft_labels`) (+ ``dice_weight`` x soft Dice over femur and tibia), a per-step
learning-rate schedule (cosine, poly or constant, optional linear warm-up), a fixed seed, and light
augmentation applied on the letterboxed batch: random scale, shift and small rotation
(one affine ``grid_sample``, bilinear for image and targets; black / background outside), brightness, contrast
and gamma. Mixed precision (float16 autocast + gradient scaling) is used on CUDA only.

Horizontal flips are **off by default** (``augment.hflip = 0``). The femur/tibia labels carry no
side, so a flip keeps image and mask consistent, but it mirrors the anatomy: on single-side crops
(the OAI set is all patient-right legs: femoral head and fibula always on the same side) a flipped
crop is a left leg the model never meets at inference, which spends capacity on an impossible input
and removes a cue (the head/fibula side) the members can rely on. On bilateral AP images a flip
swaps the two legs and stays in distribution, so ``hflip = 0.5`` is reasonable there (any *sided*
target, e.g. joints keyed by image side, would have to be swapped too; masks need nothing).

Artifact
--------
``weights.pt`` (a ``state_dict``, loaded with ``weights_only=True``) and ``manifest.json``
(:func:`inference.backends.base.write_artifact_manifest`: backend ``"smp"``, architecture, the
fully resolved params, the sha256 of ``weights.pt``, plus versions and the training history).
:func:`load` verifies the sha256 before reading the weights.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from inference.backends.base import (
    ArtifactError,
    MemberSpec,
    ProgressCallback,
    read_artifact_manifest,
    resolve_device,
    write_artifact_manifest,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from inference.core.samples import TrainingSample

__all__ = [
    "BACKEND_NAME",
    "DEFAULT_PARAMS",
    "SUPPORTED_ARCHITECTURES",
    "Letterbox",
    "SmpSegmenter",
    "letterbox_geometry",
    "letterbox_image",
    "letterbox_labels",
    "letterbox_soft_labels",
    "load",
    "resolve_params",
    "train",
    "unletterbox_labels",
]

BACKEND_NAME = "smp"
WEIGHTS_FILE = "weights.pt"
FORMAT_VERSION = 1
N_CLASSES = 3

#: Decoders accepted as ``MemberSpec.architecture`` (smp class names). PAN needs an input at least
#: 256 px on each side (its pyramid pools the 1/32 map three times); Linknet and UnetPlusPlus do not
#: build with ``mit_b0``.
SUPPORTED_ARCHITECTURES: tuple[str, ...] = (
    "Unet",
    "UnetPlusPlus",
    "FPN",
    "DeepLabV3Plus",
    "PSPNet",
    "UPerNet",
    "Segformer",
    "MAnet",
    "PAN",
    "Linknet",
)

#: Every parameter a member understands, with its default. ``input_size`` is ``[height, width]``.
DEFAULT_PARAMS: dict[str, Any] = {
    "encoder": "resnet18",
    "encoder_weights": None,  # None: random initialisation; "imagenet": bundled weights (imagenet_weights.py)
    "encoder_depth": None,  # None: the architecture's default
    "decoder_params": {},  # extra keyword arguments of the smp class (e.g. decoder_channels)
    "input_size": [512, 64],
    "epochs": 10,
    "iterations": None,  # if set, train exactly this many steps (epochs derived from it)
    "batch_size": 8,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "schedule": "cosine",  # "cosine" | "poly" | "constant"
    "min_lr_ratio": 0.01,
    "warmup_steps": 0,
    "dice_weight": 0.5,
    "augment": {
        "scale": [0.9, 1.1],
        "shift": 0.05,  # fraction of the input size, each axis
        "rotate_deg": 5.0,
        "brightness": 0.1,
        "contrast": 0.15,
        "gamma": 0.15,  # gamma drawn from [1 - g, 1 + g]
        "hflip": 0.0,  # probability; see the module notes before turning it on
    },
    "norm_mean": 0.5,
    "norm_std": 0.25,
}


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------
def resolve_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``params`` over :data:`DEFAULT_PARAMS` (``augment`` merged key by key) and validate.

    Raises
    ------
    ValueError
        An unknown key, an ``input_size`` that is not two positive multiples of 32, or a
        non-positive ``epochs``/``batch_size``/``lr``.
    """
    unknown = set(params) - set(DEFAULT_PARAMS)
    if unknown:
        raise ValueError(f"unknown smp parameters: {sorted(unknown)}; known: {sorted(DEFAULT_PARAMS)}")
    out = copy.deepcopy(DEFAULT_PARAMS)
    for key, value in params.items():
        if key == "augment":
            extra = set(value) - set(DEFAULT_PARAMS["augment"])
            if extra:
                raise ValueError(f"unknown augment parameters: {sorted(extra)}")
            out["augment"].update(copy.deepcopy(dict(value)))
        else:
            out[key] = copy.deepcopy(value)
    size = [int(v) for v in out["input_size"]]
    if len(size) != 2 or any(v <= 0 or v % 32 for v in size):
        raise ValueError(f"input_size must be [height, width], positive multiples of 32, got {out['input_size']}")
    out["input_size"] = size
    for key in ("epochs", "batch_size"):
        if int(out[key]) < 1:
            raise ValueError(f"{key} must be >= 1, got {out[key]}")
    if out["iterations"] is not None and int(out["iterations"]) < 1:
        raise ValueError(f"iterations must be >= 1 or None, got {out['iterations']}")
    if not float(out["lr"]) > 0:
        raise ValueError(f"lr must be > 0, got {out['lr']}")
    if out["schedule"] not in ("cosine", "poly", "constant"):
        raise ValueError(f"schedule must be 'cosine', 'poly' or 'constant', got {out['schedule']!r}")
    if out["encoder_weights"] not in (None, "imagenet"):
        raise ValueError(f"encoder_weights must be None or 'imagenet', got {out['encoder_weights']!r}")
    if out["encoder_weights"] == "imagenet" and not str(out["encoder"]).startswith("tu-"):
        raise ValueError(f"ImageNet weights are bundled for timm encoders ('tu-...'), not {out['encoder']!r}")
    return out


def _check_architecture(architecture: str) -> None:
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise ValueError(
            f"unknown smp architecture {architecture!r}; supported: {', '.join(SUPPORTED_ARCHITECTURES)}"
        )


# --------------------------------------------------------------------------------------------
# Letterbox geometry (numpy only)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Letterbox:
    """Where an ``(height, width)`` image sits inside the ``(input_height, input_width)`` canvas.

    Attributes
    ----------
    height, width : int
        Original image size.
    input_height, input_width : int
        Network input size.
    resized_height, resized_width : int
        Size of the scaled image inside the canvas.
    top, left : int
        Offset of the scaled image in the canvas (zero padding around it).
    """

    height: int
    width: int
    input_height: int
    input_width: int
    resized_height: int
    resized_width: int
    top: int
    left: int

    @property
    def scale_xy(self) -> tuple[float, float]:
        """Per-axis scale ``(resized_width / width, resized_height / height)``."""
        return self.resized_width / self.width, self.resized_height / self.height

    def to_input_xy(self, points_xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Map ``(N, 2)`` original ``(x, y)`` to canvas ``(x, y)`` (corner-origin, exact)."""
        sx, sy = self.scale_xy
        pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        return pts * np.array([sx, sy]) + np.array([self.left, self.top], dtype=np.float64)

    def to_original_xy(self, points_xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Inverse of :meth:`to_input_xy`."""
        sx, sy = self.scale_xy
        pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        return (pts - np.array([self.left, self.top], dtype=np.float64)) / np.array([sx, sy])


def letterbox_geometry(height: int, width: int, *, input_height: int, input_width: int) -> Letterbox:
    """Scale-and-pad geometry that fits ``(height, width)`` into the input, aspect kept.

    ``s = min(input_height / height, input_width / width)``; the resized size is
    ``(round(height s), round(width s))`` clipped to ``[1, input]`` (the limiting axis fills the
    input exactly), centred with the extra pixels (odd remainder) on the bottom/right.

    Examples
    --------
    >>> letterbox_geometry(1024, 128, input_height=512, input_width=64)
    Letterbox(height=1024, width=128, input_height=512, input_width=64, resized_height=512, resized_width=64, top=0, left=0)
    >>> letterbox_geometry(100, 37, input_height=128, input_width=64).left
    8
    """
    if min(height, width, input_height, input_width) < 1:
        raise ValueError(f"sizes must be positive, got {height}x{width} into {input_height}x{input_width}")
    s = min(input_height / height, input_width / width)
    rh = int(min(max(round(height * s), 1), input_height))
    rw = int(min(max(round(width * s), 1), input_width))
    return Letterbox(
        height=int(height), width=int(width), input_height=int(input_height), input_width=int(input_width),
        resized_height=rh, resized_width=rw, top=(input_height - rh) // 2, left=(input_width - rw) // 2,
    )


def _nearest_indices(n_out: int, n_in: int) -> NDArray[np.intp]:
    """Source index of each output pixel under the pixel-centre rule ``(i + 0.5) * n_in / n_out``."""
    idx = np.floor((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.intp)
    return np.clip(idx, 0, n_in - 1)


def letterbox_image(image: NDArray[np.uint8], box: Letterbox) -> NDArray[np.uint8]:
    """Scale (bilinear; Pillow low-pass filters when shrinking) and zero-pad an ``(H, W)`` uint8 image."""
    img = np.asarray(image)
    if img.shape != (box.height, box.width):
        raise ValueError(f"image is {img.shape}, letterbox expects {(box.height, box.width)}")
    if (box.resized_height, box.resized_width) != img.shape:
        img = np.asarray(
            Image.fromarray(img.astype(np.uint8, copy=False)).resize(
                (box.resized_width, box.resized_height), Image.Resampling.BILINEAR
            )
        )
    out = np.zeros((box.input_height, box.input_width), dtype=np.uint8)
    out[box.top : box.top + box.resized_height, box.left : box.left + box.resized_width] = img
    return out


def letterbox_labels(label_map: NDArray[np.integer], box: Letterbox) -> NDArray[np.uint8]:
    """Scale (nearest neighbour, pixel centres) and zero-pad an ``(H, W)`` label map."""
    lab = np.asarray(label_map)
    if lab.shape != (box.height, box.width):
        raise ValueError(f"label map is {lab.shape}, letterbox expects {(box.height, box.width)}")
    rows = _nearest_indices(box.resized_height, box.height)
    cols = _nearest_indices(box.resized_width, box.width)
    out = np.zeros((box.input_height, box.input_width), dtype=np.uint8)
    out[box.top : box.top + box.resized_height, box.left : box.left + box.resized_width] = lab[np.ix_(rows, cols)]
    return out


def unletterbox_labels(labels_in: NDArray[np.integer], box: Letterbox) -> NDArray[np.uint8]:
    """Map an ``(input_height, input_width)`` label map back to the ``(H, W)`` original grid.

    Crops the resized region and resamples it by nearest neighbour on pixel centres: original
    pixel ``[r, c]`` takes the canvas pixel containing ``((c + 0.5) sx + left, (r + 0.5) sy + top)``.
    For integer up-scaling factors this exactly inverts :func:`letterbox_labels`.
    """
    lab = np.asarray(labels_in)
    if lab.shape != (box.input_height, box.input_width):
        raise ValueError(f"labels are {lab.shape}, letterbox expects {(box.input_height, box.input_width)}")
    crop = lab[box.top : box.top + box.resized_height, box.left : box.left + box.resized_width]
    rows = _nearest_indices(box.height, box.resized_height)
    cols = _nearest_indices(box.width, box.resized_width)
    return np.ascontiguousarray(crop[np.ix_(rows, cols)], dtype=np.uint8)


def letterbox_soft_labels(label_map: NDArray[np.integer], box: Letterbox) -> NDArray[np.uint8]:
    """Class probabilities ``(3, input_height, input_width)`` (uint8, 255 = 1) of a letterboxed label map.

    Each class's indicator is resampled with the very filter :func:`letterbox_image` applies to the
    image (Pillow bilinear, low-pass when shrinking), so targets stay aligned with the pixels to a
    fraction of a pixel. Nearest-neighbour targets are not: shrinking by an even factor picks one
    pixel of each block and shifts the labels by half an original pixel, which costs about 0.005
    IOU on the 128-px-wide OAI crops. The padding is background (probability 1).
    """
    lab = np.asarray(label_map)
    if lab.shape != (box.height, box.width):
        raise ValueError(f"label map is {lab.shape}, letterbox expects {(box.height, box.width)}")
    out = np.zeros((N_CLASSES, box.input_height, box.input_width), dtype=np.float32)
    out[0] = 1.0
    region = (slice(box.top, box.top + box.resized_height), slice(box.left, box.left + box.resized_width))
    for c in range(N_CLASSES):  # one resize per class, not per pixel
        ind = Image.fromarray((lab == c).astype(np.float32), mode="F")
        if (box.resized_height, box.resized_width) != lab.shape:
            ind = ind.resize((box.resized_width, box.resized_height), Image.Resampling.BILINEAR)
        out[c][region] = np.asarray(ind)
    out = np.clip(out, 0.0, None)
    out /= np.maximum(out.sum(axis=0, keepdims=True), 1e-6)
    return np.round(out * 255.0).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Torch helpers (imported lazily)
# --------------------------------------------------------------------------------------------

def _build_model(architecture: str, params: Mapping[str, Any]) -> torch.nn.Module:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import segmentation_models_pytorch as smp

    _check_architecture(architecture)
    kwargs: dict[str, Any] = dict(params.get("decoder_params") or {})
    if params.get("encoder_depth") is not None:
        kwargs["encoder_depth"] = int(params["encoder_depth"])
    cls = getattr(smp, architecture)
    return cls(encoder_name=params["encoder"], encoder_weights=None, in_channels=1, classes=N_CLASSES, **kwargs)


def _normalise(batch_u8: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    x = batch_u8.float().div_(255.0)
    return (x - float(params["norm_mean"])) / float(params["norm_std"])


def _augment(
    x: torch.Tensor, y: torch.Tensor, aug: Mapping[str, Any], gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch: ``x`` (B, 1, h, w) float in [0, 1], ``y`` (B, C, h, w) class probabilities.

    Both go through the same affine ``grid_sample`` (bilinear); outside the source the image is 0
    and the target is background. Random numbers are drawn on ``gen`` (CPU).
    """
    import torch
    import torch.nn.functional as F

    b, _, h, w = x.shape
    dev = x.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return (torch.rand(b, generator=gen) * (hi - lo) + lo).to(dev)

    s_lo, s_hi = (float(v) for v in aug["scale"])
    scale = uniform(s_lo, s_hi)
    shift = float(aug["shift"])
    tx, ty = uniform(-shift, shift) * 2.0, uniform(-shift, shift) * 2.0  # normalised units span 2
    theta_rad = uniform(-float(aug["rotate_deg"]), float(aug["rotate_deg"])) * (math.pi / 180.0)
    flip = (torch.rand(b, generator=gen) < float(aug["hflip"])).to(dev)
    if s_lo != 1.0 or s_hi != 1.0 or shift or float(aug["rotate_deg"]) or bool(flip.any()):
        # Output pixel p (pixel units about the centre) samples input at R(-theta) p / scale - t.
        # In normalised coordinates u = D^-1 p with D = diag(w/2, h/2): A = D^-1 R D / scale.
        cos, sin = torch.cos(theta_rad), torch.sin(theta_rad)
        a = torch.zeros(b, 2, 3, device=dev)
        a[:, 0, 0] = cos / scale
        a[:, 0, 1] = sin * (h / w) / scale
        a[:, 1, 0] = -sin * (w / h) / scale
        a[:, 1, 1] = cos / scale
        a[:, 0, 2] = tx
        a[:, 1, 2] = ty
        a[:, 0, :] *= torch.where(flip, -1.0, 1.0).unsqueeze(1)
        grid = F.affine_grid(a, [b, 1, h, w], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        y = F.grid_sample(y, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        y[:, 0] += (1.0 - y.sum(dim=1)).clamp(min=0.0)  # outside the source: background
    br, ct, gm = float(aug["brightness"]), float(aug["contrast"]), float(aug["gamma"])
    if gm:
        g = uniform(1.0 - gm, 1.0 + gm).view(b, 1, 1, 1)
        x = x.clamp(min=0.0).pow(g)
    if ct or br:
        c = uniform(1.0 - ct, 1.0 + ct).view(b, 1, 1, 1)
        d = uniform(-br, br).view(b, 1, 1, 1)
        mean = x.mean(dim=(2, 3), keepdim=True)
        x = (x - mean) * c + mean + d
    return x.clamp(0.0, 1.0), y


def _dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Soft Dice loss averaged over the foreground classes (1..C-1), pooled over the batch.

    ``target`` is (B, C, h, w) class probabilities.
    """
    prob = logits.float().softmax(dim=1)[:, 1:]
    tgt = target[:, 1:]
    inter = (prob * tgt).sum(dim=(0, 2, 3))
    denom = prob.sum(dim=(0, 2, 3)) + tgt.sum(dim=(0, 2, 3))
    return 1.0 - ((2.0 * inter + 1.0) / (denom + 1.0)).mean()


def _lr_factor(step: int, *, total: int, params: Mapping[str, Any]) -> float:
    warm = int(params["warmup_steps"])
    if warm and step < warm:
        return (step + 1) / warm
    if params["schedule"] == "constant":
        return 1.0
    t = (step - warm) / max(total - warm, 1)
    t = min(max(t, 0.0), 1.0)
    floor = float(params["min_lr_ratio"])
    if params["schedule"] == "poly":
        return floor + (1.0 - floor) * (1.0 - t) ** 0.9
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


# --------------------------------------------------------------------------------------------
# Train
# --------------------------------------------------------------------------------------------
def train(
    spec: MemberSpec,
    samples: Sequence[TrainingSample],
    *,
    out_dir: Path,
    device: str = "cpu",
    progress: ProgressCallback | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train one smp member and write its artifact (``weights.pt`` + ``manifest.json``).

    Parameters
    ----------
    spec : MemberSpec
        ``backend`` must be ``"smp"``, ``kind`` ``"segmentation"``, ``architecture`` one of
        :data:`SUPPORTED_ARCHITECTURES`; ``params`` override :data:`DEFAULT_PARAMS`.
    samples : sequence of TrainingSample
        Training images (any sizes; each is letterboxed to ``input_size``). Only ``image`` and
        ``label_map`` are used.
    out_dir : Path
        Created if needed. The manifest is written last, so an interrupted run leaves no loadable
        artifact.
    device : str
        ``"cpu"``, ``"cuda"`` (falls back to the CPU when CUDA is unavailable) or ``"auto"``.
        Mixed precision only on CUDA.
    progress : callable, optional
        Called after every epoch with ``{"epoch", "epochs", "step", "steps", "loss", "lr",
        "seconds"}``. An exception raised inside it stops training at once and propagates
        unchanged; nothing is written to ``out_dir`` then.
    seed : int
        Seeds initialisation, batch order and augmentation.

    Returns
    -------
    dict
        The manifest, as :func:`inference.backends.base.read_artifact_manifest` returns it.

    Raises
    ------
    ValueError
        Bad spec or params, no samples, labels outside 0..2, or an input size the architecture
        cannot take (e.g. PAN below 256 px).
    """
    import torch
    import torch.nn.functional as F

    if spec.backend != BACKEND_NAME or spec.kind != "segmentation":
        raise ValueError(f"spec must be an smp segmentation member, got {spec.backend!r}/{spec.kind!r}")
    _check_architecture(spec.architecture)
    params = resolve_params(spec.params)
    if len(samples) == 0:
        raise ValueError("no training samples")
    in_h, in_w = params["input_size"]
    images = np.empty((len(samples), in_h, in_w), dtype=np.uint8)
    labels = np.empty((len(samples), N_CLASSES, in_h, in_w), dtype=np.uint8)
    for i, s in enumerate(samples):
        if int(s.label_map.max(initial=0)) >= N_CLASSES:
            raise ValueError(f"sample {s.name!r} has labels outside 0..{N_CLASSES - 1}")
        box = letterbox_geometry(*s.image.shape, input_height=in_h, input_width=in_w)
        images[i] = letterbox_image(s.image, box)
        labels[i] = letterbox_soft_labels(s.label_map, box)

    dev = resolve_device(device)
    use_amp = dev.startswith("cuda")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = _build_model(spec.architecture, params)
    if params["encoder_weights"] == "imagenet":
        from inference.backends.imagenet_weights import backbone_name, load_imagenet_weights

        load_imagenet_weights(model.encoder.model, backbone_name(params["encoder"]))
    model = model.to(dev)
    model.eval()
    with torch.no_grad():
        try:
            model(torch.zeros(1, 1, in_h, in_w, device=dev))
        except RuntimeError as exc:
            raise ValueError(f"{spec.architecture}/{params['encoder']} cannot take input {in_h}x{in_w}: {exc}") from exc

    x_all = torch.from_numpy(images).to(dev)
    y_all = torch.from_numpy(labels).to(dev)
    n = len(samples)
    batch = min(int(params["batch_size"]), n)
    # BatchNorm after global pooling (PSPNet, DeepLabV3+) needs >= 2 images per batch: a last
    # batch of one is dropped (it is in the next epoch's shuffle).
    steps_per_epoch = max(1, n // batch if n % batch == 1 and n > 1 else math.ceil(n / batch))
    if params["iterations"] is not None:
        total_steps = int(params["iterations"])
        epochs = math.ceil(total_steps / steps_per_epoch)
    else:
        epochs = int(params["epochs"])
        total_steps = epochs * steps_per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(params["lr"]), weight_decay=float(params["weight_decay"]))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: _lr_factor(k, total=total_steps, params=params)
    )
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    dice_w = float(params["dice_weight"])
    history: list[float] = []
    step = 0
    t0 = time.perf_counter()
    model.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=gen)
        loss_sum, count = 0.0, 0
        for k in range(steps_per_epoch):
            if step >= total_steps:
                break
            idx = order[k * batch : (k + 1) * batch].to(dev)
            if idx.numel() < 2 and n > 1:
                continue
            x = x_all[idx].unsqueeze(1).float().div_(255.0)
            y = y_all[idx].float().div_(255.0)
            x, y = _augment(x, y, params["augment"], gen)
            x = (x - float(params["norm_mean"])) / float(params["norm_std"])
            with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp):
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y)  # probability targets
                if dice_w:
                    loss = loss + dice_w * _dice_loss(logits, y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            loss_sum += float(loss.detach()) * idx.numel()
            count += idx.numel()
        epoch_loss = loss_sum / max(count, 1)
        history.append(epoch_loss)
        if progress is not None:
            progress(
                {
                    "epoch": epoch, "epochs": epochs, "step": step, "steps": total_steps,
                    "loss": epoch_loss, "lr": float(optimizer.param_groups[0]["lr"]),
                    "seconds": time.perf_counter() - t0,
                }
            )
        if step >= total_steps:
            break
    seconds = time.perf_counter() - t0

    import segmentation_models_pytorch as smp

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, out / WEIGHTS_FILE)
    resolved = MemberSpec(backend=BACKEND_NAME, architecture=spec.architecture, kind="segmentation", params=params)
    write_artifact_manifest(
        out,
        spec=resolved,
        files=[WEIGHTS_FILE],
        extra={
            "format_version": FORMAT_VERSION,
            "classes": ["background", "femur", "tibia"],
            "in_channels": 1,
            "training": {
                "n_samples": n,
                "epochs": len(history),
                "steps": step,
                "seconds": round(seconds, 3),
                "seconds_per_epoch": round(seconds / max(len(history), 1), 3),
                "loss_history": [round(v, 6) for v in history],
                "seed": seed,
                "device": dev,
                "mixed_precision": use_amp,
                "torch_version": torch.__version__,
                "smp_version": smp.__version__,
            },
        },
    )
    return read_artifact_manifest(out)


# --------------------------------------------------------------------------------------------
# Load / predict
# --------------------------------------------------------------------------------------------
class SmpSegmenter:
    """A loaded smp member (:class:`inference.backends.base.SegmentationModel`).

    Use :func:`load` to make one.
    """

    def __init__(self, model: torch.nn.Module, manifest: dict[str, Any], *, device: str, directory: Path) -> None:
        self._model = model
        self._manifest = manifest
        self._params = resolve_params(manifest["params"])
        self._device = device
        self._directory = directory

    def info(self) -> dict[str, Any]:
        """Backend, architecture, encoder, input size, device, weights sha256 and training summary."""
        return {
            "backend": BACKEND_NAME,
            "kind": "segmentation",
            "architecture": self._manifest["architecture"],
            "encoder": self._params["encoder"],
            "input_size": list(self._params["input_size"]),
            "device": self._device,
            "directory": str(self._directory),
            "weights_sha256": self._manifest["files"][WEIGHTS_FILE],
            "training": {k: v for k, v in self._manifest.get("training", {}).items() if k != "loss_history"},
        }

    def is_ready(self) -> bool:
        return True

    def predict_logits(self, image: NDArray[np.uint8]) -> NDArray[np.float32]:
        """``(3, H, W)`` float32 class logits at the original resolution (bilinear from the input)."""
        import torch
        import torch.nn.functional as F

        img = np.asarray(image)
        if img.ndim != 2:
            raise ValueError(f"image must be (H, W) grey, got shape {img.shape}")
        if img.dtype != np.uint8:
            raise ValueError(f"image must be uint8, got {img.dtype}")
        in_h, in_w = self._params["input_size"]
        box = letterbox_geometry(*img.shape, input_height=in_h, input_width=in_w)
        x = torch.from_numpy(letterbox_image(img, box)).to(self._device)[None, None]
        x = _normalise(x, self._params)
        with torch.inference_mode(), torch.autocast(
            device_type="cuda", dtype=torch.float16, enabled=self._device.startswith("cuda")
        ):
            logits = self._model(x).float()
            crop = logits[:, :, box.top : box.top + box.resized_height, box.left : box.left + box.resized_width]
            full = F.interpolate(crop, size=(box.height, box.width), mode="bilinear", align_corners=False)
        return full[0].cpu().numpy()

    def predict(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """``(H, W)`` uint8 label map (0/1/2) at the image's original resolution.

        Parameters
        ----------
        image : (H, W) uint8 ndarray
            Grey radiograph, bone bright, any size.
        """
        return self.predict_logits(image).argmax(axis=0).astype(np.uint8)


def load(directory: Path, *, device: str = "cpu") -> SmpSegmenter:
    """Load an smp member written by :func:`train`, after checking every file's sha256.

    Raises
    ------
    ArtifactError
        No manifest, a file missing or altered (sha256 mismatch), or a manifest of another backend.
    """
    import torch

    directory = Path(directory)
    manifest = read_artifact_manifest(directory)
    if manifest.get("backend") != BACKEND_NAME:
        raise ArtifactError(f"{directory} holds a {manifest.get('backend')!r} artifact, not {BACKEND_NAME!r}")
    if WEIGHTS_FILE not in manifest.get("files", {}):
        raise ArtifactError(f"{directory}: manifest lists no {WEIGHTS_FILE}")
    try:
        params = resolve_params(manifest["params"])
        _check_architecture(manifest["architecture"])
    except (KeyError, ValueError) as exc:
        raise ArtifactError(f"{directory}: invalid smp manifest ({exc})") from exc
    dev = resolve_device(device)
    model = _build_model(manifest["architecture"], params)
    state = torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ArtifactError(f"{directory}: weights do not fit {manifest['architecture']}/{params['encoder']}") from exc
    model.to(dev).eval()
    return SmpSegmenter(model, manifest, device=dev, directory=directory)
