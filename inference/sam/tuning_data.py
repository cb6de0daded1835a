"""Outline data for SAM tuning: images with one femur and one tibia mask per leg (numpy only, no torch).

A :class:`BoneSample` is one image with its bone masks; they come from a folder of LabelMe files
(:func:`load_labelme_bones`, e.g. ``../shared/data/oai-longleg-seg``) or from synthetic phantoms
(:func:`phantom_bones`). Images are identified by the sha256 of their pixels' source bytes, which is
also the key of their cached embeddings.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from annotations.core.labelme import parse_document
from annotations.core.raster import rasterize_polygon

__all__ = ["BONES", "BoneSample", "load_labelme_bones", "phantom_bones"]

BONES = ("femur", "tibia")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


@dataclass(frozen=True, eq=False)
class BoneSample:
    """One image and its bone masks.

    Attributes
    ----------
    key : str
        Name of the image (file stem, or ``phantom-<seed>``).
    group : str
        Patient (images of one group always share a fold).
    sha256 : str
        Hex sha256 identifying the image (of the file bytes, or of the phantom's pixels).
    image : (H, W) uint8 ndarray
    masks : list of dict
        One ``{"femur": (H, W) bool, "tibia": (H, W) bool}`` per leg.
    """

    key: str
    group: str
    sha256: str
    image: NDArray[np.uint8] = field(repr=False)
    masks: list[dict[str, NDArray[np.bool_]]] = field(repr=False)


def _image_file(json_path: Path) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        candidate = json_path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def load_labelme_bones(folder: Path, *, group_pattern: str = r"^([^_]+)", limit: int | None = None) -> list[BoneSample]:
    """Every image of ``folder`` whose LabelMe file has exactly one ``femur`` and one ``tibia`` polygon.

    Images with other counts (two legs with ``group_id``, missing bones) are skipped; so are JSON
    files without an image beside them. ``group_pattern``'s first group of the file stem is the patient.
    """
    from PIL import Image as PILImage

    pattern = re.compile(group_pattern)
    samples = []
    for path in sorted(Path(folder).glob("*.json"))[:limit]:
        image_path = _image_file(path)
        if image_path is None:
            continue
        document = parse_document(path.read_bytes())
        polygons = {bone: document.shapes_with_label(bone) for bone in BONES}
        if any(len(shapes) != 1 for shapes in polygons.values()):
            continue
        raw = image_path.read_bytes()
        with PILImage.open(image_path) as opened:
            pixels = np.asarray(opened.convert("L"))
        height, width = pixels.shape
        masks = {bone: rasterize_polygon(np.asarray(polygons[bone][0].points, dtype=np.float64), height, width)
                 for bone in BONES}
        match = pattern.search(path.stem)
        samples.append(BoneSample(key=path.stem, group=match.group(1) if match else path.stem,
                                  sha256=hashlib.sha256(raw).hexdigest(), image=pixels, masks=[masks]))
    return samples


def phantom_bones(n: int, *, seed: int = 1000, legs: int = 1) -> list[BoneSample]:
    """``n`` synthetic phantoms (seeds ``seed``, ``seed + 1``, ...), each its own group."""
    from inference.core.phantom import generate_phantom

    samples = []
    for offset in range(n):
        phantom = generate_phantom(seed=seed + offset, legs=legs)
        height, width = phantom.image.shape
        masks = [{bone: rasterize_polygon(np.asarray(polygons[i], dtype=np.float64), height, width)
                  for i, bone in enumerate(BONES)} for polygons in phantom.polygons_xy]
        digest = hashlib.sha256(np.ascontiguousarray(phantom.image).tobytes()).hexdigest()
        samples.append(BoneSample(key=f"phantom-{seed + offset}", group=f"phantom-{seed + offset}", sha256=digest,
                                  image=phantom.image, masks=masks))
    return samples
