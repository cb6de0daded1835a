"""Alignment straight from a LabelMe document (``femur``/``tibia`` polygons, ``hip``/``knee``/``ankle`` points).

A deliberately small reader: the shared LabelMe parser in ``annotations.core`` will replace it. It
follows spec §1.3: labels are matched case-insensitively; only ``shape_type == "point"`` shapes are
read as joints; polygons are filled with the pixel-centre rule of :mod:`inference.core.legs` (pixel
``[r, c]`` belongs to a polygon when its centre ``(c + 0.5, r + 0.5)`` is inside or on it, by
:func:`annotations.core.raster.rasterize_polygon`: the same pixels as ``skimage.draw.polygon`` on
the half-pixel-shifted vertices), femur first and tibia second so tibia wins where they overlap.

A document that carries a measurement record (:mod:`inference.core.measurement_record`: every prediction's
does) is measured as the prediction was: each leg in its recorded leg crop, with its recorded sides, joint
variances, femoral-head apex point and Monte-Carlo settings, so that accepting a prediction as it is keeps
every number (issue 27). Other documents are measured on the whole image:

Joints are grouped per leg by ``group_id`` when every joint point has one, otherwise by image side
(``x < W/2`` is the image-left leg; ``x == W/2`` goes right, as in the reference code). The
reference code's point names are accepted too: ``Femoral_head_center`` is the hip, and the two tibial
points (``Tibial_plafond_center``, ``Tibial_spine_center``) are assigned by vertical order (spec §1.2
[D]): the upper one is the knee.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from annotations.core.raster import rasterize_polygon_window
from inference.core.alignment import (
    AlignmentOptions,
    AlignmentResult,
    LegAlignment,
    align_label_map,
    with_femoral_head_apex,
)
from inference.core.crop_alignment import align_leg_in_crop
from inference.core.leg_crops import LegCrop
from inference.core.legs import FEMUR, TIBIA, LegJoints
from inference.core.measurement_record import APEX_LABEL, LegRecord, MeasurementRecord, measurement_record
from inference.core.partial_legs import joints_outside_image, without_joints_outside_image

logger = logging.getLogger(__name__)

__all__ = ["align_labelme_document", "labelme_joints", "rasterize_labelme_bones", "rasterize_polygons"]

_BONE_LABELS = {"femur": FEMUR, "tibia": TIBIA}
_JOINT_LABELS = {"hip": "hip", "knee": "knee", "ankle": "ankle", "femoral_head_center": "hip"}
_TIBIAL_REFERENCE_LABELS = {"tibial_plafond_center", "tibial_spine_center"}


def rasterize_polygons(
    polygons: Iterable[tuple[NDArray[np.float64], int]], *, height: int, width: int
) -> NDArray[np.uint8]:
    """Fill ``(polygon_xy (N, 2), label)`` pairs in order into an ``(height, width)`` uint8 label map.

    A pixel takes a polygon's label when its centre ``(c + 0.5, r + 0.5)`` lies inside or on the
    polygon (:func:`annotations.core.raster.rasterize_polygon_window`, the pixels of
    ``skimage.draw.polygon`` on the half-pixel-shifted vertices); later polygons overwrite earlier
    ones. Each polygon is filled only within its bounding box.
    """
    out = np.zeros((int(height), int(width)), dtype=np.uint8)
    for poly_xy, label in polygons:
        fill = rasterize_polygon_window(poly_xy, out.shape[0], out.shape[1])
        out[fill.window][fill.mask] = label
    return out


def _shapes(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    shapes = doc.get("shapes")
    if not isinstance(shapes, list):
        raise ValueError("LabelMe document has no 'shapes' list")
    return [s for s in shapes if isinstance(s, Mapping)]


def rasterize_labelme_bones(doc: Mapping[str, Any], *, height: int, width: int) -> NDArray[np.uint8]:
    """Label map ``(height, width)`` of the document's femur (1) and tibia (2) polygons, tibia drawn last."""
    polys: dict[int, list[NDArray[np.float64]]] = {FEMUR: [], TIBIA: []}
    for shape in _shapes(doc):
        label = str(shape.get("label", "")).strip().lower()
        if label not in _BONE_LABELS or shape.get("shape_type", "polygon") != "polygon":
            continue
        pts = np.asarray(shape.get("points", []), dtype=np.float64)
        if pts.ndim == 2 and pts.shape[0] >= 3:
            polys[_BONE_LABELS[label]].append(pts)
    ordered = [(p, FEMUR) for p in polys[FEMUR]] + [(p, TIBIA) for p in polys[TIBIA]]
    return rasterize_polygons(ordered, height=height, width=width)


def labelme_joints(doc: Mapping[str, Any], *, width: int) -> list[LegJoints]:
    """The complete legs (hip, knee and ankle present) of a LabelMe document, as given.

    Incomplete legs are skipped with a warning; a repeated joint keeps the last one read.
    """
    points: list[tuple[str, NDArray[np.float64], Any]] = []
    for shape in _shapes(doc):
        if shape.get("shape_type") != "point":
            continue
        label = str(shape.get("label", "")).strip().lower()
        pts = np.asarray(shape.get("points", []), dtype=np.float64).reshape(-1, 2)
        if pts.shape[0] != 1 or not np.all(np.isfinite(pts)):
            continue
        if label in _JOINT_LABELS:
            points.append((_JOINT_LABELS[label], pts[0], shape.get("group_id")))
        elif label in _TIBIAL_REFERENCE_LABELS:
            points.append(("tibial", pts[0], shape.get("group_id")))
    use_group = bool(points) and all(g is not None for _, _, g in points)
    groups: dict[Any, dict[str, list[NDArray[np.float64]]]] = {}
    for name, xy, gid in points:
        key = gid if use_group else ("left" if xy[0] < width / 2 else "right")
        groups.setdefault(key, {}).setdefault(name, []).append(xy)
    legs: list[LegJoints] = []
    for key, named in groups.items():
        joints: dict[str, NDArray[np.float64]] = {}
        for name in ("hip", "knee", "ankle"):
            if named.get(name):
                if len(named[name]) > 1:
                    logger.warning("leg %s: %d '%s' points; keeping the last", key, len(named[name]), name)
                joints[name] = named[name][-1]
        tibial = named.get("tibial", [])
        if tibial and ("knee" not in joints or "ankle" not in joints):
            if len(tibial) == 2:
                upper, lower = sorted(tibial, key=lambda p: p[1])
                joints.setdefault("knee", upper)
                joints.setdefault("ankle", lower)
        if not all(n in joints for n in ("hip", "knee", "ankle")):
            logger.warning("leg %s lacks %s; skipped", key, [n for n in ("hip", "knee", "ankle") if n not in joints])
            continue
        legs.append(LegJoints.from_array(np.vstack([joints["hip"], joints["knee"], joints["ankle"]])))
    legs.sort(key=lambda leg: float(leg.as_array()[:, 0].mean()))
    return legs


def align_labelme_document(
    doc: Mapping[str, Any],
    *,
    image_size: Sequence[int] | None = None,
    pixel_spacing_mm: float | None = None,
    seed: int = 0,
    image_id: int | str | None = None,
    n_samples: int | None = None,
    **align_kwargs: Any,
) -> AlignmentResult:
    """Alignment of a LabelMe document from its own polygons and joint points.

    Parameters
    ----------
    doc : mapping
        LabelMe JSON (``shapes``, ``imageWidth``, ``imageHeight``, ``imagePath``), optionally with a
        measurement record (:data:`inference.core.measurement_record.MEASUREMENT_KEY`).
    image_size : (int, int), optional
        ``(width, height)``; required when the document lacks ``imageWidth``/``imageHeight``,
        and wins over them when given.
    pixel_spacing_mm : float, optional
        Passed to :func:`inference.core.alignment.align_label_map`.
    seed : int
        Monte-Carlo seed (a measurement record's own seed wins).
    image_id : int or str, optional
        Part of the Monte-Carlo seed; default ``imagePath`` (or 0); a measurement record's
        ``image_key`` wins.
    n_samples : int, optional
        Pixels per Monte-Carlo draw; default the record's, else the spec's 5000 (the editor asks
        for fewer while a point is dragged).
    **align_kwargs
        Further keyword options of :func:`inference.core.alignment.align_label_map`.

    Returns
    -------
    AlignmentResult

    Raises
    ------
    ValueError
        Unknown image size, no shapes list, a malformed measurement record, or no complete leg.
    """
    if image_size is not None:
        width, height = (int(v) for v in image_size)
    else:
        try:
            width, height = int(doc["imageWidth"]), int(doc["imageHeight"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError("image size unknown: document lacks imageWidth/imageHeight and no image_size given") from exc
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid image size {width}x{height}")
    name = doc.get("imagePath")
    image_name = None if name is None else str(name)
    image_key = image_id if image_id is not None else (str(name) if name else 0)
    record = measurement_record(doc)
    if record is not None:
        options = align_kwargs.pop("options", None) or AlignmentOptions(**align_kwargs)
        monte_carlo = record.monte_carlo
        options = replace(options, seed=monte_carlo.seed, n_draws=monte_carlo.n_draws,
                          n_samples=n_samples or monte_carlo.n_samples)
        if monte_carlo.image_key is not None:
            image_key = monte_carlo.image_key
        result = _align_recorded(doc, record, width=width, height=height, pixel_spacing_mm=pixel_spacing_mm,
                                 image_name=image_name, image_key=image_key, options=options)
        return _measured_in_view(result, doc, height=height)
    label_map = rasterize_labelme_bones(doc, height=height, width=width)
    legs = labelme_joints(doc, width=width)
    if not legs:
        raise ValueError("LabelMe document has no leg with hip, knee and ankle points")
    if len(legs) > 2:
        raise ValueError(f"LabelMe document has {len(legs)} complete legs; at most two are supported")
    if n_samples is not None:
        align_kwargs["n_samples"] = n_samples
    result = align_label_map(label_map, legs, pixel_spacing_mm=pixel_spacing_mm, image_name=image_name,
                             image_id=image_key, seed=seed, **align_kwargs)
    return _measured_in_view(result, doc, height=height)


def _measured_in_view(result: AlignmentResult, doc: Mapping[str, Any], *, height: int) -> AlignmentResult:
    """Each leg without the metrics that need a joint outside the image (:mod:`inference.core.partial_legs`).

    A leg's outlines are those of the ``group_id`` whose hip point is the leg's hip; a lone leg of a document
    without group ids takes every outline.
    """
    groups = _shapes_by_group(doc)
    legs = []
    for leg in result.legs:
        shapes = next((g for g in groups.values() if "hip" in g.points
                       and np.allclose(g.points["hip"], leg.joints.hip_xy, atol=1e-6)), None)
        if shapes is None and len(result.legs) == 1:
            shapes = _LegShapes(polygons=[p for g in groups.values() for p in g.polygons])
        if shapes is None:
            legs.append(leg)
            continue
        outside = joints_outside_image([p for p, label in shapes.polygons if label == FEMUR],
                                       [p for p, label in shapes.polygons if label == TIBIA],
                                       hip_xy=leg.joints.hip_xy, ankle_xy=leg.joints.ankle_xy, height=height)
        legs.append(without_joints_outside_image(leg, outside))
    return replace(result, legs=tuple(legs))


@dataclass
class _LegShapes:
    """One ``group_id``'s bone polygons and points, as :func:`_shapes_by_group` reads them."""

    polygons: list[tuple[NDArray[np.float64], int]] = field(default_factory=list)
    points: dict[str, NDArray[np.float64]] = field(default_factory=dict)


def _shapes_by_group(doc: Mapping[str, Any]) -> dict[Any, _LegShapes]:
    """Bone polygons and ``hip``/``knee``/``ankle``/apex points per ``group_id`` (a repeated point: the last)."""
    groups: dict[Any, _LegShapes] = {}
    for shape in _shapes(doc):
        label = str(shape.get("label", "")).strip().lower()
        pts = np.asarray(shape.get("points", []), dtype=np.float64)
        leg = groups.setdefault(shape.get("group_id"), _LegShapes())
        if shape.get("shape_type") == "point":
            if label in (*_JOINT_LABELS, APEX_LABEL) and pts.size == 2 and np.all(np.isfinite(pts)):
                leg.points[_JOINT_LABELS.get(label, label)] = pts.reshape(2)
        elif label in _BONE_LABELS and shape.get("shape_type", "polygon") == "polygon" and pts.ndim == 2 \
                and pts.shape[0] >= 3:
            leg.polygons.append((pts, _BONE_LABELS[label]))
    return groups


def _recorded_joints(shapes: _LegShapes, leg: LegRecord) -> LegJoints | None:
    if not all(name in shapes.points for name in ("hip", "knee", "ankle")):
        return None
    joints = np.vstack([shapes.points["hip"], shapes.points["knee"], shapes.points["ankle"]])
    return LegJoints.from_array(joints, image_side=leg.image_side, anatomical_side=leg.anatomical_side,  # type: ignore[arg-type]
                                variance_xy=leg.joint_variance_xy)


def _align_recorded(doc: Mapping[str, Any], record: MeasurementRecord, *, width: int, height: int,
                    pixel_spacing_mm: float | None, image_name: str | None, image_key: int | str,
                    options: AlignmentOptions) -> AlignmentResult:
    """Measure each recorded leg as the prediction did: in its leg crop (or on the whole image), with its sides,
    joint variances and femoral-head apex."""
    groups = _shapes_by_group(doc)
    measured: list[tuple[LegRecord, LegJoints, _LegShapes]] = []
    for leg in record.legs:
        shapes = groups.get(leg.group_id, _LegShapes())
        joints = _recorded_joints(shapes, leg)
        if joints is None:
            logger.warning("leg %s lacks a hip, knee or ankle point; skipped", leg.group_id)
            continue
        measured.append((leg, joints, shapes))
    if not measured:
        raise ValueError("LabelMe document has no leg with hip, knee and ankle points")
    measured.sort(key=lambda item: item[0].image_side != "left")  # image-left first
    x_mid = record.x_mid if len(measured) == 2 else None
    if record.in_leg_crops:
        legs = tuple(
            _align_in_crop(shapes, joints, leg.crop, width=width, height=height,  # type: ignore[arg-type]
                           pixel_spacing_mm=pixel_spacing_mm, image_key=f"{image_key}:{leg.anatomical_side}",
                           options=options)
            for leg, joints, shapes in measured)
        return AlignmentResult(image=image_name, width=width, height=height, pixel_spacing_mm=pixel_spacing_mm,
                               legs=legs, x_mid=x_mid, options=options)
    label_map = rasterize_polygons([p for _, _, shapes in measured for p in _femur_first(shapes.polygons)],
                                   height=height, width=width)
    result = align_label_map(label_map, [joints for _, joints, _ in measured], pixel_spacing_mm=pixel_spacing_mm,
                             image_name=image_name, image_id=image_key, x_mid=x_mid, options=options)
    apexes = [shapes.points.get(APEX_LABEL) for _, _, shapes in measured]
    return replace(result, legs=tuple(
        leg if apex is None else with_femoral_head_apex(leg, apex, pixel_spacing_mm=pixel_spacing_mm)
        for leg, apex in zip(result.legs, apexes, strict=True)))


def _femur_first(polygons: Sequence[tuple[NDArray[np.float64], int]]) -> list[tuple[NDArray[np.float64], int]]:
    """Femur polygons before tibia polygons, so the tibia wins where they overlap (as for documents without a record)."""
    return sorted(polygons, key=lambda item: item[1] != FEMUR)


def _align_in_crop(shapes: _LegShapes, joints: LegJoints, crop: LegCrop, *, width: int, height: int,
                   pixel_spacing_mm: float | None, image_key: str, options: AlignmentOptions) -> LegAlignment:
    """One leg measured on its crop's grid: its polygons filled there, its joints mapped there, then mapped back."""
    crop_labels = rasterize_polygons([(crop.to_crop(poly), label) for poly, label in _femur_first(shapes.polygons)],
                                     height=crop.height, width=crop.width)
    variance = None if joints.variance_xy is None else np.asarray(joints.variance_xy, np.float64) * crop.scale**2
    crop_joints = LegJoints.from_array(crop.to_crop(joints.as_array()), variance_xy=variance)
    leg = align_leg_in_crop(crop_labels, crop_joints, crop, joints=joints, image_shape=(height, width),
                            pixel_spacing_mm=pixel_spacing_mm, image_key=image_key, options=options)
    apex = shapes.points.get(APEX_LABEL)
    return leg if apex is None else with_femoral_head_apex(leg, apex, pixel_spacing_mm=pixel_spacing_mm)
