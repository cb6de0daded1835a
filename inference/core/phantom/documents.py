"""The truth document (alignment JSON contract) and the LabelMe document of a phantom."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inference.core.alignment import AlignmentOptions, AlignmentResult, LegAlignment, MetricValue
from inference.core.legs import LegJoints
from inference.core.phantom.leg_build import _LegBuild
from inference.core.phantom.params import PhantomParams

LABELME_VERSION = "5.2.1"


def _truth_metric(value: float, *, unit: str = "deg", point: NDArray | None = None, value_px: float | None = None) -> MetricValue:
    pt = None if point is None else (float(point[0]), float(point[1]))
    return MetricValue(float(value), 0.0, float(value), float(value), float(value), 1, unit, "construction", pt, value_px)


def _truth_document(builds: Sequence[_LegBuild], params: PhantomParams, width: int, height: int, stem: str) -> dict[str, Any]:
    legs = []
    for i, b in enumerate(builds):
        t = b.truth
        metrics: dict[str, MetricValue | None] = {}
        for name in ("hka_deviation_deg", "HKA", "NSA", "mLDFA", "aLDFA", "mLPFA", "MPTA", "mLDTA", "JLCA", "AMA"):
            metrics[name] = _truth_metric(t[name])
        metrics["MAD"] = _truth_metric(t["MAD"], unit="px", value_px=t["MAD"])
        for name, key in (("femoral_cora_deg", "femoral_cora_point"), ("tibial_cora_deg", "tibial_cora_point")):
            pt = t[key]
            inside = pt is not None and 0 <= pt[0] <= width and 0 <= pt[1] <= height
            metrics[name] = _truth_metric(t[name], point=pt if inside else None)
        image_side = "left" if i == 0 else "right"
        if len(builds) == 1:
            mean_x = float(np.mean([b.hip[0], b.knee[0], b.ankle[0]]))
            image_side = "left" if mean_x < width / 2 else "right"
        legs.append(
            LegAlignment(
                image_side=image_side,  # type: ignore[arg-type]
                anatomical_side=params.legs[i].anatomical_side,
                joints=LegJoints.from_array(np.vstack([b.hip, b.knee, b.ankle])),
                medial_sign=b.medial_sign,
                metrics=metrics,
                flags=(),
            )
        )
    res = AlignmentResult(f"{stem}.png", width, height, None, tuple(legs), None, AlignmentOptions())
    return res.to_json()


def _labelme(stem: str, width: int, height: int, polys: Sequence[tuple[NDArray, NDArray]], builds: Sequence[_LegBuild]) -> dict[str, Any]:
    shapes = []
    for i, ((pf, pt), b) in enumerate(zip(polys, builds)):
        for label, poly in (("femur", pf), ("tibia", pt)):
            shapes.append(
                {
                    "label": label,
                    "points": [[round(float(x), 6), round(float(y), 6)] for x, y in poly],
                    "group_id": i,
                    "description": "",
                    "shape_type": "polygon",
                    "flags": {},
                }
            )
        for label, pt_xy in (("hip", b.hip), ("knee", b.knee), ("ankle", b.ankle)):
            shapes.append(
                {
                    "label": label,
                    "points": [[round(float(pt_xy[0]), 6), round(float(pt_xy[1]), 6)]],
                    "group_id": i,
                    "description": "",
                    "shape_type": "point",
                    "flags": {},
                }
            )
    return {
        "version": LABELME_VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": f"{stem}.png",
        "imageData": None,
        "imageHeight": int(height),
        "imageWidth": int(width),
    }
