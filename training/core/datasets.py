"""Training samples: an image, its label map and its legs' joints, read from LabelMe folders.

Django-free (stdlib, numpy, scipy, PIL through :mod:`annotations.core.imaging`). Joints come from
the annotated ``hip``/``knee``/``ankle`` points when a document has them, otherwise they are derived
from the femur/tibia outlines (``inference/core/joints_from_masks/``).

Conventions are those of :mod:`inference.core.legs`: images and label maps are ``(H, W)`` arrays
indexed ``[row, col]``; joints are image ``(x, y)`` pixels with the origin at the top-left corner of
the top-left pixel; label 0 background, 1 femur, 2 tibia; joints per leg ordered hip, knee, ankle;
legs ordered left to right in the image.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

from annotations.core.imaging import decode_image
from annotations.core.labelme import (
    DEFAULT_LABEL_SYNONYMS,
    LabelMeDocument,
    iter_bundle,
    resolve_knee_ankle_by_height,
)
from annotations.core.raster import rasterize_bones
from inference.core.legs import FEMUR, JOINT_NAMES
from inference.core.samples import TrainingSample

logger = logging.getLogger(__name__)

__all__ = [
    "JointsSource",
    "TrainingSample",
    "document_has_bones",
    "joints_from_points",
    "labelme_sample",
    "load_labelme_folder",
    "resize_sample",
    "resize_to",
]

JointsSource = Literal["points", "masks", "auto", "none"]


# --------------------------------------------------------------------------------------------
# Joints
# --------------------------------------------------------------------------------------------
def _point_shapes(doc: LabelMeDocument, table: Mapping[str, str]) -> list[tuple[str, int | None, NDArray[np.float64], str]]:
    """``(canonical joint, group_id, (2,) xy, raw label)`` of every joint point shape."""
    out = []
    for shape in doc.shapes:
        if shape.shape_type != "point":
            continue
        name = shape.canonical_label(table)
        if name in JOINT_NAMES:
            out.append((name, shape.group_id, shape.points[0].copy(), shape.label))
    return out


def _leg_from_points(
    pts: Sequence[tuple[str, NDArray[np.float64], str]], table: Mapping[str, str]
) -> NDArray[np.float64]:
    """(3, 2) hip/knee/ankle of one leg's labelled points; knee vs ankle by height (spec §1.2 [D])."""
    hips = [p for name, p, _ in pts if name == "hip"]
    tibial = [(p, raw) for name, p, raw in pts if name in ("knee", "ankle")]
    if len(hips) != 1 or len(tibial) != 2:
        raise ValueError(
            f"a leg needs one hip and two tibial (knee/ankle) points, got {len(hips)} and {len(tibial)}"
        )
    ka = resolve_knee_ankle_by_height(
        np.vstack([tibial[0][0], tibial[1][0]]), (tibial[0][1], tibial[1][1]), table=table
    )
    return np.vstack([hips[0], ka.knee_xy, ka.ankle_xy])


def joints_from_points(
    doc: LabelMeDocument, *, table: Mapping[str, str] = DEFAULT_LABEL_SYNONYMS
) -> NDArray[np.float64] | None:
    """Joints of every leg from a document's ``hip``/``knee``/``ankle`` point shapes.

    Parameters
    ----------
    doc : LabelMeDocument
        Only ``point`` shapes whose label canonicalises to a joint name are read (spec §1.3 [D]).
    table : mapping
        Label synonym table (:func:`annotations.core.labelme.canonical_label`).

    Returns
    -------
    (n_legs, 3, 2) float64 ndarray or None
        Hip, knee, ankle per leg, legs ordered by the mean x of their joints (image left first).
        ``None`` when the document has no joint points.

    Raises
    ------
    ValueError
        If the points cannot be split into complete legs (each one hip and two tibial points).

    Notes
    -----
    Legs are grouped by ``group_id`` when every joint point has one; otherwise the k-th point of
    each joint name, counted from the left, belongs to leg k (so a bilateral image needs two
    hips, two knees and two ankles). Within a leg the upper tibial point is the knee.
    """
    shapes = _point_shapes(doc, table)
    if not shapes:
        return None
    legs: list[list[tuple[str, NDArray[np.float64], str]]]
    if all(gid is not None for _, gid, _, _ in shapes):
        groups: dict[int, list[tuple[str, NDArray[np.float64], str]]] = {}
        for name, gid, p, raw in shapes:
            groups.setdefault(int(gid), []).append((name, p, raw))  # type: ignore[arg-type]
        legs = list(groups.values())
    else:
        hips = sorted((p for name, _, p, _ in shapes if name == "hip"), key=lambda p: p[0])
        tibial = [(p, raw) for name, _, p, raw in shapes if name in ("knee", "ankle")]
        n_legs = len(hips)
        if n_legs == 0 or len(tibial) != 2 * n_legs:
            raise ValueError(
                f"cannot group {len(hips)} hip and {len(tibial)} tibial points into legs without group_id"
            )
        # Upper half of the tibial points (by y) are knees, lower half ankles; pair each by x.
        order = np.argsort([p[1] for p, _ in tibial], kind="stable")
        knees = sorted((tibial[i] for i in order[:n_legs]), key=lambda t: t[0][0])
        ankles = sorted((tibial[i] for i in order[n_legs:]), key=lambda t: t[0][0])
        legs = [
            [("hip", hips[k], "hip"), ("knee", knees[k][0], knees[k][1]), ("ankle", ankles[k][0], ankles[k][1])]
            for k in range(n_legs)
        ]
    arr = np.stack([_leg_from_points(leg, table) for leg in legs])
    return arr[np.argsort(arr[:, :, 0].mean(axis=1), kind="stable")]


def _count_legs(label_map: NDArray[np.uint8], *, min_fraction: float = 0.2) -> int:
    """Number of femur components at least ``min_fraction`` of the largest one (at least 1)."""
    labels, n = ndimage.label(label_map == FEMUR)
    if n == 0:
        return 1
    sizes = np.bincount(labels.ravel())[1:]
    return max(1, int(np.count_nonzero(sizes >= min_fraction * sizes.max())))


def _derive_joints(label_map: NDArray[np.uint8], n_legs: int | None) -> NDArray[np.float64]:
    """Joints from the masks, or NaN ``(n_legs, 3, 2)`` when the deriving module is not available."""
    try:
        from inference.core.joints_from_masks import derive_joints
    except ImportError:
        logger.warning("inference.core.joints_from_masks is not available: joints left as NaN")
        n = n_legs if n_legs is not None else _count_legs(label_map)
        return np.full((n, 3, 2), np.nan)
    return np.asarray(derive_joints(label_map, n_legs=n_legs), dtype=np.float64).reshape(-1, 3, 2)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------
def _group_of(stem: str, pattern: re.Pattern[str]) -> str:
    m = pattern.search(stem)
    if m is None:
        return stem
    return m.group(1) if m.groups() else m.group(0)


def document_has_bones(doc: LabelMeDocument, *, table: Mapping[str, str] = DEFAULT_LABEL_SYNONYMS) -> bool:
    """Whether ``doc`` outlines at least one femur and one tibia (polygons, labels canonicalised)."""
    labels = {shape.canonical_label(table) for shape in doc.shapes if shape.shape_type == "polygon"}
    return {"femur", "tibia"} <= labels


def labelme_sample(
    doc: LabelMeDocument,
    image_bytes: bytes,
    *,
    name: str,
    group: str,
    image_name: str | None = None,
    joints_from: JointsSource = "auto",
    n_legs: int | None = None,
    table: Mapping[str, str] = DEFAULT_LABEL_SYNONYMS,
    require_bones: bool = True,
) -> TrainingSample:
    """One training sample from a LabelMe document and the bytes of its image.

    Parameters
    ----------
    doc : LabelMeDocument
        The annotation (``imageHeight``/``imageWidth``, when given, must match the image).
    image_bytes : bytes
        The image file (any format :func:`annotations.core.imaging.decode_image` reads).
    name, group : str
        Sample name and patient code (see :class:`TrainingSample`).
    image_name : str, optional
        File name, a hint for the decoder.
    joints_from, n_legs, table, require_bones
        As in :func:`load_labelme_folder`.

    Returns
    -------
    TrainingSample

    Raises
    ------
    ValueError
        Size mismatch, a missing bone (``require_bones``), or joint points that cannot be grouped.
    """
    if joints_from not in ("points", "masks", "auto", "none"):
        raise ValueError(f"joints_from must be 'points', 'masks', 'auto' or 'none', got {joints_from!r}")
    image = np.ascontiguousarray(decode_image(image_bytes, filename=image_name).display)
    h, w = image.shape
    if (doc.image_height, doc.image_width) not in ((h, w), (None, None)):
        raise ValueError(
            f"image is {h}x{w} but the JSON says {doc.image_height}x{doc.image_width} (rows x columns)"
        )
    label_map = rasterize_bones(doc, h, w, table=table)
    if require_bones and not (np.any(label_map == 1) and np.any(label_map == 2)):
        raise ValueError("needs a femur and a tibia outline")
    joints: NDArray[np.float64] | None = None
    if joints_from in ("points", "auto"):
        joints = joints_from_points(doc, table=table)
        if joints is None and joints_from == "points":
            raise ValueError("no hip/knee/ankle points")
    if joints is None:
        if joints_from == "none":
            joints = np.full((n_legs if n_legs is not None else 1, 3, 2), np.nan)
        else:
            joints = _derive_joints(label_map, n_legs)
    return TrainingSample(name=name, image=image, label_map=label_map, joints_xy=joints, group=group)


def load_labelme_folder(
    path: Path | str,
    *,
    group_pattern: str = r"^([^_]+)",
    joints_from: JointsSource = "auto",
    n_legs: int | None = None,
    table: Mapping[str, str] = DEFAULT_LABEL_SYNONYMS,
    require_bones: bool = True,
) -> list[TrainingSample]:
    """Read every annotated image of a folder (or ``.zip``) of images and LabelMe JSON files.

    Parameters
    ----------
    path : Path
        Folder or zip read with :func:`annotations.core.labelme.iter_bundle` (images are paired with
        their JSON through ``imagePath``, else by stem). Images without JSON and JSON files
        without an image (e.g. a phantom set's ``truth.json``) are skipped.
    group_pattern : str
        Regular expression searched in the file stem; its first group (else the whole match) is
        the patient code. Stems that do not match are their own group. The default takes the
        text before the first ``_`` (``01064104_1x1`` -> ``01064104``).
    joints_from : {"auto", "points", "masks", "none"}
        ``"points"``: the annotated hip/knee/ankle points (error if a document has none);
        ``"masks"``: derived from the label map with
        ``inference.core.joints_from_masks.derive_joints``; ``"auto"``: points when present, else
        masks; ``"none"``: NaN joints (segmentation-only loading, fastest). Derived joints are NaN
        when ``joints_from_masks`` cannot be imported (a warning is logged).
    n_legs : int, optional
        Passed to ``derive_joints`` (and used for the NaN placeholder); ``None`` lets it decide.
    table : mapping
        Label synonym table for bones and joints.
    require_bones : bool
        Raise when a document has no femur or no tibia outline (default). ``False`` keeps such
        images with an incomplete label map.

    Returns
    -------
    list of TrainingSample
        Sorted by bundle name. ``image`` is the bone-bright 8-bit display rendering
        (:func:`annotations.core.imaging.decode_image`), ``label_map`` the rasterised polygons
        (:func:`annotations.core.raster.rasterize_bones`, tibia drawn over femur).

    Raises
    ------
    ValueError
        An invalid JSON paired with an image, an image whose size disagrees with
        ``imageHeight``/``imageWidth``, a missing bone (``require_bones``), or joint points that
        cannot be grouped into legs.
    """
    if joints_from not in ("points", "masks", "auto", "none"):
        raise ValueError(f"joints_from must be 'points', 'masks', 'auto' or 'none', got {joints_from!r}")
    pattern = re.compile(group_pattern)
    samples: list[TrainingSample] = []
    for item in iter_bundle(path):
        if item.json_name is None:
            continue  # an image without annotation
        if item.image_bytes is None:
            # Not an annotation of an image here (e.g. a phantom set's truth.json): skip it.
            logger.warning("%s: no image found for this JSON; skipped", item.json_name)
            continue
        if item.doc is None:
            raise ValueError(f"{item.json_name}: invalid LabelMe JSON ({item.error})")
        stem = Path(item.image_name or item.json_name).stem
        try:
            sample = labelme_sample(
                item.doc, item.image_bytes, name=stem, group=_group_of(stem, pattern), image_name=item.image_name,
                joints_from=joints_from, n_legs=n_legs, table=table, require_bones=require_bones,
            )
        except ValueError as exc:
            raise ValueError(f"{item.json_name}: {exc}") from exc
        samples.append(sample)
    return samples


# --------------------------------------------------------------------------------------------
# Resizing
# --------------------------------------------------------------------------------------------
def _nearest_indices(n_out: int, n_in: int) -> NDArray[np.intp]:
    """Source index of each output pixel under the pixel-centre rule ``(i + 0.5) * n_in / n_out``."""
    idx = np.floor((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.intp)
    return np.clip(idx, 0, n_in - 1)


def resize_to(sample: TrainingSample, height: int, width: int) -> TrainingSample:
    """Resample a sample to exactly ``height x width`` pixels.

    Parameters
    ----------
    sample : TrainingSample
    height, width : int
        New size (each >= 1).

    Returns
    -------
    TrainingSample
        ``image`` resampled bilinearly (Pillow, which low-pass filters when shrinking),
        ``label_map`` by nearest neighbour on pixel centres, joints scaled per axis:
        ``x' = x * width / W``, ``y' = y * height / H`` (exact for the corner-origin convention).
    """
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive, got {height}x{width}")
    h, w = sample.image.shape
    if (h, w) == (height, width):
        return sample
    image = np.asarray(Image.fromarray(sample.image).resize((width, height), Image.Resampling.BILINEAR))
    label_map = sample.label_map[np.ix_(_nearest_indices(height, h), _nearest_indices(width, w))]
    joints = sample.joints_xy * np.array([width / w, height / h])
    return replace(sample, image=np.ascontiguousarray(image), label_map=np.ascontiguousarray(label_map), joints_xy=joints)


def resize_sample(sample: TrainingSample, scale: float) -> TrainingSample:
    """Resample a sample by ``scale`` (size ``round(H * scale) x round(W * scale)``, at least 1).

    See :func:`resize_to` for how image, label map and joints are resampled.
    """
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    h, w = sample.image.shape
    return resize_to(sample, max(1, int(round(h * scale))), max(1, int(round(w * scale))))
