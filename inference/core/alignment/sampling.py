"""Leg context, per-leg bone masks and the Monte-Carlo pixel draws (§5.3 [D]).

A pixel ``[r, c]`` is the image point ``(c + 0.5, r + 0.5)``. On a bilateral image a leg owns the
columns whose pixel centres lie strictly on its side of ``x_mid``. Draw ``r`` of a bone takes
``min(n_samples, |S|)`` pixels without replacement with its own generator seeded by
``(seed, image_id, leg, bone, r)``; ``reference_mode`` uses the reference code's single draw instead.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from inference.core.alignment.records import AlignmentOptions
from inference.core.legs import FEMUR, TIBIA, ImageSide, LegJoints


@dataclass(frozen=True)
class _LegContext:
    leg_index: int
    n_legs: int
    joints: LegJoints
    image_side: ImageSide
    col_lo: int
    col_hi: int
    width: int
    height: int
    pixel_spacing_mm: float | None
    image_key: int
    opts: AlignmentOptions


@dataclass(frozen=True, eq=False)
class _BoneMask:
    """Full-resolution mask of one bone of one leg: ``mask`` ``(H, col_hi - col_lo)``, columns offset."""

    mask: NDArray[np.bool_]
    col_lo: int
    pixels_xy: NDArray[np.float64]

    @property
    def count(self) -> int:
        return int(self.pixels_xy.shape[0])

    @property
    def rows_span(self) -> tuple[int, int] | None:
        """First and last row holding a pixel (the pixels are in row-major order), or None."""
        if self.count == 0:
            return None
        return int(self.pixels_xy[0, 1] - 0.5), int(self.pixels_xy[-1, 1] - 0.5)


def _image_key(image_id: int | str) -> int:
    if isinstance(image_id, (int, np.integer)) and int(image_id) >= 0:
        return int(image_id)
    digest = hashlib.sha256(str(image_id).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def _leg_columns(width: int, x_mid: float, image_side: ImageSide) -> tuple[int, int]:
    """Column range ``[lo, hi)`` whose pixel centres lie strictly on the leg's side of ``x_mid``."""
    if image_side == "left":
        hi = int(np.clip(math.ceil(x_mid - 0.5), 0, width))  # c + 0.5 < x_mid
        return 0, hi
    lo = int(np.clip(math.floor(x_mid - 0.5) + 1, 0, width))  # c + 0.5 > x_mid
    return lo, width


def _not_on_split(x: NDArray[np.float64], x_mid: float | None, n_legs: int) -> NDArray[np.bool_]:
    if n_legs < 2 or x_mid is None:
        return np.ones(x.shape, dtype=bool)
    return x != x_mid


def _set_pixels_rc(mask: NDArray[np.bool_]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """``np.nonzero(mask)`` (row-major order) for a 2-D mask, searching only the set pixels' bounding box.

    A bone covers a small part of a long-leg image, and flat indices of a box are several times
    cheaper than 2-D ``nonzero`` of the whole mask.
    """
    rows_set = np.flatnonzero(mask.any(axis=1))
    if rows_set.size == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    r0, r1 = int(rows_set[0]), int(rows_set[-1]) + 1
    cols_set = np.flatnonzero(mask[r0:r1].any(axis=0))
    c0, c1 = int(cols_set[0]), int(cols_set[-1]) + 1
    rows, cols = np.divmod(np.flatnonzero(mask[r0:r1, c0:c1]), c1 - c0)
    return rows + r0, cols + c0


def _bone_mask(masks: Mapping[int, NDArray[np.bool_]], bone: int, ctx: _LegContext) -> _BoneMask:
    sub = masks[bone][:, ctx.col_lo : ctx.col_hi]
    rows, cols = _set_pixels_rc(sub)
    pts = np.column_stack([cols + ctx.col_lo + 0.5, rows + 0.5]).astype(np.float64)
    return _BoneMask(sub, ctx.col_lo, pts)


def _reference_draws(masks: Mapping[int, NDArray[np.bool_]]) -> dict[int, NDArray[np.float64]]:
    """The reference code's single draw per bone: seed 42, ``randint`` with replacement, whole image."""
    out: dict[int, NDArray[np.float64]] = {}
    for bone, size in ((TIBIA, 1000), (FEMUR, 4000)):
        rows, cols = np.nonzero(masks[bone])
        if rows.size == 0:
            out[bone] = np.zeros((0, 2))
            continue
        idx = np.random.RandomState(42).randint(0, rows.size, size=size)
        out[bone] = np.column_stack([cols[idx] + 0.5, rows[idx] + 0.5]).astype(np.float64)
    return out


def _global_top_pixel(mask: NDArray[np.bool_]) -> NDArray[np.float64] | None:
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    return np.array([cols[0] + 0.5, rows[0] + 0.5])  # row-major: smallest row, then smallest column


def _draw_points(bone: _BoneMask, ctx: _LegContext, bone_label: int) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
    """Monte-Carlo samples ``x`` and ``y`` (each ``(B, K)``) and the number of draws they stand for.

    Draw ``r`` takes ``K = min(n_samples, |S|)`` distinct pixels with its own generator seeded by
    ``(seed, image_key, leg, bone, r)``. When ``|S| <= n_samples`` every draw is the whole set, so one
    draw is computed and stands for all ``n_draws``.
    """
    opts = ctx.opts
    n = bone.count
    k = min(opts.n_samples, n)
    px, py = bone.pixels_xy[:, 0], bone.pixels_xy[:, 1]
    if k == n:
        return px[None, :].copy(), py[None, :].copy(), opts.n_draws
    idx = np.empty((opts.n_draws, k), dtype=np.intp)
    for r in range(opts.n_draws):
        rng = np.random.Generator(np.random.PCG64([opts.seed, ctx.image_key, ctx.leg_index, bone_label, r]))
        idx[r] = rng.choice(n, size=k, replace=False, shuffle=False)
    return px[idx], py[idx], opts.n_draws
