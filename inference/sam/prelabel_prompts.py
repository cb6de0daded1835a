"""Prompts for drafting femur/tibia outlines with SAM, per leg (numpy/scipy only, no torch).

Two sources, in this order of preference:

1. **The active ensemble's prediction** (a LabelMe document, ``group_id`` = leg index). Per leg and
   bone: a predicted ``femur``/``tibia`` polygon gives the box (its bounding box, 5 % margin per side)
   and one positive click at its deepest interior point (largest distance to the outline, so the
   click is inside the bone even for a bent femur). Without a polygon the joints give the box:
   femur from ``hip`` to ``knee``, tibia from ``knee`` to ``ankle``, widened by 15 % of the bone's
   length on each side and lengthened by 8 % at each end (femoral head and trochanter above and beside
   the hip centre, plateau and malleolus beside the joints); no click, because a point on the joint
   line can fall outside a curved bone.
2. **User boxes**, one per leg covering the whole leg, hip to ankle. Legs are numbered image-left
   first. The femur is drafted in the upper 55 % of the box and the tibia in the lower 55 % (the knee
   lies near the middle; the 10 % overlap keeps both ends of the knee), each with one positive click
   at its box centre.

Coordinates are image ``(x, y)`` pixels (:mod:`inference.core.legs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi

from annotations.core.labelme import parse_document
from annotations.core.raster import rasterize_polygon

__all__ = ["BonePrompt", "prompts_from_leg_boxes", "prompts_from_prediction"]

Bone = Literal["femur", "tibia"]

POLYGON_MARGIN = 0.05
JOINT_SIDE_MARGIN = 0.15
JOINT_END_MARGIN = 0.08
LEG_SPLIT = 0.55


@dataclass(frozen=True, eq=False)
class BonePrompt:
    """The SAM prompt for one bone of one leg.

    Attributes
    ----------
    bone : {"femur", "tibia"}
    leg : int
        Leg index (0 = image-left leg when there are two).
    box_xyxy : (4,) float64 ndarray
    points_xy : (N, 2) float64 ndarray or None
        Positive clicks (label 1).
    """

    bone: Bone
    leg: int
    box_xyxy: NDArray[np.float64]
    points_xy: NDArray[np.float64] | None = None

    @property
    def point_labels(self) -> NDArray[np.int64] | None:
        return None if self.points_xy is None else np.ones(len(self.points_xy), dtype=np.int64)


def _check_box(box: Sequence[float], name: str) -> NDArray[np.float64]:
    array = np.asarray(box, dtype=np.float64)
    if array.shape != (4,) or not np.all(np.isfinite(array)) or not (array[0] < array[2] and array[1] < array[3]):
        raise ValueError(f"{name} must be [x0, y0, x1, y1] with x0 < x1 and y0 < y1, got {list(box)}")
    return array


def prompts_from_leg_boxes(boxes_xyxy: Sequence[Sequence[float]]) -> list[BonePrompt]:
    """Femur and tibia prompts from one whole-leg box per leg (rule 2 of the module docstring).

    Parameters
    ----------
    boxes_xyxy : sequence of (4,) float
        One ``[x0, y0, x1, y1]`` per leg (1 or 2), in any order.

    Returns
    -------
    list of BonePrompt
        Femur then tibia per leg, legs numbered by box centre, image-left first.

    Raises
    ------
    ValueError
        No box, more than two, or a box with ``x0 >= x1`` or ``y0 >= y1``.

    Examples
    --------
    >>> [p.box_xyxy.tolist() for p in prompts_from_leg_boxes([[10, 0, 50, 100]])]
    [[10.0, 0.0, 50.0, 55.0], [10.0, 45.0, 50.0, 100.0]]
    """
    if not 1 <= len(boxes_xyxy) <= 2:
        raise ValueError(f"give one box per leg (1 or 2), got {len(boxes_xyxy)}")
    boxes = sorted((_check_box(b, "a leg box") for b in boxes_xyxy), key=lambda b: b[0] + b[2])
    prompts = []
    for leg, (x0, y0, x1, y1) in enumerate(boxes):
        height = y1 - y0
        for bone, top, bottom in (("femur", y0, y0 + LEG_SPLIT * height), ("tibia", y1 - LEG_SPLIT * height, y1)):
            box = np.array([x0, top, x1, bottom])
            centre = np.array([[(x0 + x1) / 2, (top + bottom) / 2]])
            prompts.append(BonePrompt(bone=bone, leg=leg, box_xyxy=box, points_xy=centre))
    return prompts


def _deepest_point(polygon_xy: NDArray[np.float64], height: int, width: int) -> NDArray[np.float64] | None:
    """The pixel centre inside the polygon farthest from its outline, or None for an empty fill."""
    inside = rasterize_polygon(polygon_xy, height, width)
    if not inside.any():
        return None
    depth = ndi.distance_transform_edt(np.pad(inside, 1))[1:-1, 1:-1]
    row, col = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return np.array([[col + 0.5, row + 0.5]])


def _polygon_prompt(bone: Bone, leg: int, polygon_xy: NDArray[np.float64], height: int,
                    width: int) -> BonePrompt:
    low, high = polygon_xy.min(axis=0), polygon_xy.max(axis=0)
    margin = POLYGON_MARGIN * (high - low)
    box = np.clip(np.concatenate([low - margin, high + margin]), 0, [width, height, width, height])
    return BonePrompt(bone=bone, leg=leg, box_xyxy=box, points_xy=_deepest_point(polygon_xy, height, width))


def _joint_prompt(bone: Bone, leg: int, top_xy: NDArray[np.float64], bottom_xy: NDArray[np.float64], height: int,
                  width: int) -> BonePrompt:
    length = float(np.hypot(*(bottom_xy - top_xy)))
    low, high = np.minimum(top_xy, bottom_xy), np.maximum(top_xy, bottom_xy)
    margin = np.array([JOINT_SIDE_MARGIN * length, JOINT_END_MARGIN * length])
    box = np.clip(np.concatenate([low - margin, high + margin]), 0, [width, height, width, height])
    return BonePrompt(bone=bone, leg=leg, box_xyxy=box)


def prompts_from_prediction(document: Mapping[str, Any]) -> list[BonePrompt]:
    """Femur and tibia prompts from a predicted LabelMe document (rule 1 of the module docstring).

    Parameters
    ----------
    document : mapping
        LabelMe document with ``imageHeight``/``imageWidth``; shapes grouped by ``group_id`` (leg).

    Returns
    -------
    list of BonePrompt
        Per leg in ``group_id`` order (a missing id counts as leg 0), femur then tibia; a bone with
        neither a polygon nor its two joints is left out.
    """
    parsed = parse_document(document)
    if parsed.image_height is None or parsed.image_width is None:
        raise ValueError("the predicted document has no image size")
    height, width = parsed.image_height, parsed.image_width
    legs: dict[int, dict[str, NDArray[np.float64]]] = {}
    for shape in parsed.shapes:
        label = shape.canonical_label()
        if label is None:
            continue
        leg = legs.setdefault(shape.group_id or 0, {})
        is_polygon = label in ("femur", "tibia") and shape.shape_type == "polygon"
        is_joint = label in ("hip", "knee", "ankle") and shape.shape_type == "point"
        if (is_polygon or is_joint) and label not in leg:
            leg[label] = shape.points if is_polygon else shape.points[0]
    prompts = []
    for leg_index in sorted(legs):
        found = legs[leg_index]
        for bone, top, bottom in (("femur", "hip", "knee"), ("tibia", "knee", "ankle")):
            if bone in found:
                prompts.append(_polygon_prompt(bone, leg_index, found[bone], height, width))
            elif top in found and bottom in found:
                prompts.append(_joint_prompt(bone, leg_index, found[top], found[bottom], height, width))
    return prompts
