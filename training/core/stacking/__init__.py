"""Logistic stacking of segmentation members, fitted on vote-pattern counts (§3.3, §3.5, §3.6, §7).

The reduction
-------------
The stacker of bone ``c`` sees, per pixel, the K binary votes ``x_k = [pred_k == c]`` and the target
``y = [truth == c]``. The features take at most ``2**K`` distinct values, so all training pixels
reduce **exactly** to at most ``2**(K+1)`` weighted rows: one per (vote pattern, label) pair, with
the pixel count as ``sample_weight``. scikit-learn's L2-penalised logistic loss is

    (1 / S) * sum_i s_i * log(1 + exp(-y'_i (beta_0 + x_i . beta))) + ||beta||^2 / (2 * C * S),

with ``S = sum_i s_i`` (``s_i = 1`` for a per-pixel fit), so the weighted fit has the same
objective, the same optimum and the same stopping scale as the full-pixel fit. Coefficients agree to
solver tolerance (tested) while the fit costs microseconds instead of minutes.

Counts layout
-------------
``counts[i, y]`` is the number of pixels with vote pattern ``i`` (``sum_k 2**k * x_k``, member order
= coefficient order) and label ``y`` (0 negative, 1 positive). Per image, both bones are kept as a
``(2, 2**K, 2)`` array (index 0 femur, 1 tibia). Counts add over images.

Nested scheme ([C] ``logisticsStackingForMany``)
-------------------------------------------------
Per fold ``f``: assign each out-of-fold image a part ``p`` in ``0..P-1``; for each part fit a
stacker on the other parts' images and evaluate it on part ``p``'s images (held out). With F = P = 4
that is 16 stackers per bone and 16 pooled IOUs per method, the cells of Table II.

Modules
-------
* :mod:`~training.core.stacking.counts`: vote-pattern counts per bone, image and fold.
* :mod:`~training.core.stacking.stacker`: the fit (:func:`fit_stacker`) of a :class:`Stacker`, whose record and
  JSON format live in :mod:`inference.core.stacker` (the predicting ensemble reads them).
* :mod:`~training.core.stacking.nested`: :func:`assign_parts` and the F x P stackers (:class:`NestedStackers`).
* :mod:`~training.core.stacking.held_out`: held-out IOUs of every method (:func:`evaluate_held_out`).
"""

from __future__ import annotations

from training.core.stacking.counts import fold_pattern_counts, image_pattern_counts, vote_pattern_counts
from training.core.stacking.held_out import HeldOutEvaluation, evaluate_held_out, method_tables, pooled_iou_from_counts
from training.core.stacking.nested import (
    NestedStackers,
    assign_parts,
    fit_nested_stackers,
    fit_nested_stackers_from_counts,
)
from inference.core.stacker import STACKER_FORMAT_VERSION, Stacker
from training.core.stacking.stacker import fit_stacker, iou_threshold

__all__ = [
    "STACKER_FORMAT_VERSION",
    "HeldOutEvaluation",
    "NestedStackers",
    "Stacker",
    "assign_parts",
    "evaluate_held_out",
    "fit_nested_stackers",
    "fit_nested_stackers_from_counts",
    "fit_stacker",
    "fold_pattern_counts",
    "image_pattern_counts",
    "iou_threshold",
    "method_tables",
    "pooled_iou_from_counts",
    "vote_pattern_counts",
]
