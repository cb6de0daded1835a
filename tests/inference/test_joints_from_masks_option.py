"""The ``joints_from_masks`` ensemble option: a single leg's joints come from its pruned bone masks, and each
joint the masks cannot give is kept from the key points (with a flag)."""

from __future__ import annotations

import numpy as np

from inference.core.legs import LegJoints
from inference.core.phantom import generate_phantom
from inference.pipeline import _joints_from_masks


def test_joints_follow_the_masks_and_fall_back_to_the_key_points() -> None:
    phantom = generate_phantom(seed=12, legs=1)
    leg = phantom.truth["legs"][0]
    truth = np.array([leg["joints"][n] for n in ("hip", "knee", "ankle")], dtype=float)
    keypoints = LegJoints.from_array(truth + 15.0, anatomical_side=leg["anatomical_side"])

    (joints,), flags = _joints_from_masks(keypoints, phantom.label_map, leg["anatomical_side"])
    assert flags == ()
    assert np.linalg.norm(joints.as_array() - truth, axis=1).max() < 3.0  # the masks, not the shifted key points

    (kept,), flags = _joints_from_masks(keypoints, np.zeros_like(phantom.label_map), leg["anatomical_side"])
    np.testing.assert_allclose(kept.as_array(), keypoints.as_array())
    assert flags and "key points" in flags[0]
