"""Key-point members of the named training configurations (YOLO-pose + top-down heatmap models).

``KEYPOINT_CONFIGS[name]`` is the fixed, ordered list of key-point :class:`MemberSpec` of a config;
``MemberSpec.name`` (``backend:architecture``) is unique within a config. Configs:

* ``tiny``: a smoke run. Every member trains for a few seconds on a small subset at a very low
  resolution, so that all members x 4 folds finish in about 3-4 minutes on 2 CPU cores. It only has
  to run end to end; its accuracy means nothing.
* ``default``: the best accuracy found for about 3-5 minutes per member per fold on 2 CPU cores,
  measured by grouped 4-fold CV on the OAI long-leg crops with joints derived from the bone outlines
  (``benchmarks/keypoint_members.py``). Heatmap members use the integral (soft-argmax L1) loss,
  which converges far faster from random initialisation than heatmap MSE, and a two-stage
  (leg, then joint patch) design; ``max_seconds`` caps the wall time of a slow machine.
* ``gpu``: the ``default`` members with the longer schedule a GPU affords (no wall-time cap).
* ``starter``: the shipped starter: the HRNet-FPN member (the best light one of ``default``) refitted
  on all the starter's data, at most 480 s.
* ``paper``: the paper's schedule for a GPU (spec §2.1): Adam lr 5e-4, batch 32, 250 epochs, MSE
  heatmap loss (YOLO-pose keeps its own loss, with Adam 5e-4, batch 32, 250 epochs).

Input sizes are set for the OAI crops (legs about 60 x 750 px); for bilateral radiographs the
heatmap members work per leg box, so the same sizes apply, and YOLO-pose's ``imgsz`` is the long
side of the whole image (use :func:`with_params` to change any parameter).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from inference.backends.base import MemberSpec

__all__ = ["KEYPOINT_CONFIGS", "with_params"]


def _yolo(architecture: str, **params: Any) -> MemberSpec:
    return MemberSpec(
        backend="ultralytics_pose",
        architecture=architecture,
        kind="keypoint",
        params={"model_yaml": f"{architecture}.yaml", **params},
    )


def _heatmap(architecture: str, **params: Any) -> MemberSpec:
    return MemberSpec(backend="heatmap", architecture=architecture, kind="keypoint", params=dict(params))


_YOLO_TINY = {"epochs": 1, "imgsz": 128, "batch": 16, "rect": True, "mosaic": 0.0, "max_train_samples": 16}
_HM_TINY = {
    "global_input_size": [128, 32],
    "local_input_size": [32, 32],
    "head_channels": 16,
    "epochs": 1,
    "batch_size": 8,
    "max_train_samples": 24,
    "loss": "integral",
    "decode": "soft",
    "lr": 1e-3,
}

_YOLO_DEFAULT = {
    "epochs": 40,
    "imgsz": 384,
    "batch": 16,
    "rect": True,
    "mosaic": 0.0,
    "fliplr": 0.0,
    "optimizer": "AdamW",
    "lr0": 2e-3,
}
_HM_DEFAULT = {
    "global_input_size": [256, 32],
    "local_input_size": [64, 64],
    "local_patch_frac": 0.14,
    "head_channels": 64,
    "epochs": 30,
    "batch_size": 8,
    "loss": "integral",
    "spread_weight": 0.5,
    "decode": "soft",
    "lr": 1e-3,
    "refine_iterations": 1,
    "max_seconds": 330,
}

_YOLO_GPU = {**_YOLO_DEFAULT, "epochs": 60}
_HM_GPU = {**_HM_DEFAULT, "epochs": 60, "max_seconds": None}
_YOLO_PAPER = {"epochs": 250, "imgsz": 1024, "batch": 32, "optimizer": "Adam", "lr0": 5e-4, "rect": False}
_HM_PAPER = {
    "global_input_size": [512, 64],
    "local_input_size": [128, 128],
    "epochs": 250,
    "batch_size": 32,
    "lr": 5e-4,
    "loss": "mse",
    "decode": "dark",
    "sigma": 2.0,
    "local_sigma": 2.0,
    "head_channels": 256,
}

KEYPOINT_CONFIGS: dict[str, list[MemberSpec]] = {
    "tiny": [
        _yolo("yolov8n-pose", **_YOLO_TINY),
        _heatmap("fpn-hrnet_w18_small", **_HM_TINY),
        _heatmap("simplebaseline-resnet18", **_HM_TINY, sb_level=-2, deconv_layers=2),
    ],
    "default": [
        _yolo("yolov8n-pose", **_YOLO_DEFAULT),
        _heatmap("fpn-hrnet_w18_small", **_HM_DEFAULT),
        _heatmap("fpn-resnet18", **_HM_DEFAULT),
        _heatmap("simplebaseline-resnet18", **_HM_DEFAULT, sb_level=-2, deconv_layers=2),
    ],
    "starter": [_heatmap("fpn-hrnet_w18_small", **{**_HM_DEFAULT, "epochs": 40, "max_seconds": 480})],
    "gpu": [
        _yolo("yolov8n-pose", **_YOLO_GPU),
        _heatmap("fpn-hrnet_w18_small", **_HM_GPU),
        _heatmap("fpn-resnet18", **_HM_GPU),
        _heatmap("simplebaseline-resnet18", **_HM_GPU, sb_level=-2, deconv_layers=2),
    ],
    "paper": [
        _yolo("yolov8n-pose", **_YOLO_PAPER),
        _heatmap("simplebaseline-resnet18", **_HM_PAPER),
        _heatmap("fpn-hrnet_w18_small", **_HM_PAPER),
        _heatmap("fpn-resnet18", **_HM_PAPER),
    ],
}


def with_params(specs: Sequence[MemberSpec], **params: Any) -> list[MemberSpec]:
    """Copies of ``specs`` with ``params`` merged into each member's params."""
    return [dataclasses.replace(s, params={**s.params, **params}) for s in specs]
