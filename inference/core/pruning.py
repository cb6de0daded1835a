"""Pruning the segmentation with the ensemble key points (§4, [C] ``pruningSeg``).

Per leg, femur and tibia pixels outside a row band spanned by that leg's joints become background:

* keep tibia where ``knee_y - m_t0 * L_t < y < ankle_y + m_t1 * L_t`` with ``L_t = |knee - ankle|``;
* keep femur where ``hip_y - m_f0 * L_f < y < knee_y + m_f1 * L_f`` with ``L_f = |hip - knee|``;

defaults ``m_t0 = m_t1 = 0.08``, ``m_f0 = 0.10`` (keeps the femoral head above its centre) and
``m_f1 = 0.08``. The inequalities are strict. Only rows are tested.

Which pixel is tested
---------------------
Default ([D]): a pixel ``[row, col]`` is tested at its centre ``y = row + 0.5`` against the float
bounds (the convention of :mod:`inference.core.legs`). ``reference_mode`` reproduces [C]: the
bounds are truncated to int and compared with the row index, ``int(lo) < row < int(hi)``.

Leg split
---------
Column ``col`` belongs to the image-left leg iff its centre ``col + 0.5 < x_mid`` (a centre exactly
at ``x_mid`` goes right). With ``x_mid = W / 2`` this is [C]'s rule ``col < floor(W / 2)``.
Default ``x_mid`` is the key-point ensemble's; ``reference_mode`` forces ``W / 2``. A single leg
(side view) covers every column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from inference.core.legs import BACKGROUND, FEMUR, TIBIA, LegJoints

_EIGHT = np.ones((3, 3), dtype=bool)


def leg_columns(width: int, x_mid: float | None, image_side: str | None) -> NDArray[np.bool_]:
    """Boolean ``(W,)`` mask of the columns of one leg.

    Parameters
    ----------
    width : int
        Image width W.
    x_mid : float or None
        Leg boundary in image x. None: the leg owns every column.
    image_side : {"left", "right"} or None
        Which side of ``x_mid``; required when ``x_mid`` is given.

    Returns
    -------
    (W,) bool array
        ``col + 0.5 < x_mid`` for the left leg, ``col + 0.5 >= x_mid`` for the right leg.
    """
    centres = np.arange(width, dtype=np.float64) + 0.5
    if x_mid is None:
        return np.ones(width, dtype=bool)
    if image_side == "left":
        return centres < x_mid
    if image_side == "right":
        return centres >= x_mid
    raise ValueError(f"image_side must be 'left' or 'right' when x_mid is given, got {image_side!r}")


@dataclass(frozen=True)
class LegBands:
    """The row bands used for one leg (image y, exclusive bounds)."""

    image_side: str | None
    femur_band_y: tuple[float, float]
    tibia_band_y: tuple[float, float]


@dataclass(frozen=True)
class PruningResult:
    """Output of :func:`prune_label_map`.

    Attributes
    ----------
    labels : (H, W) uint8 array
        Pruned label map.
    bands : tuple of LegBands
        Bands applied, one per pruned leg.
    x_mid : float or None
        Leg boundary used (None: one leg over the whole width).
    flags : tuple of str
    """

    labels: NDArray[np.uint8]
    bands: tuple[LegBands, ...]
    x_mid: float | None
    flags: tuple[str, ...]


def _check_label_map(label_map: ArrayLike) -> NDArray[np.uint8]:
    labels = np.asarray(label_map)
    if labels.ndim != 2:
        raise ValueError(f"label_map must be (H, W), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"label_map must hold integer labels, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() > TIBIA):
        raise ValueError("label_map values must be 0 (background), 1 (femur) or 2 (tibia)")
    return labels.astype(np.uint8, copy=True)


def _keep_rows(
    height: int, lo: float, hi: float, *, reference_mode: bool
) -> NDArray[np.bool_]:
    rows = np.arange(height)
    if reference_mode:
        return (rows > np.trunc(lo)) & (rows < np.trunc(hi))
    centres = rows + 0.5
    return (centres > lo) & (centres < hi)


def _cleanup_bone(
    labels_leg: NDArray[np.uint8],
    bone: int,
    *,
    min_component_frac: float,
    max_hole_frac: float,
) -> None:
    """In-place on a leg's column slice: drop small components, fill small background holes."""
    mask = labels_leg == bone
    if not mask.any():
        return
    components, n = ndimage.label(mask, structure=_EIGHT)
    if n > 1:
        sizes = np.bincount(components.ravel())[1:]
        keep = np.concatenate([[False], sizes >= min_component_frac * sizes.max()])
        keep[1 + int(np.argmax(sizes))] = True
        drop = mask & ~keep[components]
        labels_leg[drop] = BACKGROUND
        mask &= ~drop
    area = int(mask.sum())
    holes = ndimage.binary_fill_holes(mask) & ~mask & (labels_leg == BACKGROUND)
    if holes.any():
        # Background holes are 4-connected (the dual of the 8-connected foreground).
        hole_lab, n_holes = ndimage.label(holes)
        hole_sizes = np.bincount(hole_lab.ravel())[1:]
        small = np.concatenate([[False], hole_sizes < max_hole_frac * area])
        labels_leg[small[hole_lab]] = bone


def prune_label_map(
    label_map: ArrayLike,
    legs: Sequence[LegJoints | None],
    *,
    x_mid: float | None = None,
    tibia_margins: tuple[float, float] = (0.08, 0.08),
    femur_margins: tuple[float, float] = (0.10, 0.08),
    cleanup: bool | None = None,
    min_component_frac: float = 0.05,
    max_hole_frac: float = 0.01,
    reference_mode: bool = False,
) -> PruningResult:
    """Prune femur and tibia pixels outside each leg's joint bands (§4).

    Parameters
    ----------
    label_map : (H, W) integer array
        Stacked label map (0/1/2).
    legs : sequence of LegJoints or None
        The *prior* ensemble joints (before the knee update). With two legs each needs
        ``image_side``; a missing leg (None, or any non-finite joint) is left unchanged.
    x_mid : float, optional
        Leg boundary in image x (from the key-point ensemble). None with two legs: ``W / 2``
        (flag ``x_mid_defaulted_half_width``). Ignored in ``reference_mode`` (always ``W / 2``).
    tibia_margins : (float, float)
        Fractions of ``L_t`` above the knee and below the ankle.
    femur_margins : (float, float)
        Fractions of ``L_f`` above the hip and below the knee.
    cleanup : bool, optional
        Per leg and bone keep the largest 8-connected component and every component of at least
        ``min_component_frac`` of it, then fill background holes smaller than ``max_hole_frac`` of
        the bone area. Default: on, except in ``reference_mode``.
    min_component_frac, max_hole_frac : float
        Cleanup thresholds (5 % and 1 %).
    reference_mode : bool
        Reproduce [C]: split at ``W / 2``, truncated bounds against row indices, no cleanup, and an
        **empty** label map when a leg of a two-leg image lacks a joint.

    Returns
    -------
    PruningResult
    """
    labels = _check_label_map(label_map)
    height, width = labels.shape
    leg_list = list(legs)
    if not leg_list:
        raise ValueError("legs must hold at least one leg")
    if len(leg_list) > 2:
        raise ValueError(f"at most two legs per image, got {len(leg_list)}")
    if cleanup is None:
        cleanup = not reference_mode
    flags: list[str] = []

    def complete(leg: LegJoints | None) -> bool:
        return leg is not None and bool(np.all(np.isfinite(leg.as_array())))

    two_legs = len(leg_list) == 2
    if reference_mode and two_legs and not all(complete(leg) for leg in leg_list):
        return PruningResult(np.zeros_like(labels), (), width / 2.0, ("missing_joint_empty_mask",))
    if two_legs or (len(leg_list) == 1 and x_mid is not None):
        if reference_mode:
            x_mid = width / 2.0
        elif x_mid is None:
            x_mid = width / 2.0
            flags.append("x_mid_defaulted_half_width")
    else:
        x_mid = None
    if two_legs:
        sides = [leg.image_side for leg in leg_list if leg is not None]
        if len(set(sides)) != len(sides) or any(s not in ("left", "right") for s in sides):
            raise ValueError(f"two legs need distinct image_side 'left'/'right', got {sides}")

    bands: list[LegBands] = []
    for leg in leg_list:
        if leg is None:
            flags.append("leg_missing_not_pruned")
            continue
        if not complete(leg):
            flags.append(f"leg_{leg.image_side}_incomplete_not_pruned")
            continue
        cols = leg_columns(width, x_mid, leg.image_side if x_mid is not None else None)
        hip, knee, ankle = leg.as_array()
        length_t = float(np.hypot(*(knee - ankle)))
        length_f = float(np.hypot(*(hip - knee)))
        tibia_band = (knee[1] - tibia_margins[0] * length_t, ankle[1] + tibia_margins[1] * length_t)
        femur_band = (hip[1] - femur_margins[0] * length_f, knee[1] + femur_margins[1] * length_f)
        bands.append(LegBands(leg.image_side, (float(femur_band[0]), float(femur_band[1])),
                              (float(tibia_band[0]), float(tibia_band[1]))))
        sub = labels[:, cols]  # advanced indexing: a copy, written back below
        for bone, band in ((TIBIA, tibia_band), (FEMUR, femur_band)):
            outside_rows = ~_keep_rows(height, band[0], band[1], reference_mode=reference_mode)
            sub[outside_rows[:, None] & (sub == bone)] = BACKGROUND
        if cleanup:
            for bone in (FEMUR, TIBIA):
                _cleanup_bone(sub, bone, min_component_frac=min_component_frac,
                              max_hole_frac=max_hole_frac)
        labels[:, cols] = sub
    return PruningResult(labels, tuple(bands), x_mid, tuple(flags))
