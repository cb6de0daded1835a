"""Mask helpers: largest component, sub-pixel outline, row-centroid axes and the axis frame.

Outlines are the iso-line 0.5 of the binary mask (:func:`skimage.measure.find_contours`), i.e. the
outline that was rasterised, as ``(N, 2)`` image ``(x, y)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi
from skimage.measure import find_contours

_EIGHT = ndi.generate_binary_structure(2, 2)


def _largest_component(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    labels, n = ndi.label(mask, structure=_EIGHT)
    if n <= 1:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def _outline_xy(mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Sub-pixel outer outline (iso-line 0.5) of a binary mask as ``(N, 2)`` image ``(x, y)``."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return np.zeros((0, 2))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    sub = np.pad(mask[r0:r1, c0:c1], 1).astype(np.float32)
    contours = find_contours(sub, 0.5)
    ring = max(contours, key=len)
    return np.column_stack([ring[:, 1] - 1 + c0 + 0.5, ring[:, 0] - 1 + r0 + 0.5])


def _row_axis(mask: NDArray[np.bool_], lo_frac: float, hi_frac: float) -> tuple[float, float, float] | None:
    """Least-squares ``x = k y + b`` through the row centroids between two height fractions.

    Returns ``(k, b, mean_row_width)`` or None.
    """
    rr, cc = np.nonzero(mask)
    if rr.size == 0:
        return None
    top, bot = rr.min(), rr.max()
    h = bot - top + 1
    lo, hi = top + lo_frac * h, top + hi_frac * h
    sel = (rr >= lo) & (rr <= hi)
    if sel.sum() == 0:
        return None
    r_sel, c_sel = rr[sel], cc[sel]
    uniq, inv, counts = np.unique(r_sel, return_inverse=True, return_counts=True)
    if uniq.size < 3:
        return None
    xc = np.bincount(inv, weights=c_sel + 0.5) / counts
    yc = uniq + 0.5
    k, b = np.polyfit(yc, xc, 1)
    return float(k), float(b), float(counts.mean())


def _frame(k: float, medial_sign: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Unit axis ``u`` (pointing distally) and unit ``v`` (pointing medially) of ``x = k y + b``."""
    u = np.array([k, 1.0]) / np.hypot(k, 1.0)
    v = np.array([u[1], -u[0]]) * medial_sign
    return u, v
