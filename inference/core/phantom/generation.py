"""One phantom: legs placed in the image, built, rasterised and rendered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inference.core.labelme_alignment import rasterize_polygons
from inference.core.legs import FEMUR, TIBIA
from inference.core.phantom.documents import _labelme, _truth_document
from inference.core.phantom.leg_build import _build_leg, _BuildError, _LegBuild
from inference.core.phantom.params import _SIZES, PhantomParams
from inference.core.phantom.primitives import _Grid, _grid_sdf, _polygon_from_grid
from inference.core.phantom.random_params import random_phantom_params
from inference.core.phantom.rendering import _render


@dataclass(frozen=True, eq=False)
class Phantom:
    """A synthetic radiograph: ``image`` (H, W) uint8, its LabelMe document, truth and label map."""

    image: NDArray[np.uint8]
    labelme: dict[str, Any]
    truth: dict[str, Any]
    label_map: NDArray[np.uint8]
    params: PhantomParams
    pixel_spacing_mm: float
    stem: str
    polygons_xy: tuple[tuple[NDArray[np.float64], NDArray[np.float64]], ...]


def _place_hips(params: PhantomParams, width: int, height: int) -> tuple[float, list[NDArray]]:
    """Pixel scale and hip centres so that the longest leg fits between the margins."""
    hip_y = params.hip_row_frac * height
    bottom = height - 0.025 * height
    extents = []
    for lp in params.legs:
        # Vertical extent hip -> malleolus tip (mm), generous for tilted axes.
        ext = lp.femur_length_mm + lp.tibia_length_mm + 0.3 * lp.plafond_width_frac * 80.0 + 10.0
        extents.append(ext)
    s = (bottom - hip_y) / max(extents)
    hips = []
    n = len(params.legs)
    for i, lp in enumerate(params.legs):
        if n == 2:
            sign = -1.0 if i == 0 else 1.0
            x = width / 2 + sign * params.hip_half_separation_mm * s + params.horizontal_shift_px
        else:
            m = 1.0 if lp.anatomical_side == "right" else -1.0
            # Centre the leg: the hip sits laterally of the knee/ankle line.
            x = width / 2 - m * 0.06 * lp.femur_length_mm * s + params.horizontal_shift_px
        hips.append(np.array([x, hip_y]))
    return s, hips


def _leg_medial_sign(params: PhantomParams, i: int) -> int:
    if len(params.legs) == 2:
        return 1 if i == 0 else -1
    return 1 if params.legs[i].anatomical_side == "right" else -1


def _check_separation(label_map: NDArray[np.uint8], builds: Sequence[_LegBuild]) -> bool:
    if len(builds) < 2:
        return True
    x_mid = 0.5 * (np.mean([builds[0].hip[0], builds[0].knee[0], builds[0].ankle[0]]) + np.mean([builds[1].hip[0], builds[1].knee[0], builds[1].ankle[0]]))
    cols = np.flatnonzero(label_map.any(axis=0)) + 0.5
    # Bone must not come within 3 px of the split, and no column near it may hold bone.
    return not np.any(np.abs(cols - x_mid) < 3.0)


def _try_build(params: PhantomParams, width: int, height: int) -> tuple[float, list[_LegBuild], list[tuple[_Grid, _Grid]], list[tuple[NDArray, NDArray]], NDArray[np.uint8]]:
    s, hips = _place_hips(params, width, height)
    builds, grids, polys = [], [], []
    for i, lp in enumerate(params.legs):
        b = _build_leg(lp, hips[i], _leg_medial_sign(params, i), s, width, height)
        gf = _grid_sdf(b.femur_prims, width, height)
        gt = _grid_sdf(b.tibia_prims, width, height)
        if gf is None or gt is None:
            raise _BuildError("bone leaves the image")
        pf, pt = _polygon_from_grid(gf), _polygon_from_grid(gt)
        if pf is None or pt is None:
            raise _BuildError("bone outline is not a single closed contour")
        builds.append(b)
        grids.append((gf, gt))
        polys.append((pf, pt))
    ordered = [(pf, FEMUR) for pf, _ in polys] + [(pt, TIBIA) for _, pt in polys]
    label_map = rasterize_polygons(ordered, height=height, width=width)
    if not _check_separation(label_map, builds):
        raise _BuildError("legs overlap the leg split")
    for b in builds:
        if not (0 < b.ankle[1] < height and 0 < b.knee[1] < b.ankle[1]):
            raise _BuildError("joints outside the image")
    return s, builds, grids, polys, label_map


def generate_phantom(
    *, seed: int, legs: int, params: PhantomParams | None = None, low_snr: bool = False, stem: str | None = None
) -> Phantom:
    """Generate one synthetic AP long-leg radiograph with LabelMe truth.

    Parameters
    ----------
    seed : int
        Seeds the random parameters (when ``params`` is None) and the image noise.
    legs : {1, 2}
        1: a single leg on a 512 x 1024 image; 2: both legs on 1024 x 2048.
    params : PhantomParams, optional
        Explicit construction; ``len(params.legs)`` must equal ``legs``.
    low_snr : bool
        Low-contrast, noisy, blurrier image (the geometry and truth are unchanged).
    stem : str, optional
        File stem used in ``imagePath`` (default ``phantom_<seed>``).

    Returns
    -------
    Phantom

    Raises
    ------
    ValueError
        Bad ``legs``, or explicit ``params`` that cannot be built inside the image.
    """
    if legs not in _SIZES:
        raise ValueError("legs must be 1 or 2")
    width, height = _SIZES[legs]
    rng = np.random.default_rng(seed)
    stem = stem or f"phantom_{seed}"
    if params is not None:
        if len(params.legs) != legs:
            raise ValueError(f"params describe {len(params.legs)} legs, expected {legs}")
        try:
            built = _try_build(params, width, height)
        except _BuildError as exc:
            raise ValueError(f"phantom parameters cannot be built: {exc}") from exc
    else:
        for _ in range(200):
            params = random_phantom_params(rng, legs=legs)
            try:
                built = _try_build(params, width, height)
                break
            except _BuildError:
                continue
        else:  # pragma: no cover - the ranges make this practically impossible
            raise RuntimeError("could not build a phantom in 200 attempts")
    s, builds, grids, polys, label_map = built
    image = _render(builds, grids, params, width, height, rng, low_snr, s)
    return Phantom(
        image=image,
        labelme=_labelme(stem, width, height, polys, builds),
        truth=_truth_document(builds, params, width, height, stem),
        label_map=label_map,
        params=params,
        pixel_spacing_mm=1.0 / s,
        stem=stem,
        polygons_xy=tuple(polys),
    )
