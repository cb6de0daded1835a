"""How many legs a label map holds and where they split (step 0 of the derivation)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from inference.core.legs import FEMUR, TIBIA


def split_legs(
    label_map: NDArray[np.integer],
    *,
    n_legs: int | None = None,
    x_mid: float | None = None,
    min_leg_fraction: float = 0.1,
) -> tuple[int, float | None, str]:
    """Decide how many legs a label map holds and where they split.

    Parameters
    ----------
    label_map : (H, W) integer ndarray
        0 background, 1 femur, 2 tibia.
    n_legs : {1, 2}, optional
        Force the number of legs.
    x_mid : float, optional
        Force the boundary (image x); with ``n_legs`` None, two legs when both sides hold at least
        ``min_leg_fraction`` of the bone pixels.
    min_leg_fraction : float
        Smallest share of the bone pixels a leg must hold.

    Returns
    -------
    (n_legs, x_mid, source)
        ``x_mid`` None for one leg; ``source`` in ``{"given", "gap", "two_means", "single"}``;
        ``n_legs`` is 0 for a label map without bone (unless forced).
    """
    lm = np.asarray(label_map)
    if lm.ndim != 2:
        raise ValueError(f"label_map must be 2-D, got shape {lm.shape}")
    if n_legs not in (None, 1, 2):
        raise ValueError(f"n_legs must be 1, 2 or None, got {n_legs}")
    bone = (lm == FEMUR) | (lm == TIBIA)
    col_counts = bone.sum(axis=0).astype(np.float64)
    total = col_counts.sum()
    centres = np.arange(lm.shape[1]) + 0.5
    if total == 0:
        if n_legs == 2:
            return (
                2,
                float(x_mid) if x_mid is not None else lm.shape[1] / 2.0,
                "given" if x_mid is not None else "two_means",
            )
        return (n_legs or 0), None, "single"
    if n_legs == 1:
        return 1, None, "single"
    if x_mid is not None:
        left_share = col_counts[centres < x_mid].sum() / total
        if n_legs == 2 or min(left_share, 1 - left_share) >= min_leg_fraction:
            return 2, float(x_mid), "given"
        return 1, None, "single"
    occupied = np.flatnonzero(col_counts > 0)
    first, last = occupied[0], occupied[-1]
    empty = col_counts[first : last + 1] == 0
    best: tuple[int, float] | None = None
    if empty.any():
        padded = np.concatenate([[0], empty.astype(np.int8), [0]])
        starts = np.flatnonzero(np.diff(padded) == 1)
        ends = np.flatnonzero(np.diff(padded) == -1)
        cum = np.cumsum(col_counts[first : last + 1])
        for s, e in sorted(zip(starts, ends, strict=True), key=lambda t: -(t[1] - t[0])):
            left_share = cum[s - 1] / total if s > 0 else 0.0
            if min(left_share, 1 - left_share) >= min_leg_fraction:
                best = (int(e - s), float(first + 0.5 * (s + e)))
                break
    if best is not None:
        return 2, best[1], "gap"
    if n_legs == 2:
        # Weighted exact 2-means on the column histogram.
        w, x = col_counts[occupied], centres[occupied]
        cw, cwx, cwx2 = np.cumsum(w), np.cumsum(w * x), np.cumsum(w * x * x)
        i = np.arange(1, x.size)
        if i.size == 0:
            return 2, float(x[0]), "two_means"
        sse_lo = cwx2[i - 1] - cwx[i - 1] ** 2 / cw[i - 1]
        w_hi = cw[-1] - cw[i - 1]
        sse_hi = (cwx2[-1] - cwx2[i - 1]) - (cwx[-1] - cwx[i - 1]) ** 2 / w_hi
        j = int(i[np.argmin(sse_lo + sse_hi)])
        m_lo = cwx[j - 1] / cw[j - 1]
        m_hi = (cwx[-1] - cwx[j - 1]) / (cw[-1] - cw[j - 1])
        return 2, float(0.5 * (m_lo + m_hi)), "two_means"
    return 1, None, "single"
