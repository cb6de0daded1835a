"""The radiograph of a phantom: soft tissue, pelvis, bones, image-only structures and noise."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from inference.core.phantom.leg_build import _LegBuild
from inference.core.phantom.params import PhantomParams
from inference.core.phantom.primitives import _Grid, _grid_sdf


def _render(
    builds: Sequence[_LegBuild],
    grids: Sequence[tuple[_Grid, _Grid]],
    params: PhantomParams,
    width: int,
    height: int,
    rng: np.random.Generator,
    low_snr: bool,
    s: float,
) -> NDArray[np.uint8]:
    # Soft tissue on a 4x coarser grid (smooth anyway).
    f = 4
    xs = (np.arange(0, width, f) + f / 2).astype(float)
    ys = (np.arange(0, height, f) + f / 2).astype(float)
    xg, yg = np.meshgrid(xs, ys)
    tissue = np.zeros_like(xg)
    for b in builds:
        r_hip, r_knee, r_calf, r_ank = 80 * s, 55 * s, 58 * s, 32 * s
        segs = [(b.hip + np.array([0.0, -60 * s]), b.knee, r_hip, r_knee), (b.knee, b.ankle, r_calf, r_ank), (b.ankle, b.ankle + np.array([0, 80 * s]), r_ank, r_ank)]
        for a, c, ra, rc in segs:
            d = c - a
            t = np.clip(((xg - a[0]) * d[0] + (yg - a[1]) * d[1]) / float(d @ d), 0, 1)
            dist = np.hypot(xg - (a[0] + t * d[0]), yg - (a[1] + t * d[1])) - (ra + t * (rc - ra))
            tissue = np.maximum(tissue, 1.0 / (1.0 + np.exp(dist / (4 * s))))
    # Pelvis: a broad band above the hips plus acetabular rims.
    pelvis = np.zeros_like(xg)
    hip_y = float(np.mean([b.hip[1] for b in builds]))
    for b in builds:
        d_rim = np.abs(np.hypot(xg - b.hip[0], yg - b.hip[1]) - 1.25 * float(np.linalg.norm(b.knee - b.hip)) * 0.055)
        pelvis += 0.6 * np.exp(-(d_rim / (3 * s)) ** 2) * (yg < b.hip[1] + 10 * s)
        wing = np.hypot((xg - b.hip[0] + 0.3 * b.medial_sign * 60 * s) / (70 * s), (yg - hip_y + 70 * s) / (55 * s))
        pelvis += 0.5 / (1 + np.exp((wing - 1.0) * 12))
    low = 25.0 + 55.0 * tissue + 35.0 * np.clip(pelvis, 0, 1.2)
    img = np.kron(low, np.ones((f, f)))[:height, :width]
    contrast = params.bone_contrast * (0.45 if low_snr else 1.0)
    tau = 3.0 * s
    for b, (gf, gt) in zip(builds, grids):
        for g in (gf, gt):
            alpha = np.clip(0.5 - g.sdf, 0.0, 1.0)
            val = alpha * (55.0 + 60.0 * np.exp(np.minimum(g.sdf, 0.0) / tau)) * contrast
            img[g.y0 : g.y0 + g.sdf.shape[0], g.x0 : g.x0 + g.sdf.shape[1]] += val
        for prim, weight in b.extra_prims:
            ge = _grid_sdf([prim], width, height, pad=2)
            if ge is None:
                continue
            alpha = np.clip(0.5 - ge.sdf, 0.0, 1.0)
            val = alpha * weight * (45.0 + 40.0 * np.exp(np.minimum(ge.sdf, 0.0) / tau)) * contrast
            img[ge.y0 : ge.y0 + ge.sdf.shape[0], ge.x0 : ge.x0 + ge.sdf.shape[1]] += val
    img = ndimage.gaussian_filter(img, 1.2 if not low_snr else 2.0)
    rows = (np.arange(height) / height - 0.5)[:, None]
    img = img * (1.0 + params.heel_effect * rows)
    sd = params.noise_sd * (4.0 if low_snr else 1.0)
    img = img + rng.normal(0.0, sd, img.shape) + rng.poisson(np.clip(img, 0, None) / 8.0) * 0.5 - np.clip(img, 0, None) / 16.0
    return np.clip(np.round(img), 0, 255).astype(np.uint8)
