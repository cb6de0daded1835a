"""Eq. 3 key-point member weights fitted during training from the out-of-fold joints."""

from __future__ import annotations

import numpy as np

from training.core.datasets import TrainingSample
from training.ensemble_training import _evaluate_keypoints, _fit_keypoint_weights


def _samples(n: int, rng: np.random.Generator) -> list[TrainingSample]:
    blank = np.zeros((64, 16), dtype=np.uint8)
    out = []
    for i in range(n):
        joints = np.array([[[8.0, 5.0], [8.0, 30.0], [8.0, 60.0]]]) + rng.normal(0, 1, (1, 3, 2))
        out.append(TrainingSample(f"s{i}", blank, blank, joints, group=f"p{i}"))
    return out


def test_weights_favour_the_accurate_member_and_lower_the_ensemble_error():
    rng = np.random.default_rng(0)
    samples = _samples(24, rng)
    folds = [list(range(0, 12)), list(range(12, 24))]
    # Member 0 is accurate (0.5 px noise), member 1 is biased (+6 px in x) and noisy.
    oof = [[[s.joints_xy + rng.normal(0, 0.5, (1, 3, 2)), s.joints_xy + [6.0, 0.0] + rng.normal(0, 3, (1, 3, 2))]
            for s in (samples[i] for i in fold)] for fold in folds]

    weights = _fit_keypoint_weights(samples, folds, oof, n_members=2)

    assert weights is not None and weights.shape == (2,)
    assert np.isclose(weights.sum(), 1.0) and weights[0] > 0.9
    weighted = _evaluate_keypoints(samples, folds, oof, ["good", "biased"], weights)
    equal = _evaluate_keypoints(samples, folds, oof, ["good", "biased"], None)
    assert weighted["ensemble"]["ned_median"] < equal["ensemble"]["ned_median"]


def test_no_weights_for_one_member_or_too_few_images():
    rng = np.random.default_rng(1)
    samples = _samples(6, rng)
    folds = [[0, 1, 2], [3, 4, 5]]
    oof = [[[samples[i].joints_xy, samples[i].joints_xy] for i in fold] for fold in folds]
    assert _fit_keypoint_weights(samples, folds, oof, n_members=2) is None  # fewer than 8 images
    assert _fit_keypoint_weights(samples, folds, [[[o[0]] for o in f] for f in oof], n_members=1) is None
