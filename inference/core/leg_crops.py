"""Per-leg normalised crops: cut one leg out of any radiograph in the members' training geometry.

The members are trained on the OAI long-leg crops (128 x 1024, one patient-RIGHT leg, femoral head at
the top, plafond near the bottom, CLAHE-enhanced). A leg of any other image (a bilateral full-length
radiograph, an EOS image of a child, a 6000-pixel DICOM) is brought into that geometry by a similarity
transform without rotation fixed by two landmarks the leg localiser gives:

* the femoral-head **apex** goes to :data:`CANONICAL_APEX_Y`;
* the **plafond centre** (ankle) goes to :data:`CANONICAL_ANKLE_Y` (so every leg gets the median OAI
  length, 665 rows);
* the midpoint of the two goes to column :data:`CANONICAL_MID_X`;
* a patient-LEFT leg is mirrored, so every crop shows a right leg (medial side toward +x).

Canonical positions are the medians over the 242 OAI outlines (apex 63/220, plafond centre 83/890).

:class:`LegCrop` holds the transform; it maps points both ways exactly, cuts the crop from the
original image (area-averaged when shrinking) and pastes a crop-space label map back onto the original
pixel grid (bilinear one-hot sampling, so upscaled crops give smooth outlines). Django- and
torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = [
    "CANONICAL_ANKLE_Y",
    "CANONICAL_APEX_Y",
    "CANONICAL_HEIGHT",
    "CANONICAL_MID_X",
    "CANONICAL_WIDTH",
    "LegCrop",
    "clahe",
    "leg_crop_from_landmarks",
]

CANONICAL_WIDTH = 128
CANONICAL_HEIGHT = 1024
CANONICAL_APEX_Y = 220.0
CANONICAL_ANKLE_Y = 885.0
CANONICAL_MID_X = 73.0


@dataclass(frozen=True)
class LegCrop:
    """Similarity transform original ``(x, y)`` -> crop ``(u, v)``: ``u = cu + m (x - ax) s``, ``v = cv + (y - ay) s``.

    ``m`` is -1 when ``mirrored`` (a patient-left leg shown as a right leg), else +1. ``(ax, ay)`` is
    the reference point in the original image, ``(cu, cv)`` its place in the crop, ``scale`` crop
    pixels per original pixel.
    """

    reference_xy: tuple[float, float]
    scale: float
    mirrored: bool
    width: int = CANONICAL_WIDTH
    height: int = CANONICAL_HEIGHT
    canonical_xy: tuple[float, float] = (CANONICAL_MID_X, 0.5 * (CANONICAL_APEX_Y + CANONICAL_ANKLE_Y))

    def __post_init__(self) -> None:
        if not (self.scale > 0 and np.isfinite(self.scale)):
            raise ValueError(f"scale must be positive and finite, got {self.scale}")

    @property
    def _sign(self) -> float:
        return -1.0 if self.mirrored else 1.0

    def to_crop(self, points_xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Original ``(N, 2)`` points -> crop points."""
        p = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        ax, ay = self.reference_xy
        cu, cv = self.canonical_xy
        return np.column_stack([cu + self._sign * (p[:, 0] - ax) * self.scale, cv + (p[:, 1] - ay) * self.scale])

    def to_original(self, points_xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Crop ``(N, 2)`` points -> original points (the exact inverse of :meth:`to_crop`)."""
        p = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        ax, ay = self.reference_xy
        cu, cv = self.canonical_xy
        return np.column_stack([ax + self._sign * (p[:, 0] - cu) / self.scale, ay + (p[:, 1] - cv) / self.scale])

    def original_bounds(self) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)`` of the crop's frame in original pixels (may extend beyond the image)."""
        corners = self.to_original(np.array([[0.0, 0.0], [self.width, self.height]]))
        return (float(corners[:, 0].min()), float(corners[:, 1].min()),
                float(corners[:, 0].max()), float(corners[:, 1].max()))

    def cut(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """The ``(height, width)`` crop of ``image`` (zeros outside it), area-averaged when shrinking."""
        x0, y0, x1, y1 = self.original_bounds()
        h, w = image.shape
        # Pad so the frame lies inside the (padded) image, then let PIL resample the float box.
        pad_l, pad_t = max(0, int(np.ceil(-x0)) + 1), max(0, int(np.ceil(-y0)) + 1)
        pad_r, pad_b = max(0, int(np.ceil(x1 - w)) + 1), max(0, int(np.ceil(y1 - h)) + 1)
        cx0, cy0 = max(0, int(np.floor(x0)) - 1), max(0, int(np.floor(y0)) - 1)
        cx1, cy1 = min(w, int(np.ceil(x1)) + 1), min(h, int(np.ceil(y1)) + 1)
        if cx1 <= cx0 or cy1 <= cy0:
            return np.zeros((self.height, self.width), dtype=np.uint8)
        window = np.zeros((cy1 - cy0 + pad_t + pad_b, cx1 - cx0 + pad_l + pad_r), dtype=np.uint8)
        window[pad_t:pad_t + cy1 - cy0, pad_l:pad_l + cx1 - cx0] = image[cy0:cy1, cx0:cx1]
        ox, oy = cx0 - pad_l, cy0 - pad_t  # original coordinates of the window's origin
        box = (x0 - ox, y0 - oy, x1 - ox, y1 - oy)
        resample = Image.Resampling.BOX if self.scale < 1.0 else Image.Resampling.BILINEAR
        crop = np.asarray(Image.fromarray(window).resize((self.width, self.height), resample=resample, box=box))
        return np.ascontiguousarray(crop[:, ::-1]) if self.mirrored else crop

    def cut_labels(self, labels: NDArray[np.integer]) -> NDArray[np.uint8]:
        """The crop of a label map: each crop pixel centre takes the label of the original pixel it falls in."""
        h, w = labels.shape
        centres_u = self.to_original(np.column_stack([np.arange(self.width) + 0.5, np.zeros(self.width)]))[:, 0]
        centres_v = self.to_original(np.column_stack([np.zeros(self.height), np.arange(self.height) + 0.5]))[:, 1]
        cols, rows = np.floor(centres_u).astype(np.intp), np.floor(centres_v).astype(np.intp)
        out = np.zeros((self.height, self.width), dtype=np.uint8)
        keep_c, keep_r = (cols >= 0) & (cols < w), (rows >= 0) & (rows < h)
        out[np.ix_(np.flatnonzero(keep_r), np.flatnonzero(keep_c))] = labels[np.ix_(rows[keep_r], cols[keep_c])]
        return out

    def labels_on_side(self, crop_labels: NDArray[np.integer], x_mid: float, image_side: str) -> NDArray[np.uint8]:
        """``crop_labels`` without the columns whose original x lies across ``x_mid`` (the other leg's half).

        ``image_side`` is the side of the image (``"left"``: x < x_mid) this crop's leg is on.
        """
        x = self.to_original(np.column_stack([np.arange(self.width) + 0.5, np.zeros(self.width)]))[:, 0]
        out = np.array(crop_labels, dtype=np.uint8, copy=True)
        out[:, x >= x_mid if image_side == "left" else x <= x_mid] = 0
        return out

    def paste_labels(self, crop_labels: NDArray[np.integer], out: NDArray[np.uint8],
                     column_range: tuple[int, int] | None = None) -> None:
        """Write the bone labels of a crop-space map into ``out`` (original grid), in place.

        Each original pixel centre inside the crop's frame takes the label whose one-hot map, sampled
        bilinearly at that point of the crop, is largest (background where it is); so an upscaled crop
        gives smooth outlines rather than blocks of crop pixels. ``column_range`` ``(lo, hi)`` limits the
        original columns written (the leg's side of a bilateral image).
        """
        crop_labels = np.asarray(crop_labels)
        if crop_labels.shape != (self.height, self.width):
            raise ValueError(f"crop labels must be {(self.height, self.width)}, got {crop_labels.shape}")
        h, w = out.shape
        x0, y0, x1, y1 = self.original_bounds()
        lo, hi = column_range or (0, w)
        cols = np.arange(max(lo, int(np.floor(x0))), min(hi, int(np.ceil(x1))))
        rows = np.arange(max(0, int(np.floor(y0))), min(h, int(np.ceil(y1))))
        if not len(cols) or not len(rows):
            return
        # Crop coordinates of the original pixel centres, in crop pixel-centre units (centre of [0, 0] = 0).
        u = self.to_crop(np.column_stack([cols + 0.5, np.zeros(len(cols))]))[:, 0] - 0.5
        v = self.to_crop(np.column_stack([np.zeros(len(rows)), rows + 0.5]))[:, 1] - 0.5
        inside_u, inside_v = (u > -0.5) & (u < self.width - 0.5), (v > -0.5) & (v < self.height - 0.5)
        cols, u, rows, v = cols[inside_u], u[inside_u], rows[inside_v], v[inside_v]
        u0 = np.clip(np.floor(u).astype(np.intp), 0, self.width - 1)
        v0 = np.clip(np.floor(v).astype(np.intp), 0, self.height - 1)
        u1, v1 = np.minimum(u0 + 1, self.width - 1), np.minimum(v0 + 1, self.height - 1)
        wu = np.clip(u - u0, 0.0, 1.0).astype(np.float32)[np.newaxis, :]
        wv = np.clip(v - v0, 0.0, 1.0).astype(np.float32)[:, np.newaxis]
        # Rows and columns inside the frame are contiguous runs: write through a view of ``out``. The
        # labels' one-hot maps sum to 1, so at most one label scores above 0.5 at any point.
        region = out[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        for label in (int(value) for value in np.unique(crop_labels) if value > 0):
            one_hot = (crop_labels == label).astype(np.float32)
            along_v = one_hot[v0] * (1 - wv) + one_hot[v1] * wv  # (rows, crop width): small
            score = along_v[:, u0] * (1 - wu) + along_v[:, u1] * wu  # separable: the same bilinear value
            np.putmask(region, score > 0.5, np.uint8(label))


def leg_crop_from_landmarks(apex_xy: NDArray[np.float64], ankle_xy: NDArray[np.float64], *,
                            mirrored: bool) -> LegCrop:
    """The crop that puts the femoral-head apex and the plafond centre at their canonical rows.

    Raises ``ValueError`` when the ankle is not below the apex (no leg to crop).
    """
    apex = np.asarray(apex_xy, dtype=np.float64).reshape(2)
    ankle = np.asarray(ankle_xy, dtype=np.float64).reshape(2)
    length = float(ankle[1] - apex[1])
    if not length > 0:
        raise ValueError(f"the ankle (y={ankle[1]:.1f}) must lie below the femoral-head apex (y={apex[1]:.1f})")
    mid = 0.5 * (apex + ankle)
    return LegCrop(reference_xy=(float(mid[0]), float(mid[1])), scale=(CANONICAL_ANKLE_Y - CANONICAL_APEX_Y) / length,
                   mirrored=mirrored)


def clahe(image: NDArray[np.uint8], *, clip_limit: float = 1.0, tiles: int = 8) -> NDArray[np.uint8]:
    """Contrast-limited adaptive histogram equalisation as the OAI crops were made (OpenCV, clip 1.0, 8 x 8 tiles)."""
    import cv2  # OpenCV comes with the ML requirements (ultralytics); imported here to keep the import cheap

    return cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles)).apply(np.ascontiguousarray(image))
