"""The fit of the logistic stacker of one bone on pattern counts (§3.5); the record it returns and its JSON format
are :class:`inference.core.stacker.Stacker`, which the predicting ensemble reads."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from inference.core.segmentation_ensemble import (
    BONE_NAMES,
    DEFAULT_MODEL_ORDER,
    bone_label,
    pattern_bits,
)
from inference.core.stacker import Stacker
from training.core.stacking.counts import _check_counts

logger = logging.getLogger(__name__)

def fit_stacker(
    counts: ArrayLike,
    *,
    bone: int | str,
    model_order: Sequence[str] | None = None,
    fold: int | None = None,
    part: int | None = None,
    C: float = 1.0,
    max_iter: int = 1000,
    tol: float = 1e-6,
    fit_intercept: bool = True,
    threshold: float | str = 0.5,
) -> Stacker:
    """Fit a logistic stacker on vote-pattern counts.

    Parameters
    ----------
    counts : (2**K, 2) int array
        Pixel counts per (pattern, label), e.g. from :func:`vote_pattern_counts`.
    bone : int or str
        Which bone the counts describe.
    model_order : sequence of K str, optional
        Member names; default :data:`DEFAULT_MODEL_ORDER` when K = 6, else ``member0..``.
    fold, part : int, optional
        Position in the nested scheme, stored with the stacker.
    C, max_iter, tol : float, int, float
        ``LogisticRegression`` settings; the defaults are [C]'s (L2, lbfgs, intercept).
    fit_intercept : bool
        True ([C]); False gives the no-intercept model written in [P].
    threshold : float or "iou"
        The decision probability: 0.5 ([P], [C]), or ``"iou"``: the cut-off on the fitted
        probabilities that maximises the pooled IOU of the training counts ([D], see
        :func:`iou_threshold`).

    Returns
    -------
    Stacker

    Raises
    ------
    ValueError
        If the counts hold only one class (nothing to fit).

    Notes
    -----
    Rows with zero count are dropped (weight 0 contributes nothing to the objective); the fit is
    ``LogisticRegression(C=C, solver="lbfgs", fit_intercept=True, max_iter=max_iter, tol=tol)``
    with ``sample_weight`` = counts, identical in objective to the per-pixel fit.
    """
    arr = _check_counts(counts)
    n_members = int(round(np.log2(arr.shape[0])))
    if model_order is None:
        model_order = (
            DEFAULT_MODEL_ORDER if n_members == len(DEFAULT_MODEL_ORDER) else
            tuple(f"member{k}" for k in range(n_members))
        )
    order = tuple(str(m) for m in model_order)
    if len(order) != n_members:
        raise ValueError(f"model_order has {len(order)} names for K = {n_members} members")
    n_negative, n_positive = int(arr[:, 0].sum()), int(arr[:, 1].sum())
    if n_negative == 0 or n_positive == 0:
        raise ValueError(
            f"cannot fit a {BONE_NAMES[bone_label(bone)]} stacker: the training pixels hold only "
            f"one class ({n_positive} positive, {n_negative} negative)"
        )
    bits = pattern_bits(n_members).astype(np.float64)
    pattern_idx, label = np.nonzero(arr)
    X = bits[pattern_idx]
    y = label.astype(np.int64)
    weight = arr[pattern_idx, label].astype(np.float64)
    model = LogisticRegression(
        C=C, solver="lbfgs", fit_intercept=fit_intercept, max_iter=max_iter, tol=tol
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y, sample_weight=weight)
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            logger.warning("stacker %s fold=%s part=%s: %s", bone, fold, part, w.message)
        else:
            warnings.warn(w.message, w.category, stacklevel=2)
    stacker = Stacker(
        bone=BONE_NAMES[bone_label(bone)],
        model_order=order,
        coefficients=tuple(float(c) for c in model.coef_[0]),
        intercept=float(np.ravel(model.intercept_)[0]) if fit_intercept else 0.0,
        fold=fold,
        part=part,
        n_train_pixels=n_negative + n_positive,
        n_train_positive=n_positive,
        C=float(C),
        max_iter=int(max_iter),
        tol=float(tol),
        fit_intercept=bool(fit_intercept),
        n_iter=int(np.max(model.n_iter_)),
    )
    chosen = iou_threshold(stacker.pattern_probabilities(), arr) if threshold == "iou" else float(threshold)
    return replace(stacker, threshold=chosen)


def iou_threshold(probabilities: ArrayLike, counts: ArrayLike) -> float:
    """The decision probability that maximises the pooled IOU of a pattern rule on ``counts`` ([D]).

    The paper labels a pixel positive when the stacker's probability exceeds 0.5, which maximises
    pixel accuracy; Table II reports IOU, where background pixels count for nothing. Taking the
    patterns in decreasing probability, the IOU-optimal positive set is the best prefix: a pattern
    is worth including iff its precision exceeds the IOU reached, which is below 0.5 for imperfect
    members. Patterns of equal probability go in together. The returned threshold lies halfway
    (in probability) between the last pattern taken and the first left out, so that
    ``probability > threshold`` reproduces the chosen set.

    Parameters
    ----------
    probabilities : (2**K,) array
        The stacker's probability of every vote pattern.
    counts : (2**K, 2) int array
        Training pixel counts per (pattern, label).
    """
    prob = np.asarray(probabilities, dtype=np.float64)
    arr = _check_counts(counts)
    levels = np.unique(prob)[::-1]  # distinct probabilities, highest first
    total_positive = float(arr[:, 1].sum())
    best_iou, best_k = -1.0, 1
    for k, level in enumerate(levels, start=1):
        chosen = prob >= level
        iou = float(arr[chosen, 1].sum()) / (float(arr[chosen, 0].sum()) + total_positive)
        if iou > best_iou:
            best_iou, best_k = iou, k
    lowest_taken = levels[best_k - 1]
    next_level = levels[best_k] if best_k < len(levels) else 0.0
    return float(np.clip((lowest_taken + next_level) / 2.0, 1e-12, 1.0 - 1e-12))
