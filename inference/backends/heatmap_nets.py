"""Heatmap networks built from timm backbones (imports torch and timm; load lazily).

* :class:`SimpleBaselineNet` (Xiao et al., ECCV 2018): the backbone's deepest feature map (or, with
  ``level``, an earlier one: the backbone is cut there) followed by ``deconv_layers`` transposed
  convolutions (4x4, stride 2, BN, ReLU) and a 1x1 convolution to one heatmap per joint. Output
  stride ``reduction / 2**deconv_layers``. On narrow leg crops (32-64 px wide) the stride-32 map is
  one or two columns wide, so ``level=-2`` (stride 16) keeps more horizontal detail.
* :class:`FpnHeatmapNet`: multi-scale fusion (a feature pyramid): every backbone level with reduction
  ``>= out_stride`` gets a 1x1 lateral convolution to ``head_channels``; from the deepest level down
  each map is upsampled (bilinear) to the next level's size and added; a 3x3 conv-BN-ReLU and a 1x1
  convolution give the heatmaps at ``out_stride``. With ``hrnet_*`` backbones the timm
  ``feature_location="incre"`` features are used (HRNet's multi-resolution branches after their
  increase blocks), which makes this an HRNet-style model.

Backbones are created with ``pretrained=False`` and ``in_chans=1`` (no download ever).
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FpnHeatmapNet", "SimpleBaselineNet", "build_net"]


def _backbone(name: str, level: int | None = None) -> nn.Module:
    """timm feature extractor; with ``level`` only up to that feature level (negative: from the end)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import timm

    kwargs: dict = {"feature_location": "incre"} if name.startswith("hrnet") else {}
    if level is not None and level != -1:
        n_levels = len(timm.create_model(name, pretrained=False, features_only=True, in_chans=1, **kwargs).feature_info)
        kwargs["out_indices"] = (level % n_levels,)
    return timm.create_model(name, pretrained=False, features_only=True, in_chans=1, **kwargs)


class SimpleBaselineNet(nn.Module):
    """Backbone + transposed-convolution head (SimpleBaseline)."""

    def __init__(
        self, backbone: str, *, n_joints: int = 3, head_channels: int = 128, deconv_layers: int = 3, level: int = -1
    ) -> None:
        super().__init__()
        self.backbone = _backbone(backbone, level)
        info = self.backbone.feature_info
        c_in, red = info.channels()[-1], info.reduction()[-1]
        layers: list[nn.Module] = []
        for _ in range(deconv_layers):
            layers += [
                nn.ConvTranspose2d(c_in, head_channels, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(head_channels),
                nn.ReLU(inplace=True),
            ]
            c_in = head_channels
        self.deconv = nn.Sequential(*layers)
        self.final = nn.Conv2d(c_in, n_joints, 1)
        self.stride = red // (2**deconv_layers)
        self.input_multiple = red

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final(self.deconv(self.backbone(x)[-1]))


class FpnHeatmapNet(nn.Module):
    """Backbone + feature-pyramid fusion head."""

    def __init__(self, backbone: str, *, n_joints: int = 3, head_channels: int = 64, out_stride: int = 4) -> None:
        super().__init__()
        self.backbone = _backbone(backbone)
        info = self.backbone.feature_info
        chans, reds = info.channels(), info.reduction()
        self.levels = [i for i, r in enumerate(reds) if r >= out_stride]
        if not self.levels or reds[self.levels[0]] != out_stride:
            raise ValueError(f"backbone {backbone} has no level at stride {out_stride} (has {reds})")
        self.lateral = nn.ModuleList([nn.Conv2d(chans[i], head_channels, 1) for i in self.levels])
        self.smooth = nn.Sequential(
            nn.Conv2d(head_channels, head_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(head_channels),
            nn.ReLU(inplace=True),
        )
        self.final = nn.Conv2d(head_channels, n_joints, 1)
        self.stride = out_stride
        self.input_multiple = max(reds)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x)
        maps = [lat(feats[i]) for lat, i in zip(self.lateral, self.levels, strict=True)]
        y = maps[-1]
        for m in reversed(maps[:-1]):
            y = m + F.interpolate(y, size=m.shape[-2:], mode="bilinear", align_corners=False)
        return self.final(self.smooth(y))


def build_net(
    head: str, backbone: str, *, n_joints: int, head_channels: int, deconv_layers: int, out_stride: int, level: int = -1
) -> nn.Module:
    """Build ``head`` (``"simplebaseline"`` or ``"fpn"``) on a timm ``backbone``."""
    if head == "simplebaseline":
        return SimpleBaselineNet(
            backbone, n_joints=n_joints, head_channels=head_channels, deconv_layers=deconv_layers, level=level
        )
    if head == "fpn":
        return FpnHeatmapNet(backbone, n_joints=n_joints, head_channels=head_channels, out_stride=out_stride)
    raise ValueError(f"unknown heatmap head {head!r}")
