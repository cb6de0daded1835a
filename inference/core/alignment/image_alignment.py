"""Alignment of every leg of one image from its label map: :func:`align_label_map`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from inference.core.alignment.leg_alignment import _align_leg
from inference.core.alignment.records import AlignmentOptions, AlignmentResult, LegAlignment
from inference.core.alignment.sampling import (
    _global_top_pixel,
    _image_key,
    _leg_columns,
    _LegContext,
    _not_on_split,
    _reference_draws,
)
from inference.core.legs import FEMUR, TIBIA, ImageSide, LegJoints


def align_label_map(
    label_map: NDArray[np.integer],
    legs: Sequence[LegJoints],
    *,
    pixel_spacing_mm: float | None = None,
    image_name: str | None = None,
    image_id: int | str = 0,
    x_mid: float | None = None,
    seed: int = 0,
    n_draws: int = 100,
    n_samples: int = 5000,
    reference_mode: bool = False,
    upper_frac: float = 0.55,
    lower_start: float = 0.60,
    femur_lower_frac: float = 0.55,
    femur_upper_range: tuple[float, float] = (0.50, 0.80),
    neck_q0: float = 0.10,
    neck_dq: float = 0.025,
    neck_qmax: float = 0.45,
    shaft_fit: str = "pca",
    options: AlignmentOptions | None = None,
) -> AlignmentResult:
    """Derive the alignment metrics of every leg from a label map and the joints.

    Parameters
    ----------
    label_map : ndarray of int, shape (H, W)
        0 background, 1 femur, 2 tibia (any other value raises ``ValueError``).
    legs : sequence of LegJoints
        One or two legs (any order; the result is ordered image-left first). ``anatomical_side`` is
        used when given; ``variance_xy`` (3, 2), when given, adds joint uncertainty to the
        joint-based metrics.
    pixel_spacing_mm : float, optional
        Isotropic pixel spacing; MAD is then reported in mm.
    image_name : str, optional
        Stored as ``"image"`` in the JSON.
    image_id : int or str
        Part of every Monte-Carlo seed, so different images get independent draws.
    x_mid : float, optional
        Leg split for two legs (pixel centres with ``x < x_mid`` belong to the image-left leg,
        ``x > x_mid`` to the right one, ``x == x_mid`` to neither). Default: midpoint of the two
        legs' mean joint x.
    seed, n_draws, n_samples : int
        Monte-Carlo seed, number of draws and points per draw (spec: 100 x 5000).
    reference_mode : bool
        Reproduce the reference code's sampling and sets (see the module docstring).
    upper_frac, lower_start : float
        Tibia: proximal set ``d_T <= upper_frac`` quantile, distal set ``d_T > lower_start`` quantile.
    femur_lower_frac, femur_upper_range : float, (float, float)
        Femur: lower shaft ``d_N <= femur_lower_frac`` quantile, upper shaft inside the range.
    neck_q0, neck_dq, neck_qmax : float
        Growing-neck quantiles (fractions: 10%, 2.5%, 45%).
    shaft_fit : {"ols", "pca"}
        Shaft-line fit: ``"ols"`` regresses x on y (spec §5.4/5.5); ``"pca"`` is the total-least-squares
        line. ``reference_mode`` always uses OLS.
    options : AlignmentOptions, optional
        Full option record; when given it overrides every keyword above except the image metadata.

    Returns
    -------
    AlignmentResult

    Raises
    ------
    ValueError
        Bad label map, more than two legs, or bad options.
    """
    lm = np.asarray(label_map)
    if lm.ndim != 2 or lm.size == 0:
        raise ValueError(f"label_map must be a non-empty (H, W) array, got shape {lm.shape}")
    if not np.issubdtype(lm.dtype, np.integer) and lm.dtype != np.bool_:
        raise ValueError(f"label_map must hold integers, got {lm.dtype}")
    if lm.size and (lm.min() < 0 or lm.max() > TIBIA):
        raise ValueError("label_map values must be 0 (background), 1 (femur) or 2 (tibia)")
    if len(legs) > 2:
        raise ValueError(f"at most two legs are supported, got {len(legs)}")
    if pixel_spacing_mm is not None and not (pixel_spacing_mm > 0 and math.isfinite(pixel_spacing_mm)):
        raise ValueError("pixel_spacing_mm must be a positive finite number")
    opts = options or AlignmentOptions(
        seed=seed,
        n_draws=n_draws,
        n_samples=n_samples,
        reference_mode=reference_mode,
        upper_frac=upper_frac,
        lower_start=lower_start,
        femur_lower_frac=femur_lower_frac,
        femur_upper_range=tuple(femur_upper_range),  # type: ignore[arg-type]
        neck_q0=neck_q0,
        neck_dq=neck_dq,
        neck_qmax=neck_qmax,
        shaft_fit=shaft_fit,
    )
    height, width = lm.shape
    ordered = sorted(legs, key=lambda leg: float(leg.as_array()[:, 0].mean()))
    if len(ordered) == 2 and x_mid is None:
        x_mid = 0.5 * (float(ordered[0].as_array()[:, 0].mean()) + float(ordered[1].as_array()[:, 0].mean()))
    image_key = _image_key(image_id)

    # Per-bone pixel lists of the whole image (row-major), split by leg through column ranges.
    bone_masks = {FEMUR: lm == FEMUR, TIBIA: lm == TIBIA}
    reference_draws: dict[int, NDArray[np.float64]] = {}
    if opts.reference_mode:
        reference_draws = _reference_draws(bone_masks)

    out: list[LegAlignment] = []
    for leg_index, leg in enumerate(ordered):
        if len(ordered) == 2:
            image_side: ImageSide = "left" if leg_index == 0 else "right"
            col_lo, col_hi = _leg_columns(width, x_mid, image_side)  # type: ignore[arg-type]
        else:
            mean_x = float(leg.as_array()[:, 0].mean())
            image_side = leg.image_side or ("left" if mean_x < width / 2 else "right")
            col_lo, col_hi = 0, width
        ctx = _LegContext(
            leg_index=leg_index,
            n_legs=len(ordered),
            joints=leg,
            image_side=image_side,
            col_lo=col_lo,
            col_hi=col_hi,
            width=width,
            height=height,
            pixel_spacing_mm=pixel_spacing_mm,
            image_key=image_key,
            opts=opts,
        )
        ref = None
        if opts.reference_mode:
            ref = {
                bone: pts[(pts[:, 0] >= col_lo) & (pts[:, 0] < col_hi) & _not_on_split(pts[:, 0], x_mid, len(ordered))]
                for bone, pts in reference_draws.items()
            }
            ref["tibia_top"] = _global_top_pixel(bone_masks[TIBIA])  # type: ignore[index]
        out.append(_align_leg(ctx, bone_masks, ref))
    return AlignmentResult(
        image=image_name,
        width=int(width),
        height=int(height),
        pixel_spacing_mm=None if pixel_spacing_mm is None else float(pixel_spacing_mm),
        legs=tuple(out),
        x_mid=None if x_mid is None else float(x_mid),
        options=opts,
    )
