"""Landmark patches: a small square around a coarse landmark, scaled to the leg, for the landmark refiner.

The leg localiser sees the whole radiograph at 256 x 128, so its femoral-head apex and plafond centre
are a few millimetres off (3.8 / 3.7 mm median on held-out EOS images). The landmark refiner
(:mod:`inference.backends.landmark_refiner`) looks again at each landmark in a patch of the original
pixels:

* the patch is a square of side :data:`PATCH_FRACTION` x the leg's apex-ankle length, centred on the
  coarse landmark, so it shows the same anatomy whatever the image size or the patient's height;
* it is resampled to :data:`PATCH_PIXELS` square (area-averaged when shrinking);
* a leg that looks like a left leg is mirrored, so every patch shows a right leg (medial toward +x),
  as the members' leg crops do.

:class:`LandmarkPatch` holds that transform and maps points both ways exactly. Django- and torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = ["LANDMARKS", "PATCH_FRACTION", "PATCH_PIXELS", "LandmarkPatch"]

#: The landmarks the refiner knows, in its output channels' order.
LANDMARKS = ("apex", "ankle")
#: Patch side as a fraction of the leg's apex-ankle length (about 70-90 mm on an adult or a child's leg).
PATCH_FRACTION = 0.10
PATCH_PIXELS = 64


@dataclass(frozen=True)
class LandmarkPatch:
    """Original ``(x, y)`` -> patch ``(u, v)``: ``u = c + m (x - cx) / step``, ``v = c + (y - cy) / step``.

    ``(cx, cy)`` is the coarse landmark, ``step`` original pixels per patch pixel, ``c`` the patch centre
    ``(PATCH_PIXELS - 1) / 2`` and ``m`` -1 when ``mirrored``. Point coordinates are pixel centres (a
    point at ``x = 3`` lies on column 3), in the original image and in the patch alike.
    """

    centre_xy: tuple[float, float]
    step: float
    mirrored: bool
    size: int = PATCH_PIXELS

    def __post_init__(self) -> None:
        if not (self.step > 0 and np.isfinite(self.step)):
            raise ValueError(f"step must be positive and finite, got {self.step}")

    @classmethod
    def around(cls, centre_xy: NDArray[np.float64] | tuple[float, float], leg_length: float, *, mirrored: bool,
               fraction: float = PATCH_FRACTION, size: int = PATCH_PIXELS) -> LandmarkPatch:
        """The patch of side ``fraction * leg_length`` original pixels centred on ``centre_xy``."""
        if not (leg_length > 0 and np.isfinite(leg_length)):
            raise ValueError(f"leg length must be positive and finite, got {leg_length}")
        cx, cy = (float(v) for v in np.asarray(centre_xy, dtype=np.float64).reshape(2))
        return cls((cx, cy), fraction * leg_length / size, mirrored, size)

    @property
    def _sign(self) -> float:
        return -1.0 if self.mirrored else 1.0

    @property
    def _centre(self) -> float:
        return (self.size - 1) / 2.0

    def to_patch(self, points_xy: NDArray[np.float64]) -> NDArray[np.float64]:
        p = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        cx, cy = self.centre_xy
        return np.column_stack([self._centre + self._sign * (p[:, 0] - cx) / self.step,
                                self._centre + (p[:, 1] - cy) / self.step])

    def to_original(self, points_uv: NDArray[np.float64]) -> NDArray[np.float64]:
        """Patch ``(N, 2)`` points -> original points (the exact inverse of :meth:`to_patch`)."""
        p = np.asarray(points_uv, dtype=np.float64).reshape(-1, 2)
        cx, cy = self.centre_xy
        return np.column_stack([cx + self._sign * (p[:, 0] - self._centre) * self.step,
                                cy + (p[:, 1] - self._centre) * self.step])

    def cut(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """The ``(size, size)`` patch of ``image``; black where it leaves the image."""
        height, width = image.shape
        half = self.size * self.step / 2.0
        cx, cy = self.centre_xy
        # Edges of the patch in pixel-area coordinates (column i covers [i - 0.5, i + 0.5]).
        x0, y0, x1, y1 = cx - half, cy - half, cx + half, cy + half
        left, top = int(np.floor(x0 + 0.5)) - 1, int(np.floor(y0 + 0.5)) - 1
        right, bottom = int(np.ceil(x1 + 0.5)) + 1, int(np.ceil(y1 + 0.5)) + 1
        region = np.zeros((bottom - top, right - left), dtype=np.uint8)
        src_x0, src_y0, src_x1, src_y1 = max(left, 0), max(top, 0), min(right, width), min(bottom, height)
        if src_x1 > src_x0 and src_y1 > src_y0:
            region[src_y0 - top:src_y1 - top, src_x0 - left:src_x1 - left] = image[src_y0:src_y1, src_x0:src_x1]
        box = (x0 + 0.5 - left, y0 + 0.5 - top, x1 + 0.5 - left, y1 + 0.5 - top)
        patch = np.asarray(Image.fromarray(region).resize((self.size, self.size), Image.Resampling.BILINEAR, box=box))
        return np.ascontiguousarray(patch[:, ::-1]) if self.mirrored else patch
