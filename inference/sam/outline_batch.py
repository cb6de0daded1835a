"""Outline a list of prompts with one SAM model (``manage.py sam_outline``; contract in architecture §6).

Input, a JSON list, one item per prompt::

    {"image": path, "box": [x0, y0, x1, y1] | null, "points": [[x, y], ...], "labels": [1 | 0, ...]}

``points``/``labels`` may be omitted or empty when a box is given (labels default to all 1 when
omitted with points). A relative ``image`` path is resolved against the folder of the prompts file,
as LabelMe resolves ``imagePath``. Output, the list in the same order::

    {"polygons": [[[x, y], ...], ...], "score": float}

in original image pixels (the outer ring of the mask's largest region, Douglas-Peucker at
``tolerance_px``; ``[]`` when the model found nothing). Every item is validated (file exists and
decodes, prompts fit the image) before the model is loaded; each image is decoded and embedded once
however many prompts it has (items are processed grouped by image, results written in input order).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inference.sam.promptable import PromptableSegmenter, check_prompts

__all__ = ["OutlinePrompt", "PromptFileError", "outline_prompts", "parse_prompt_list"]


class PromptFileError(ValueError):
    """The prompts file is not the documented list; the message names the item and the field."""


@dataclass(frozen=True)
class OutlinePrompt:
    """One validated item: image path and prompts (``None`` where absent)."""

    image: Path
    box: NDArray[np.float64] | None
    points: NDArray[np.float64] | None
    labels: NDArray[np.int64] | None


def _numbers(value: Any, what: str) -> list[float]:
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise PromptFileError(f"{what} must be a list of numbers, got {value!r}")
    if not all(math.isfinite(v) for v in value):
        raise PromptFileError(f"{what} holds a non-finite number")
    return [float(v) for v in value]


def parse_prompt_list(data: Any, *, base_dir: Path) -> list[OutlinePrompt]:
    """Check the JSON structure (not yet against the images) and resolve image paths.

    Raises
    ------
    PromptFileError
        Not a list, an item that is not an object, unknown keys, bad shapes or types, no prompt.
    """
    if not isinstance(data, list):
        raise PromptFileError(f"the prompts file must hold a JSON list, got {type(data).__name__}")
    items = []
    for index, item in enumerate(data):
        where = f"item {index}"
        if not isinstance(item, dict):
            raise PromptFileError(f"{where}: must be an object, got {type(item).__name__}")
        unknown = set(item) - {"image", "box", "points", "labels"}
        if unknown:
            raise PromptFileError(f"{where}: unknown keys {sorted(unknown)}")
        if not isinstance(item.get("image"), str) or not item["image"]:
            raise PromptFileError(f"{where}: 'image' must be a non-empty path string")
        box = item.get("box")
        if box is not None:
            box = _numbers(box, f"{where}: 'box'")
            if len(box) != 4:
                raise PromptFileError(f"{where}: 'box' must be [x0, y0, x1, y1], got {len(box)} numbers")
        points = item.get("points") or None
        if points is not None:
            if not isinstance(points, list):
                raise PromptFileError(f"{where}: 'points' must be a list of [x, y]")
            points = [_numbers(point, f"{where}: points[{k}]") for k, point in enumerate(points)]
            if any(len(point) != 2 for point in points):
                raise PromptFileError(f"{where}: every point must be [x, y]")
        labels = item.get("labels")
        if labels is not None and labels != []:
            if not isinstance(labels, list) or not all(v in (0, 1) and not isinstance(v, bool) for v in labels):
                raise PromptFileError(f"{where}: 'labels' must be a list of 1 (inside) or 0 (outside)")
            if points is None or len(labels) != len(points):
                raise PromptFileError(f"{where}: {len(labels)} labels for {0 if points is None else len(points)} points")
        elif points is not None:
            labels = [1] * len(points)
        else:
            labels = None
        if box is None and points is None:
            raise PromptFileError(f"{where}: give a box or at least one point")
        image = Path(item["image"])
        items.append(OutlinePrompt(
            image=image if image.is_absolute() else base_dir / image,
            box=None if box is None else np.asarray(box, dtype=np.float64),
            points=None if points is None else np.asarray(points, dtype=np.float64),
            labels=None if labels is None else np.asarray(labels, dtype=np.int64),
        ))
    return items


def read_grey(path: Path, *, max_pixels: int) -> NDArray[np.uint8]:
    """The bone-bright uint8 pixels the app gives models for an uploaded file (PNG, JPEG, TIFF, DICOM)."""
    from annotations.core.imaging import ImageDecodeError, decode_image

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PromptFileError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    try:
        return np.asarray(decode_image(data, filename=path.name, max_pixels=max_pixels).display)
    except ImageDecodeError as exc:
        raise PromptFileError(f"cannot decode image {path}: {exc}") from exc


def outline_prompts(items: list[OutlinePrompt], segmenter_factory: Callable[[], PromptableSegmenter], *,
                    tolerance_px: float = 1.5, max_pixels: int = 80_000_000,
                    progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Outline every item; see the module docstring.

    Images are read twice: once to validate every item before the model loads (so a bad item 900
    fails in seconds, not after 899 decodes), then one at a time to embed.

    Raises
    ------
    PromptFileError
        An unreadable image, or prompts that do not fit their image (the item index is named).
    """
    from annotations.core.raster import mask_to_polygon

    by_image: dict[Path, list[int]] = {}
    for index, item in enumerate(items):
        by_image.setdefault(item.image.resolve(), []).append(index)
    for path, indices in by_image.items():
        height, width = read_grey(path, max_pixels=max_pixels).shape
        for index in indices:
            item = items[index]
            try:
                check_prompts(item.points, item.labels, item.box, size_hw=(height, width))
            except ValueError as exc:
                raise PromptFileError(f"item {index} ({item.image}): {exc}") from exc
    segmenter = segmenter_factory()
    results: list[dict[str, Any] | None] = [None] * len(items)
    for number, (path, indices) in enumerate(by_image.items(), start=1):
        embedding = segmenter.embed(read_grey(path, max_pixels=max_pixels))
        for index in indices:
            item = items[index]
            decoded = segmenter.decode(embedding, item.points, item.labels, item.box)
            rings = mask_to_polygon(decoded.mask, tolerance_px=tolerance_px)[:1]
            results[index] = {"polygons": [np.round(ring, 2).tolist() for ring in rings], "score": float(decoded.score)}
        if progress is not None:
            progress(f"{number}/{len(by_image)} images: {path.name} ({len(indices)} prompts)")
    return [result for result in results if result is not None]
