"""Property tests: alignment is invariant to translating / uniformly scaling the image, and mirroring
swaps the sides while keeping the magnitudes (tolerances cover rasterisation and Monte-Carlo noise)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference.core.alignment import METRIC_NAMES, align_label_map
from inference.core.labelme_alignment import labelme_joints
from inference.core.leg_lengths import LENGTH_METRICS
from inference.core.legs import LegJoints
from inference.core.phantom import generate_phantom

ANGLES = [n for n in METRIC_NAMES if n != "MAD" and n not in LENGTH_METRICS]
SETTINGS = settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OPTS = dict(n_draws=20, n_samples=3000, seed=0)


@lru_cache(maxsize=None)
def _base():
    ph = generate_phantom(seed=21, legs=1)
    (leg,) = labelme_joints(ph.labelme, width=ph.label_map.shape[1])
    res = align_label_map(ph.label_map, [leg], **OPTS)
    return ph.label_map, leg.as_array(), res


def _values(res):
    (leg,) = res.legs
    return {n: leg.metrics[n].value for n in METRIC_NAMES}, leg


def _compare(a, b, *, tol_mc: float, tol_landmark: float, mad_scale: float = 1.0, mad_tol: float = 1e-6) -> None:
    va, leg_a = _values(a)
    vb, _ = _values(b)
    for n in ANGLES:
        method = leg_a.metrics[n].method
        tol = tol_mc if method == "monte_carlo" else tol_landmark
        assert abs(va[n] - vb[n]) <= tol, (n, va[n], vb[n])
    assert abs(va["MAD"] * mad_scale - vb["MAD"]) <= mad_tol * max(1.0, mad_scale), (va["MAD"], vb["MAD"])
    for n in LENGTH_METRICS:  # lengths in px scale with the image; the apex row moves by under a pixel
        assert abs(va[n] * mad_scale - vb[n]) <= 2.0 * max(1.0, mad_scale), (n, va[n], vb[n])


@SETTINGS
@given(dx=st.integers(-40, 40), dy=st.integers(-30, 30))
def test_translation_invariance(dx: int, dy: int) -> None:
    lm, joints, ref = _base()
    pad = 50
    big = np.zeros((lm.shape[0] + 2 * pad, lm.shape[1] + 2 * pad), np.uint8)
    big[pad + dy : pad + dy + lm.shape[0], pad + dx : pad + dx + lm.shape[1]] = lm
    moved = LegJoints.from_array(joints + [pad + dx, pad + dy])
    res = align_label_map(big, [moved], **OPTS)
    # An integer shift moves every pixel and joint exactly: the same draws, the same numbers.
    _compare(ref, res, tol_mc=1e-6, tol_landmark=1e-6)
    (leg,) = res.legs
    assert leg.anatomical_side == ref.legs[0].anatomical_side


@SETTINGS
@given(extra=st.integers(0, 60))
def test_mirroring_swaps_sides_and_keeps_magnitudes(extra: int) -> None:
    lm, joints, ref = _base()
    w = lm.shape[1] + extra
    wide = np.zeros((lm.shape[0], w), np.uint8)
    wide[:, : lm.shape[1]] = lm
    mirrored = wide[:, ::-1]
    mj = joints.copy()
    mj[:, 0] = w - mj[:, 0]
    res = align_label_map(mirrored, [LegJoints.from_array(mj)], **OPTS)
    _compare(ref, res, tol_mc=0.8, tol_landmark=0.3)  # other draws; RANSAC sees the points reversed
    (a,), (b,) = ref.legs, res.legs
    assert {a.anatomical_side, b.anatomical_side} == {"left", "right"}
    assert a.medial_sign == -b.medial_sign


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scale=st.sampled_from([2, 3]))
def test_uniform_scaling_invariance(scale: int) -> None:
    lm, joints, ref = _base()
    big = np.kron(lm, np.ones((scale, scale), np.uint8))
    res = align_label_map(big, [LegJoints.from_array(joints * scale)], **OPTS)
    # Pixel centres scale exactly; the finer raster changes boundary sampling and the draws.
    _compare(ref, res, tol_mc=1.5, tol_landmark=0.5, mad_scale=scale, mad_tol=1e-6)
