"""SAM tuning samples from approved LabelMe outlines: one femur and one tibia mask per leg (numpy only).

The dataset snapshots of the training app freeze approved revisions (LabelMe documents); re-tuning
the SAM bone model needs them as :class:`~inference.sam.tuning_data.BoneSample` objects. This module
does that conversion without Django or torch: :func:`bone_legs` splits a document's femur and tibia
outlines into legs, :func:`bone_sample` rasterises them on the image's pixels.

Legs (architecture.md §4: ``group_id`` = leg index where an image has two legs):

- every bone outline has a ``group_id``: one leg per ``group_id``;
- no bone outline has one: one femur and one tibia make one leg; two femurs and two tibias make two
  legs, paired by image side (the k-th femur from the image's left with the k-th tibia from the left);
- anything else (a leg without a tibia, some outlines with a ``group_id`` and some without, three
  femurs without group ids) is a ``ValueError`` that says which.

Legs are ordered image-left first (by the mean x of their outlines' vertices). A leg's bone may be
drawn as several polygons: their union is the bone's mask. Masks are drawn with
:func:`annotations.core.raster.rasterize_bones` (a pixel is inside when its centre is), each bone
separately, so a femur and a tibia that overlap in the projection both keep the overlap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from annotations.core.labelme import LabelMeDocument, LabelMeShape, parse_document
from annotations.core.raster import rasterize_bones
from inference.sam.tuning_data import BONES, BoneSample

__all__ = ["BoneLeg", "bone_legs", "bone_sample"]

_BONE_SHAPE_TYPES = ("polygon", "mask")


@dataclass(frozen=True)
class BoneLeg:
    """The femur and tibia outlines of one leg.

    Attributes
    ----------
    group_id : int or None
        The leg's ``group_id`` in the document (``None`` when the document gives none).
    femur, tibia : tuple of LabelMeShape
        At least one outline each.
    """

    group_id: int | None
    femur: tuple[LabelMeShape, ...]
    tibia: tuple[LabelMeShape, ...]

    @property
    def mean_x(self) -> float:
        """Mean x of all vertices of the leg's outlines (image-left legs have the smaller value)."""
        return float(np.concatenate([shape.points[:, 0] for shape in (*self.femur, *self.tibia)]).mean())


def _as_document(document: LabelMeDocument | Mapping[str, Any]) -> LabelMeDocument:
    return document if isinstance(document, LabelMeDocument) else parse_document(document)


def _mean_x(shape: LabelMeShape) -> float:
    return float(shape.points[:, 0].mean())


def bone_legs(document: LabelMeDocument | Mapping[str, Any]) -> list[BoneLeg]:
    """The legs of a LabelMe document, each with its femur and tibia outlines, image-left first.

    Parameters
    ----------
    document : LabelMeDocument or mapping
        A parsed document, or LabelMe JSON as a dict (parsed with
        :func:`annotations.core.labelme.parse_document`). Labels are canonicalised (``Femur``,
        synonyms); only ``polygon`` and ``mask`` shapes count as outlines.

    Returns
    -------
    list of BoneLeg
        One or more legs (see the module docstring for the rules).

    Raises
    ------
    ValueError
        No femur or tibia outline, a leg without one of them, mixed or ambiguous leg grouping; also
        :class:`~annotations.core.labelme.LabelMeError` (a ``ValueError``) for an invalid document.
    """
    doc = _as_document(document)
    outlines = [shape for shape in doc.shapes
                if shape.shape_type in _BONE_SHAPE_TYPES and shape.canonical_label() in BONES]
    by_bone = {bone: [shape for shape in outlines if shape.canonical_label() == bone] for bone in BONES}
    missing = [bone for bone in BONES if not by_bone[bone]]
    if missing:
        raise ValueError(f"no {' and no '.join(missing)} outline")
    grouped = [shape.group_id is not None for shape in outlines]
    if all(grouped):
        legs = []
        for group_id in sorted({shape.group_id for shape in outlines}):  # type: ignore[type-var]
            femur = tuple(s for s in by_bone["femur"] if s.group_id == group_id)
            tibia = tuple(s for s in by_bone["tibia"] if s.group_id == group_id)
            if not femur or not tibia:
                raise ValueError(f"leg group_id {group_id} has no {'femur' if not femur else 'tibia'} outline")
            legs.append(BoneLeg(group_id, femur, tibia))
    elif any(grouped):
        raise ValueError("some femur/tibia outlines have a group_id and others do not: give every outline of a "
                         "two-leg image its leg's group_id")
    else:
        counts = (len(by_bone["femur"]), len(by_bone["tibia"]))
        if counts not in {(1, 1), (2, 2)}:
            raise ValueError(f"{counts[0]} femur and {counts[1]} tibia outlines without group_id: cannot tell "
                             "the legs apart (give each leg's outlines its group_id)")
        femurs = sorted(by_bone["femur"], key=_mean_x)
        tibias = sorted(by_bone["tibia"], key=_mean_x)
        legs = [BoneLeg(None, (femur,), (tibia,)) for femur, tibia in zip(femurs, tibias, strict=True)]
    return sorted(legs, key=lambda leg: leg.mean_x)


def _mask(shapes: tuple[LabelMeShape, ...], height: int, width: int) -> NDArray[np.bool_]:
    # rasterize_bones draws only shapes with a bone label; one bone's shapes give values of one label.
    return rasterize_bones(shapes, height, width) > 0


def bone_sample(document: LabelMeDocument | Mapping[str, Any], pixels: NDArray[np.uint8], *, sha256: str, key: str,
                group: str) -> BoneSample:
    """A :class:`~inference.sam.tuning_data.BoneSample` of one image and its approved outlines.

    Parameters
    ----------
    document : LabelMeDocument or mapping
        The approved LabelMe document (see :func:`bone_legs`).
    pixels : (H, W) uint8 ndarray
        The image as the SAM models see it (bone bright).
    sha256 : str
        The image's identity; the key of its cached embeddings (``Image.sha256`` in the app).
    key, group : str
        Name of the sample and its patient (images of one patient share a fold).

    Raises
    ------
    ValueError
        ``pixels`` not 2-D uint8, a document whose size differs from the pixels', or see :func:`bone_legs`.
    """
    if pixels.ndim != 2 or pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be (H, W) uint8, got {pixels.shape} {pixels.dtype}")
    doc = _as_document(document)
    height, width = pixels.shape
    if (doc.image_height, doc.image_width) not in {(None, None), (height, width)}:
        raise ValueError(f"the outlines are for a {doc.image_width}x{doc.image_height} image, the image is "
                         f"{width}x{height}")
    masks = []
    for number, leg in enumerate(bone_legs(doc)):
        leg_masks = {bone: _mask(getattr(leg, bone), height, width) for bone in BONES}
        empty = [bone for bone, mask in leg_masks.items() if not mask.any()]
        if empty:
            raise ValueError(f"leg {number}: the {' and '.join(empty)} outline covers no pixel of the image")
        masks.append(leg_masks)
    return BoneSample(key=key, group=group, sha256=sha256, image=pixels, masks=masks)
