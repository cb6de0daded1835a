"""Top-down heatmap key-point members (timm backbones): train, save, load, predict.

A member finds hip, knee and ankle inside each **leg box** in two stages, both heatmap regressors of
the same architecture (``spec.architecture = "<head>-<timm backbone>"``, head ``simplebaseline`` or
``fpn``; see :mod:`inference.backends.heatmap_nets`; ``sb_level`` cuts a SimpleBaseline backbone at
an earlier level):

1. **Global stage.** The leg box (at training: the tight box of the leg's femur and tibia pixels,
   widened by ``box_margin_frac``; at inference: ``leg_boxes_xyxy``, e.g. from a detector) is mapped
   onto a tall input (``global_input_size = [h, w]``, default 256 x 32; ``fit_mode`` ``stretch``
   scales x and y separately, ``letterbox`` keeps the aspect) and three heatmaps are regressed.
2. **Local stage** (``two_stage``). Around each coarse joint a square patch of side
   ``local_patch_frac`` x the hip-ankle distance is mapped onto ``local_input_size`` (default 64 x 64)
   and the joint is located again at a finer scale (``refine_iterations`` times, each centred on the
   previous estimate). The local network has one output channel per joint type; the channel of the
   patch's joint is read. Training patches are centred on the true joint plus a uniform offset of up
   to ``augment.local_jitter`` x the patch side per axis (the capture range of the refinement).

Losses (``loss``):

* ``"mse"`` (the paper's): Gaussian target heatmaps (``sigma``/``local_sigma`` in heatmap cells,
  peak 1), mean squared error, channels of unknown joints masked; decode with ``dark`` (Taylor
  refinement of the log heatmap), ``quarter`` (classic quarter-cell shift) or ``argmax``.
* ``"integral"``: the expected position under the softmax of each heatmap (soft-argmax) is
  regressed with an L1 loss in heatmap cells, plus ``spread_weight`` x the expected distance of the
  probability mass from the target (sharpens the maps). It converges far faster from random
  initialisation than heatmap MSE, which matters on a CPU budget. Decode with ``soft`` (the
  soft-argmax, as trained) or ``soft_local`` (centroid within ``decode_radius`` cells of the
  peak).

Every crop is an exact affine map (:class:`inference.backends.keypoint_common.CropTransform`), so
peaks decoded in input coordinates map back to the original image exactly; coordinates stay floats.

Without ``leg_boxes_xyxy`` the member boxes the legs itself: the image (or, for two legs, each side
of the darkest column in the middle 40 % of the width) is the first box; the global stage runs on it,
and a box is rebuilt from the predicted joints with the joint-to-box ratios measured on the training
legs (stored in the manifest), then the global stage runs again. Training includes enlarged boxes
(``augment.expand_prob``) so that the first, loose box is in distribution.

Training: Adam (``lr``; the paper's 5e-4 in the ``paper`` config), cosine decay after a linear
warm-up; augmentation of box scale/shift, rotation, optional horizontal flip (hip, knee and ankle
keep their index; off by default because single-side crops never show a mirrored leg), brightness,
contrast and gamma. ``max_seconds`` caps the wall time: the schedule then runs on
``max(step fraction, time fraction)``. ``flip_test`` averages the heatmaps of the flipped input
(only sensible for models trained with flips).

Artifact: ``weights.pt`` (``{"global": state_dict, "local": state_dict}``) + ``manifest.json``.
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

from inference.backends.base import (
    ArtifactError,
    KeypointPrediction,
    MemberSpec,
    ProgressCallback,
    read_artifact_manifest,
    resolve_device,
    write_artifact_manifest,
)
from inference.backends.keypoint_common import (
    CropTransform,
    box_transform,
    decode_heatmaps,
    encode_heatmaps,
    expand_boxes,
    sample_leg_boxes,
    warp_image,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from inference.core.samples import TrainingSample

__all__ = ["BACKEND_NAME", "DEFAULT_PARAMS", "HEADS", "HeatmapKeypointModel", "load", "resolve_params", "train"]

BACKEND_NAME = "heatmap"
WEIGHTS_FILE = "weights.pt"
FORMAT_VERSION = 1
N_JOINTS = 3
HEADS: tuple[str, ...] = ("simplebaseline", "fpn")

DEFAULT_PARAMS: dict[str, Any] = {
    "global_input_size": [256, 32],
    "local_input_size": [64, 64],
    "two_stage": True,
    "local_patch_frac": 0.14,
    "fit_mode": "stretch",
    "box_margin_frac": 0.05,
    "sigma": 1.5,
    "local_sigma": 1.5,
    "head_channels": 64,
    "deconv_layers": 3,
    "sb_level": -1,
    "out_stride": 4,
    "epochs": 30,
    "batch_size": 16,
    "lr": 5e-4,
    "weight_decay": 0.0,
    "schedule": "cosine",
    "warmup_steps": 20,
    "min_lr_ratio": 0.05,
    "max_seconds": None,
    "max_train_samples": None,
    "loss": "mse",
    "spread_weight": 0.0,
    "loss_scale": 1000.0,
    "augment": {
        "scale": [0.85, 1.2],
        "shift": 0.05,
        "rotate_deg": 5.0,
        "hflip": 0.0,
        "expand_prob": 0.1,
        "expand_max": 2.5,
        "local_jitter": 0.25,
        "brightness": 0.1,
        "contrast": 0.2,
        "gamma": 0.2,
    },
    "decode": "dark",
    "decode_radius": 2,
    "flip_test": False,
    "refine_iterations": 1,
    "backbone_weights": None,  # None: random initialisation; "imagenet": bundled weights (imagenet_weights.py)
    "norm_mean": 0.5,
    "norm_std": 0.25,
}


# --------------------------------------------------------------------------------------------------
# Parameters


def _split_architecture(architecture: str) -> tuple[str, str]:
    head, sep, backbone = architecture.partition("-")
    if not sep or head not in HEADS or not backbone:
        raise ValueError(f"architecture must be '<head>-<timm backbone>' with head in {HEADS}, got {architecture!r}")
    return head, backbone


def resolve_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overridden by ``params`` (``augment`` merged key by key); validated."""
    unknown = set(params) - set(DEFAULT_PARAMS)
    if unknown:
        raise ValueError(f"unknown heatmap params: {sorted(unknown)}")
    out = copy.deepcopy(DEFAULT_PARAMS)
    for key, value in params.items():
        if key == "augment":
            bad = set(value) - set(DEFAULT_PARAMS["augment"])
            if bad:
                raise ValueError(f"unknown heatmap augment params: {sorted(bad)}")
            out["augment"].update(value)
        else:
            out[key] = copy.deepcopy(value)
    for key in ("global_input_size", "local_input_size"):
        h, w = (int(v) for v in out[key])
        if h <= 0 or w <= 0 or h % 32 or w % 32:
            raise ValueError(f"{key} must be positive multiples of 32, got {out[key]}")
        out[key] = [h, w]
    if out["fit_mode"] not in ("stretch", "letterbox"):
        raise ValueError(f"fit_mode must be 'stretch' or 'letterbox', got {out['fit_mode']!r}")
    if out["decode"] not in ("dark", "quarter", "argmax", "soft", "soft_local"):
        raise ValueError(f"decode must be 'dark', 'quarter', 'argmax', 'soft' or 'soft_local', got {out['decode']!r}")
    if out["loss"] not in ("mse", "integral"):
        raise ValueError(f"loss must be 'mse' or 'integral', got {out['loss']!r}")
    if out["schedule"] not in ("cosine", "constant"):
        raise ValueError(f"schedule must be 'cosine' or 'constant', got {out['schedule']!r}")
    if out["backbone_weights"] not in (None, "imagenet"):
        raise ValueError(f"backbone_weights must be None or 'imagenet', got {out['backbone_weights']!r}")
    return out


def _lr_factor(progress: float, step: int, params: Mapping[str, Any]) -> float:
    warm = int(params["warmup_steps"])
    f = 1.0 if step >= warm or warm == 0 else (step + 1) / warm
    if params["schedule"] == "cosine":
        lo = float(params["min_lr_ratio"])
        f *= lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return f



# --------------------------------------------------------------------------------------------------
# Training data


@dataclass(frozen=True)
class _Leg:
    image: int
    joints: NDArray[np.float64]  # (3, 2), NaN for unknown joints
    box: NDArray[np.float64]  # (4,) with margin
    length: float  # hip-ankle distance (or a box-based stand-in)


def _legs_of(samples: Sequence[TrainingSample], margin: float) -> list[_Leg]:
    legs: list[_Leg] = []
    for i, s in enumerate(samples):
        h, w = np.asarray(s.image).shape[:2]
        joints = np.asarray(s.joints_xy, dtype=np.float64).reshape(-1, 3, 2)
        boxes = expand_boxes(sample_leg_boxes(s), margin_frac=margin, width=w, height=h)
        for j, box in zip(joints, boxes, strict=True):
            if not np.all(np.isfinite(box)) or not np.isfinite(j).any():
                continue
            if np.all(np.isfinite(j[[0, 2]])):
                length = float(np.hypot(*(j[2] - j[0])))
            else:
                length = 0.85 * float(box[3] - box[1])
            legs.append(_Leg(i, j, box, max(length, 1.0)))
    return legs


def _box_ratios(legs: Sequence[_Leg]) -> list[float]:
    """Median margins of the training boxes around their joints, in hip-ankle lengths (l, t, r, b)."""
    rows = []
    for leg in legs:
        j = leg.joints
        if not np.all(np.isfinite(j)):
            continue
        lo, hi = j.min(axis=0), j.max(axis=0)
        rows.append(
            [
                (lo[0] - leg.box[0]) / leg.length,
                (j[0, 1] - leg.box[1]) / leg.length,
                (leg.box[2] - hi[0]) / leg.length,
                (leg.box[3] - j[2, 1]) / leg.length,
            ]
        )
    if not rows:
        return [0.1, 0.1, 0.1, 0.05]
    med = np.median(np.asarray(rows), axis=0)
    side = float(max(med[0], med[2]))
    return [side, float(med[1]), side, float(med[3])]


def _augmented_box(box: NDArray[np.float64], aug: Mapping[str, Any], rng: np.random.Generator) -> NDArray[np.float64]:
    c = 0.5 * (box[:2] + box[2:])
    size = box[2:] - box[:2]
    lo, hi = aug["scale"]
    size = size * rng.uniform(lo, hi, size=2)
    if rng.random() < float(aug["expand_prob"]):
        size = size * rng.uniform(1.0, float(aug["expand_max"]), size=2)
    c = c + rng.uniform(-1, 1, size=2) * float(aug["shift"]) * size
    return np.concatenate([c - 0.5 * size, c + 0.5 * size])


def _photometric(x: NDArray[np.float32], aug: Mapping[str, Any], rng: np.random.Generator) -> NDArray[np.float32]:
    y = np.clip(x / 255.0, 0.0, 1.0)
    g = float(aug["gamma"])
    if g:
        y = y ** rng.uniform(1 - g, 1 + g)
    c, b = float(aug["contrast"]), float(aug["brightness"])
    y = (y - 0.5) * rng.uniform(1 - c, 1 + c) + 0.5 + rng.uniform(-b, b)
    return np.clip(y, 0.0, 1.0).astype(np.float32) * 255.0


def _local_box(centre: NDArray[np.float64], side: float) -> NDArray[np.float64]:
    return np.concatenate([centre - 0.5 * side, centre + 0.5 * side])


def _local_centroid(prob: NDArray, stride: int, *, radius: int) -> NDArray[np.float64]:
    """Probability-weighted centroid in a ``(2 radius + 1)^2`` window around each map's argmax.

    Unlike the global expectation, mass far from the peak (which pulls a soft-argmax toward the
    map centre while a model is not yet sharp) does not bias it. Returns ``(N, K, 2)`` input
    coordinates.
    """
    n, k, h, w = prob.shape
    flat = prob.reshape(n, k, -1)
    vi, ui = np.divmod(flat.argmax(axis=2), w)
    off = np.arange(-radius, radius + 1)
    rows = np.clip(vi[..., None] + off, 0, h - 1)  # (n, k, 2r+1)
    cols = np.clip(ui[..., None] + off, 0, w - 1)
    valid_r = (vi[..., None] + off >= 0) & (vi[..., None] + off < h)
    valid_c = (ui[..., None] + off >= 0) & (ui[..., None] + off < w)
    nn = np.arange(n)[:, None, None, None]
    kk = np.arange(k)[None, :, None, None]
    win = prob[nn, kk, rows[..., :, None], cols[..., None, :]]  # (n, k, 2r+1, 2r+1)
    win = win * (valid_r[..., :, None] & valid_c[..., None, :])
    total = np.maximum(win.sum(axis=(2, 3)), 1e-12)
    v = (win.sum(axis=3) * rows).sum(axis=2) / total
    u = (win.sum(axis=2) * cols).sum(axis=2) / total
    return np.stack([(u + 0.5) * stride, (v + 0.5) * stride], axis=-1).astype(np.float64)


def _soft_argmax(logits: torch.Tensor, stride: int, target: torch.Tensor | None = None) -> Any:
    """Expected input-coordinate position ``(N, K, 2)`` under the softmax of each heatmap.

    With ``target`` (``(N, K, 2)`` input coordinates) also return the expected distance
    ``E|cell - target|`` (``(N, K)``, input pixels), which penalises spread-out distributions.
    """
    import torch

    n, k, h, w = logits.shape
    prob = torch.softmax(logits.reshape(n, k, h * w).float(), dim=-1).reshape(n, k, h, w)
    xs = (torch.arange(w, device=logits.device, dtype=prob.dtype) + 0.5) * stride
    ys = (torch.arange(h, device=logits.device, dtype=prob.dtype) + 0.5) * stride
    xy = torch.stack([(prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)], dim=-1)
    if target is None:
        return xy
    dx = xs[None, None, None, :] - target[..., 0, None, None]
    dy = ys[None, None, :, None] - target[..., 1, None, None]
    spread = (prob * torch.sqrt(dx * dx + dy * dy + 1e-6)).sum(dim=(2, 3))
    return xy, spread


# --------------------------------------------------------------------------------------------------
# Training


def train(
    spec: MemberSpec,
    samples: Sequence[TrainingSample],
    *,
    out_dir: Path,
    device: str = "cpu",
    progress: ProgressCallback | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train one heatmap member and write ``weights.pt`` + ``manifest.json``.

    Parameters
    ----------
    spec : MemberSpec
        ``backend == "heatmap"``, ``kind == "keypoint"``, ``architecture`` ``"<head>-<backbone>"``
        (e.g. ``"simplebaseline-resnet18"``, ``"fpn-hrnet_w18_small"``); ``params`` override
        :data:`DEFAULT_PARAMS`.
    samples : sequence of TrainingSample
        Images, label maps (for the leg boxes) and joints ``(n_legs, 3, 2)`` (NaN joints are
        masked out of the loss).
    out_dir : Path
        Artifact folder; the manifest is written last.
    device : str
        ``"cpu"``, ``"cuda"`` (CPU fallback) or ``"auto"``.
    progress : callable, optional
        Called after every epoch with ``{"epoch", "epochs", "step", "loss", "lr", "seconds"}``; an
        exception raised inside it stops training and propagates (nothing is written).
    seed : int
        Seeds initialisation, sampling and augmentation.

    Returns
    -------
    dict
        The manifest as :func:`inference.backends.base.read_artifact_manifest` returns it.

    Raises
    ------
    ValueError
        Bad spec/params, or no leg with a finite joint and a box.
    """
    import torch

    from inference.backends.heatmap_nets import build_net

    if spec.backend != BACKEND_NAME or spec.kind != "keypoint":
        raise ValueError(f"spec must be a {BACKEND_NAME} keypoint member, got {spec.backend!r}/{spec.kind!r}")
    head, backbone = _split_architecture(spec.architecture)
    p = resolve_params(spec.params)
    chosen = list(samples)
    rng = np.random.default_rng(seed)
    if p["max_train_samples"] is not None and len(chosen) > int(p["max_train_samples"]):
        idx = rng.choice(len(chosen), int(p["max_train_samples"]), replace=False)
        chosen = [chosen[i] for i in sorted(idx)]
    legs = _legs_of(chosen, float(p["box_margin_frac"]))
    if not legs:
        raise ValueError("no training leg with a box and a finite joint")
    images = [np.asarray(s.image) for s in chosen]
    dev = resolve_device(device)
    torch.manual_seed(seed)

    def net() -> torch.nn.Module:
        built = build_net(
            head,
            backbone,
            n_joints=N_JOINTS,
            head_channels=int(p["head_channels"]),
            deconv_layers=int(p["deconv_layers"]),
            out_stride=int(p["out_stride"]),
            level=int(p["sb_level"]),
        )
        if p["backbone_weights"] == "imagenet":
            from inference.backends.imagenet_weights import load_imagenet_weights

            load_imagenet_weights(built.backbone, backbone)
        return built.to(dev)

    g_net = net()
    l_net = net() if p["two_stage"] else None
    params_all = list(g_net.parameters()) + (list(l_net.parameters()) if l_net is not None else [])
    opt = torch.optim.Adam(params_all, lr=float(p["lr"]), weight_decay=float(p["weight_decay"]))
    aug = p["augment"]
    g_size, l_size = tuple(p["global_input_size"]), tuple(p["local_input_size"])
    stride = int(g_net.stride)
    mean, std = float(p["norm_mean"]), float(p["norm_std"])

    def global_item(leg: _Leg) -> tuple[NDArray, NDArray, NDArray]:
        box = _augmented_box(leg.box, aug, rng)
        rot = rng.uniform(-1, 1) * float(aug["rotate_deg"])
        flip = bool(rng.random() < float(aug["hflip"]))
        tf = box_transform(box, input_size=g_size, mode=p["fit_mode"], rotation_deg=rot, flip=flip)  # type: ignore[arg-type]
        x = _photometric(warp_image(images[leg.image], tf), aug, rng)
        q = tf.to_input(leg.joints)
        hm, inside = encode_heatmaps(
            q, heatmap_size=(g_size[0] // stride, g_size[1] // stride), stride=stride, sigma=float(p["sigma"])
        )
        return (
            x,
            hm,
            np.isfinite(leg.joints).all(axis=1).astype(np.float32),
            np.nan_to_num(q).astype(np.float32),
            inside,
        )

    def local_item(leg: _Leg) -> tuple[NDArray, NDArray, NDArray]:
        known = np.flatnonzero(np.isfinite(leg.joints).all(axis=1))
        j = int(rng.choice(known))
        lo, hi = aug["scale"]
        side = float(p["local_patch_frac"]) * leg.length * rng.uniform(lo, hi)
        centre = leg.joints[j] + rng.uniform(-1, 1, size=2) * float(aug["local_jitter"]) * side
        rot = rng.uniform(-1, 1) * float(aug["rotate_deg"])
        flip = bool(rng.random() < float(aug["hflip"]))
        tf = box_transform(_local_box(centre, side), input_size=l_size, mode="stretch", rotation_deg=rot, flip=flip)
        x = _photometric(warp_image(images[leg.image], tf), aug, rng)
        q = tf.to_input(leg.joints)
        hm, inside = encode_heatmaps(
            q, heatmap_size=(l_size[0] // stride, l_size[1] // stride), stride=stride, sigma=float(p["local_sigma"])
        )
        return (
            x,
            hm,
            np.isfinite(leg.joints).all(axis=1).astype(np.float32),
            np.nan_to_num(q).astype(np.float32),
            inside,
        )

    def batch_of(items: list[tuple[NDArray, ...]]) -> tuple[torch.Tensor, ...]:
        x = torch.from_numpy(np.stack([it[0] for it in items])[:, None]).to(dev)
        x = (x / 255.0 - mean) / std
        rest = [torch.from_numpy(np.stack([it[k] for it in items])).to(dev) for k in range(1, 5)]
        return (x, *rest)

    def loss_of(
        pred: torch.Tensor, target: torch.Tensor, known: torch.Tensor, q: torch.Tensor, inside: torch.Tensor
    ) -> torch.Tensor:
        if p["loss"] == "integral":
            xy, spread = _soft_argmax(pred, stride, target=q)
            w = known * inside
            per = torch.abs(xy - q).sum(-1) / stride + float(p["spread_weight"]) * spread / stride
            return per.mul(w).sum() / w.sum().clamp(min=1.0)
        return ((pred - target) ** 2).mean(dim=(2, 3)).mul(known).mean() * float(p["loss_scale"])

    n = len(legs)
    batch = max(2, min(int(p["batch_size"]), n)) if n > 1 else 1
    steps_per_epoch = max(1, math.ceil(n / batch))
    epochs = int(p["epochs"])
    total = epochs * steps_per_epoch
    max_s = float(p["max_seconds"]) if p["max_seconds"] else None
    history: list[float] = []
    step = 0
    t0 = time.perf_counter()
    g_net.train()
    if l_net is not None:
        l_net.train()
    done = False
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        if n > 1 and n % batch == 1:
            order = order[:-1]  # no batch of one (BatchNorm)
        loss_sum, count = 0.0, 0
        for k in range(0, len(order), batch):
            chunk = [legs[i] for i in order[k : k + batch]]
            frac = step / total
            if max_s is not None:
                frac = max(frac, (time.perf_counter() - t0) / max_s)
            if frac >= 1.0:
                done = True
                break
            for group in opt.param_groups:
                group["lr"] = float(p["lr"]) * _lr_factor(frac, step, p)
            xg, *tg = batch_of([global_item(leg) for leg in chunk])
            loss = loss_of(g_net(xg), *tg)
            if l_net is not None:
                xl, *tl = batch_of([local_item(leg) for leg in chunk])
                loss = loss + loss_of(l_net(xl), *tl)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            loss_sum += float(loss.detach()) * len(chunk)
            count += len(chunk)
        if count:
            history.append(loss_sum / count)
            if progress is not None:
                progress(
                    {
                        "epoch": epoch,
                        "epochs": epochs,
                        "step": step,
                        "loss": history[-1],
                        "lr": float(opt.param_groups[0]["lr"]),
                        "seconds": time.perf_counter() - t0,
                    }
                )
        if done or step >= total:
            break
    seconds = time.perf_counter() - t0

    import timm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {"global": {k: v.detach().cpu() for k, v in g_net.state_dict().items()}}
    if l_net is not None:
        state["local"] = {k: v.detach().cpu() for k, v in l_net.state_dict().items()}
    torch.save(state, out / WEIGHTS_FILE)
    n_legs_counts = np.bincount([np.asarray(s.joints_xy).reshape(-1, 3, 2).shape[0] for s in chosen])
    resolved = MemberSpec(backend=BACKEND_NAME, architecture=spec.architecture, kind="keypoint", params=p)
    write_artifact_manifest(
        out,
        spec=resolved,
        files=[WEIGHTS_FILE],
        extra={
            "format_version": FORMAT_VERSION,
            "joint_names": ["hip", "knee", "ankle"],
            "stride": stride,
            "box_from_joints": _box_ratios(legs),
            "typical_n_legs": int(np.argmax(n_legs_counts)) if n_legs_counts.size else 1,
            "training": {
                "n_samples": len(chosen),
                "n_legs": n,
                "epochs": len(history),
                "steps": step,
                "seconds": round(seconds, 3),
                "loss_history": [round(v, 6) for v in history],
                "seed": seed,
                "device": dev,
                "torch_version": torch.__version__,
                "timm_version": timm.__version__,
            },
        },
    )
    return read_artifact_manifest(out)


# --------------------------------------------------------------------------------------------------
# Inference


class HeatmapKeypointModel:
    """A loaded heatmap member (:class:`inference.backends.base.KeypointModel`). Use :func:`load`."""

    def __init__(self, nets: dict[str, torch.nn.Module], manifest: dict[str, Any], *, device: str) -> None:
        self._nets = nets
        self._manifest = manifest
        self._params = resolve_params(manifest["params"])
        self._device = device
        self._stride = int(manifest["stride"])

    def info(self) -> dict[str, Any]:
        return {
            "backend": BACKEND_NAME,
            "architecture": self._manifest["architecture"],
            "params": self._params,
            "device": self._device,
            "two_stage": "local" in self._nets,
        }

    def is_ready(self) -> bool:
        return "global" in self._nets

    # -- low level ---------------------------------------------------------------------------

    def _decode(self, hm: NDArray[np.float32], which: str) -> tuple[NDArray, NDArray]:
        mode = self._params["decode"]
        if mode in ("soft", "soft_local"):
            import torch

            t = torch.from_numpy(hm)
            prob = torch.softmax(t.reshape(t.shape[0], t.shape[1], -1), dim=-1)
            score = prob.max(dim=-1).values.numpy().astype(np.float64)
            if mode == "soft":
                return _soft_argmax(t, self._stride).numpy().astype(np.float64), score
            return _local_centroid(
                prob.reshape(t.shape).numpy(), self._stride, radius=int(self._params["decode_radius"])
            ), score
        return decode_heatmaps(
            hm,
            stride=self._stride,
            mode=self._params["decode"],
            sigma=float(self._params["sigma" if which == "global" else "local_sigma"]),
        )

    def _heatmaps(self, which: str, crops: NDArray[np.float32]) -> NDArray[np.float32]:
        import torch

        p = self._params
        x = torch.from_numpy(np.ascontiguousarray(crops[:, None], dtype=np.float32)).to(self._device)
        x = (x / 255.0 - float(p["norm_mean"])) / float(p["norm_std"])
        net = self._nets[which]
        with torch.inference_mode():
            hm = net(x)
            if p["flip_test"]:
                hm = 0.5 * (hm + torch.flip(net(torch.flip(x, dims=[3])), dims=[3]))
        return hm.float().cpu().numpy()

    def _run(
        self, which: str, image: NDArray[np.uint8], transforms: Sequence[CropTransform]
    ) -> tuple[NDArray, NDArray]:
        crops = np.stack([warp_image(image, tf) for tf in transforms])
        hm = self._heatmaps(which, crops)
        pts, scores = self._decode(hm, which)
        out = np.stack([tf.to_image(pts[i]) for i, tf in enumerate(transforms)])
        return out, np.clip(scores, 0.0, 1.0)

    def predict_in_boxes(self, image: NDArray[np.uint8], boxes_xyxy: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        """Joints ``(n, 3, 2)`` and scores ``(n, 3)`` for ``(n, 4)`` leg boxes (channel order)."""
        p = self._params
        boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        if len(boxes) == 0:
            return np.zeros((0, 3, 2)), np.zeros((0, 3))
        g_size = tuple(p["global_input_size"])
        tfs = [box_transform(b, input_size=g_size, mode=p["fit_mode"]) for b in boxes]
        joints, scores = self._run("global", image, tfs)
        if "local" not in self._nets:
            return joints, scores
        l_size = tuple(p["local_input_size"])
        for _ in range(max(int(p["refine_iterations"]), 0)):
            lengths = np.hypot(*(joints[:, 2] - joints[:, 0]).T)
            fallback = 0.85 * (boxes[:, 3] - boxes[:, 1])
            lengths = np.where(np.isfinite(lengths) & (lengths > 0.2 * fallback), lengths, fallback)
            side = float(p["local_patch_frac"]) * lengths
            ltfs = [
                box_transform(_local_box(joints[i, j], side[i]), input_size=l_size, mode="stretch")
                for i in range(len(boxes))
                for j in range(N_JOINTS)
            ]
            pts, sc = self._run("local", image, ltfs)
            pts = pts.reshape(len(boxes), N_JOINTS, N_JOINTS, 2)
            sc = sc.reshape(len(boxes), N_JOINTS, N_JOINTS)
            idx = np.arange(N_JOINTS)
            joints, scores = pts[:, idx, idx], sc[:, idx, idx]
        return joints, scores

    # -- boxes without a detector ------------------------------------------------------------

    def _initial_boxes(self, image: NDArray[np.uint8], n_legs: int) -> NDArray[np.float64]:
        h, w = image.shape
        if n_legs == 1:
            return np.array([[0.0, 0.0, w, h]])
        prof = image.astype(np.float64).mean(axis=0)
        k = max(3, w // 20)
        smooth = np.convolve(prof, np.ones(k) / k, mode="same")
        lo, hi = int(0.3 * w), max(int(0.7 * w), int(0.3 * w) + 1)
        x_mid = lo + int(np.argmin(smooth[lo:hi])) + 0.5
        return np.array([[0.0, 0.0, x_mid, h], [x_mid, 0.0, w, h]])

    def _boxes_from_joints(self, joints: NDArray[np.float64], fallback: NDArray[np.float64]) -> NDArray[np.float64]:
        """Leg boxes around predicted joints (training ratios); ``fallback`` rows where degenerate."""
        left, top, right, bottom = (float(v) for v in self._manifest.get("box_from_joints", [0.1, 0.1, 0.1, 0.05]))
        out = np.array(fallback, dtype=np.float64, copy=True)
        for i, j in enumerate(joints):
            length = float(np.hypot(*(j[2] - j[0])))
            lo, hi = j.min(axis=0), j.max(axis=0)
            box = np.array(
                [lo[0] - left * length, lo[1] - top * length, hi[0] + right * length, hi[1] + bottom * length]
            )
            if np.all(np.isfinite(box)) and length >= 8.0 and box[2] - box[0] >= 2.0 and box[3] - box[1] >= 8.0:
                out[i] = expand_boxes(box[None], margin_frac=float(self._params["box_margin_frac"]))[0]
        return out

    # -- public ------------------------------------------------------------------------------

    def predict(
        self,
        image: NDArray[np.uint8],
        *,
        leg_boxes_xyxy: NDArray[np.float64] | None = None,
        n_legs: int | None = None,
        box_margin: bool = True,
    ) -> KeypointPrediction:
        """Hip, knee and ankle of each leg.

        Parameters
        ----------
        image : (H, W) uint8 ndarray
            Grey image in original resolution.
        leg_boxes_xyxy : (n, 4) array_like, optional
            Leg boxes ``(x0, y0, x1, y1)``, e.g. from a detector or another member. Tight bone
            boxes are widened by ``box_margin_frac`` as in training when ``box_margin``.
        n_legs : {1, 2}, optional
            Number of legs when no boxes are given (default: the most common count in training).
        box_margin : bool
            Apply the training margin to the given boxes.

        Returns
        -------
        KeypointPrediction
            ``joints_xy`` (n, 3, 2) float64 sorted by y within each leg, legs left to right;
            ``scores`` (n, 3) heatmap peaks; ``leg_boxes_xyxy`` the boxes used (with margin).
        """
        img = np.asarray(image)
        if img.ndim == 3 and img.shape[2] in (1, 3):
            img = img.mean(axis=2).astype(np.uint8) if img.shape[2] == 3 else img[:, :, 0]
        if img.ndim != 2 or img.dtype != np.uint8:
            raise ValueError(f"image must be (H, W) uint8, got {img.shape} {img.dtype}")
        h, w = img.shape
        if leg_boxes_xyxy is not None:
            boxes = np.asarray(leg_boxes_xyxy, dtype=np.float64).reshape(-1, 4)
            if box_margin:
                boxes = expand_boxes(boxes, margin_frac=float(self._params["box_margin_frac"]))
        else:
            count = int(n_legs or self._manifest.get("typical_n_legs", 1))
            boxes = self._initial_boxes(img, count)
            p = self._params
            g_size = tuple(p["global_input_size"])
            for _ in range(2):
                tfs = [box_transform(b, input_size=g_size, mode=p["fit_mode"]) for b in boxes]
                coarse, _ = self._run("global", img, tfs)
                boxes = self._boxes_from_joints(coarse, boxes)
        joints, scores = self.predict_in_boxes(img, boxes)
        order = np.argsort(0.5 * (boxes[:, 0] + boxes[:, 2]), kind="stable")
        joints, scores, boxes = joints[order], scores[order], boxes[order]
        by_y = np.argsort(joints[:, :, 1], axis=1, kind="stable")
        joints = np.take_along_axis(joints, by_y[:, :, None], axis=1)
        scores = np.take_along_axis(scores, by_y, axis=1)
        return KeypointPrediction(joints.astype(np.float64), scores.astype(np.float64), boxes.astype(np.float64))


def load(directory: Path, *, device: str = "cpu") -> HeatmapKeypointModel:
    """Load a member from its artifact folder after verifying the sha256 of its files.

    Raises
    ------
    ArtifactError
        Missing/corrupt files or an artifact of another backend.
    """
    import torch

    from inference.backends.heatmap_nets import build_net

    directory = Path(directory)
    manifest = read_artifact_manifest(directory)
    if manifest.get("backend") != BACKEND_NAME:
        raise ArtifactError(f"{directory} holds a {manifest.get('backend')!r} artifact, not {BACKEND_NAME!r}")
    head, backbone = _split_architecture(manifest["architecture"])
    p = resolve_params(manifest["params"])
    dev = resolve_device(device)
    state = torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    nets: dict[str, torch.nn.Module] = {}
    for which, sd in state.items():
        net = build_net(
            head,
            backbone,
            n_joints=N_JOINTS,
            head_channels=int(p["head_channels"]),
            deconv_layers=int(p["deconv_layers"]),
            out_stride=int(p["out_stride"]),
            level=int(p["sb_level"]),
        )
        net.load_state_dict(sd)
        nets[which] = net.to(dev).eval()
    return HeatmapKeypointModel(nets, manifest, device=dev)
