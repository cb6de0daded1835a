"""Shared fixtures of the backend tests: phantom images with their legs' landmarks."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def phantom_landmark_samples() -> list:
    """A single-leg and a bilateral phantom as localiser samples (apex and plafond centre of each leg)."""
    from inference.backends.leg_localiser import LocaliserSample
    from inference.core.phantom import generate_phantom
    from training.core.leg_samples import phantom_leg_truths

    out = []
    for seed, legs in ((1, 1), (2, 2)):
        phantom = generate_phantom(seed=seed, legs=legs)
        out.append(LocaliserSample(phantom.stem, phantom.image, {
            t.anatomical_side: (t.apex_xy, t.ankle_xy) for t in phantom_leg_truths(phantom)}))
    return out
