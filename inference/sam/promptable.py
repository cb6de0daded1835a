"""The promptable-segmenter interface (SAM family): embed an image once, decode many prompts.

Conventions (:mod:`inference.core.legs`): prompts are image ``(x, y)`` pixels of the ORIGINAL image,
x = column to the right, y = row downward, origin at the top-left corner of the top-left pixel (the
centre of pixel ``[r, c]`` is ``(c + 0.5, r + 0.5)``). Masks are ``(H, W)`` bool arrays indexed
``[row, col]`` in the original image's size.

This module imports numpy only, so the web process may import it (for :class:`SamUnavailable`);
the torch implementations live in :mod:`inference.sam.sam_family` and its subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = ["Decoded", "Embedding", "PromptableSegmenter", "SamUnavailable", "check_prompts", "to_uint8"]


class SamUnavailable(RuntimeError):
    """A SAM model cannot be used here (missing checkpoint, package or unknown name); the message says why."""


@dataclass(frozen=True, eq=False)
class Embedding:
    """Encoder output of one image: one feature map per window, plus the geometry to map prompts.

    Attributes
    ----------
    model : str
        Registry name of the segmenter that made it.
    weights_id : str
        Identity of the weights (a changed checkpoint invalidates cached embeddings).
    features : (K, C, h, w) float32 ndarray
        Image-encoder output for each window.
    windows_xyxy : (K, 4) int64 ndarray
        Window ``k`` covers columns ``x0 <= c < x1`` and rows ``y0 <= r < y1`` of the original image;
        window 0 is always the whole image (see :mod:`inference.sam.windows`).
    input_sizes_hw : (K, 2) int64 ndarray
        ``(h, w)`` of each window after resizing its longest side to the model's input side (the rest
        of the square model input is padding).
    original_size_hw : tuple of int
        ``(H, W)`` of the original image.
    """

    model: str
    weights_id: str
    features: NDArray[np.float32]
    windows_xyxy: NDArray[np.int64]
    input_sizes_hw: NDArray[np.int64]
    original_size_hw: tuple[int, int]

    def __post_init__(self) -> None:
        k = len(self.features)
        if self.features.ndim != 4 or self.windows_xyxy.shape != (k, 4) or self.input_sizes_hw.shape != (k, 2):
            raise ValueError(
                f"inconsistent embedding: features {self.features.shape}, windows {self.windows_xyxy.shape}, "
                f"input sizes {self.input_sizes_hw.shape}"
            )


class Decoded(NamedTuple):
    """One decoded prompt: ``mask`` (H, W) bool in original image coordinates, ``score`` the model's
    own quality estimate (predicted IoU, not a calibrated probability)."""

    mask: NDArray[np.bool_]
    score: float


@runtime_checkable
class PromptableSegmenter(Protocol):
    """A SAM-family model: an expensive :meth:`embed` per image, a cheap :meth:`decode` per prompt."""

    name: str
    weights_id: str

    def embed(self, image: NDArray[np.uint8] | NDArray[np.floating]) -> Embedding:
        """Encode an ``(H, W)`` grey image (uint8, or float scaled by :func:`to_uint8`)."""
        ...

    def decode(
        self,
        embedding: Embedding,
        points_xy: NDArray[np.float64] | None = None,
        point_labels: NDArray[np.integer] | None = None,
        box_xyxy: NDArray[np.float64] | None = None,
    ) -> Decoded:
        """Segment the object the prompts point at (1 = inside, 0 = outside; box ``x0, y0, x1, y1``)."""
        ...


def to_uint8(image: NDArray[np.uint8] | NDArray[np.floating]) -> NDArray[np.uint8]:
    """An ``(H, W)`` uint8 copy of a grey image: uint8 as is, any other dtype min-max scaled to 0..255.

    Raises
    ------
    ValueError
        If the image is not 2-D, is empty or holds non-finite values.
    """
    array = np.asarray(image)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"image must be a non-empty (H, W) grey array, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    values = array.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("image contains non-finite values")
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) * 255.0 if high > low else np.zeros_like(values)
    return np.round(scaled).astype(np.uint8)


def check_prompts(
    points_xy: NDArray[np.float64] | None,
    point_labels: NDArray[np.integer] | None,
    box_xyxy: NDArray[np.float64] | None,
    *,
    size_hw: tuple[int, int],
) -> tuple[NDArray[np.float64] | None, NDArray[np.int64] | None, NDArray[np.float64] | None]:
    """Validate prompts against an image of ``size_hw`` and return them as float64/int64 arrays.

    Parameters
    ----------
    points_xy : (N, 2) float ndarray or None
        Clicks in image ``(x, y)``; each must lie inside the image (``0 <= x <= W``, ``0 <= y <= H``).
    point_labels : (N,) int ndarray or None
        1 (inside the object) or 0 (outside); required with ``points_xy``.
    box_xyxy : (4,) float ndarray or None
        ``x0, y0, x1, y1`` with ``x0 < x1`` and ``y0 < y1``; clipped to the image, and the clipped box
        must keep a positive area.

    Raises
    ------
    ValueError
        No prompt at all, a bad shape, a label other than 0/1, a non-finite value, a point outside the
        image or a box that misses it.
    """
    height, width = size_hw
    points = labels = box = None
    if points_xy is not None:
        points = np.asarray(points_xy, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
            raise ValueError(f"points must be an (N, 2) array of (x, y), got shape {points.shape}")
        if not np.all(np.isfinite(points)):
            raise ValueError("points contain non-finite values")
        outside = (points[:, 0] < 0) | (points[:, 0] > width) | (points[:, 1] < 0) | (points[:, 1] > height)
        if outside.any():
            raise ValueError(f"point {points[outside][0].tolist()} lies outside the {width}x{height} image")
        if point_labels is None:
            raise ValueError("labels are required with points (1 = inside, 0 = outside)")
        labels = np.asarray(point_labels)
        if labels.shape != (len(points),) or not np.isin(labels, (0, 1)).all():
            raise ValueError(f"labels must be {len(points)} values of 1 (inside) or 0 (outside)")
        labels = labels.astype(np.int64)
    elif point_labels is not None:
        raise ValueError("labels were given without points")
    if box_xyxy is not None:
        box = np.asarray(box_xyxy, dtype=np.float64)
        if box.shape != (4,) or not np.all(np.isfinite(box)):
            raise ValueError(f"box must be 4 finite numbers x0, y0, x1, y1, got {box.tolist()}")
        if not (box[0] < box[2] and box[1] < box[3]):
            raise ValueError(f"box must have x0 < x1 and y0 < y1, got {box.tolist()}")
        box = np.clip(box, 0.0, [width, height, width, height])
        if not (box[0] < box[2] and box[1] < box[3]):
            raise ValueError(f"box lies outside the {width}x{height} image")
    if points is None and box is None:
        raise ValueError("give at least one prompt: points or a box")
    return points, labels, box
