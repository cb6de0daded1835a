"""What real full-length radiographs carry besides the legs, drawn onto an image (phantoms, benchmarks).

Hospitals' long-leg images have a radiopaque ruler beside the legs, lead side markers ("R"/"L")
near the top corners, a gonadal shield over the pelvis in children, metal implants (plates and
screws, bright as the brightest bone or brighter), and black borders where the detector was not
exposed. Each function returns a new uint8 image; the bones' geometry is untouched, so a phantom's
truth still holds. :func:`with_hospital_artifacts` applies all of them; :func:`resized_to_height`
scales an image (and its truth points) to any height, from 256 px thumbnails to 12 000 px scans.

Pure numpy and Pillow, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw


def _draw(image: NDArray[np.uint8]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    canvas = Image.fromarray(np.ascontiguousarray(image))
    return canvas, ImageDraw.Draw(canvas)


def with_ruler(image: NDArray[np.uint8], *, x: float, tick_px: float, brightness: int = 235) -> NDArray[np.uint8]:
    """A vertical radiopaque ruler at column ``x``: a strip the full height with ticks every ``tick_px``."""
    h, w = image.shape
    canvas, draw = _draw(image)
    strip = max(2.0, 0.012 * w)
    draw.rectangle([x, 0, x + strip, h - 1], fill=int(0.6 * brightness))
    for i, y in enumerate(np.arange(0.0, h, tick_px)):
        length = strip * (2.5 if i % 10 == 0 else 1.6 if i % 5 == 0 else 1.0)
        draw.line([x, y, x + length, y], fill=brightness, width=max(1, round(0.15 * tick_px)))
    return np.asarray(canvas)


def with_lead_marker(image: NDArray[np.uint8], *, letter: str, x: float, y: float, size: float) -> NDArray[np.uint8]:
    """A lead side marker: a saturated square with the letter cut out of it (``size`` px high)."""
    canvas, draw = _draw(image)
    draw.rectangle([x, y, x + size, y + size], fill=255)
    stroke = max(1, round(size / 8))
    left, top, right, bottom = x + size * 0.25, y + size * 0.2, x + size * 0.75, y + size * 0.8
    draw.line([left, top, left, bottom], fill=20, width=stroke)
    if letter.upper() == "L":
        draw.line([left, bottom, right, bottom], fill=20, width=stroke)
    else:
        draw.line([left, top, right, top], fill=20, width=stroke)
        draw.line([right, top, right, 0.5 * (top + bottom)], fill=20, width=stroke)
        draw.line([left, 0.5 * (top + bottom), right, 0.5 * (top + bottom)], fill=20, width=stroke)
        draw.line([left + 0.4 * (right - left), 0.5 * (top + bottom), right, bottom], fill=20, width=stroke)
    return np.asarray(canvas)


def with_gonadal_shield(image: NDArray[np.uint8], *, centre_xy: Sequence[float], radius: float) -> NDArray[np.uint8]:
    """A lead gonadal shield: a bright rounded triangle (apex down) centred at ``centre_xy``."""
    cx, cy = (float(v) for v in centre_xy)
    canvas, draw = _draw(image)
    pts = [(cx - radius, cy - 0.6 * radius), (cx + radius, cy - 0.6 * radius), (cx, cy + radius)]
    draw.polygon(pts, fill=245)
    draw.ellipse([cx - 0.55 * radius, cy - 0.9 * radius, cx + 0.55 * radius, cy - 0.2 * radius], fill=245)
    return np.asarray(canvas)


def with_implant(image: NDArray[np.uint8], *, start_xy: Sequence[float], end_xy: Sequence[float],
                 width: float, screws: int = 4) -> NDArray[np.uint8]:
    """A metal plate from ``start_xy`` to ``end_xy`` (``width`` px wide) with ``screws`` crossing screws."""
    a, b = np.asarray(start_xy, dtype=np.float64), np.asarray(end_xy, dtype=np.float64)
    along = (b - a) / max(float(np.linalg.norm(b - a)), 1e-9)
    across = np.array([-along[1], along[0]])
    half = 0.5 * width
    canvas, draw = _draw(image)
    plate = [a + across * half, b + across * half, b - across * half, a - across * half]
    draw.polygon([tuple(p) for p in plate], fill=250)
    for t in np.linspace(0.15, 0.85, screws):
        c = a + t * (b - a)
        p, q = c - across * 3.5 * width, c + across * 3.5 * width
        draw.line([tuple(p), tuple(q)], fill=255, width=max(1, round(0.45 * width)))
    return np.asarray(canvas)


def with_black_border(image: NDArray[np.uint8], *, left: int, top: int, right: int, bottom: int) -> NDArray[np.uint8]:
    """The image on a black canvas, with those margins (px); truth points move by ``(left, top)``."""
    h, w = image.shape
    out = np.zeros((h + top + bottom, w + left + right), dtype=np.uint8)
    out[top:top + h, left:left + w] = image
    return out


def with_hospital_artifacts(image: NDArray[np.uint8], legs: Sequence[dict]) -> NDArray[np.uint8]:
    """Ruler, side markers, a gonadal shield between the hips and a femoral plate on the first leg.

    ``legs`` are phantom truth legs (``{"joints": {"hip": [x, y], "knee": ..., "ankle": ...}}``).
    """
    h, w = image.shape
    hips = np.array([leg["joints"]["hip"] for leg in legs], dtype=np.float64)
    knees = np.array([leg["joints"]["knee"] for leg in legs], dtype=np.float64)
    leg_length = float(np.median([np.linalg.norm(np.subtract(leg["joints"]["ankle"], leg["joints"]["hip"]))
                                  for leg in legs]))
    out = with_ruler(image, x=0.015 * w, tick_px=leg_length / 80.0)
    marker = 0.035 * h
    out = with_lead_marker(out, letter="R", x=0.06 * w, y=0.02 * h, size=marker)
    out = with_lead_marker(out, letter="L", x=0.94 * w - marker, y=0.02 * h, size=marker)
    centre = hips.mean(axis=0) + np.array([0.0, 0.12 * leg_length]) if len(hips) == 2 else None
    if centre is not None:
        out = with_gonadal_shield(out, centre_xy=centre, radius=0.25 * float(abs(hips[1, 0] - hips[0, 0])))
    hip, knee = hips[0], knees[0]
    out = with_implant(out, start_xy=hip + 0.45 * (knee - hip), end_xy=hip + 0.85 * (knee - hip),
                       width=0.012 * leg_length)
    return out


def resized_to_height(image: NDArray[np.uint8], height: int) -> tuple[NDArray[np.uint8], float]:
    """``image`` scaled (aspect kept, area-averaged when shrinking) to ``height`` rows, and the scale used."""
    h, w = image.shape
    scale = height / h
    width = max(1, round(w * scale))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(image).resize((width, height), resample)), scale
