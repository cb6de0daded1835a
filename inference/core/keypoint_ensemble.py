"""Key-point ensemble: joint assignment, robust averaging and spread (§2.2–§2.6).

Input is one array per member (a key-point model, or a (fold, model) pair: any number of members
works), each ``(n_legs_k, 3, 2)`` in image ``(x, y)`` pixels (conventions in
:mod:`inference.core.legs`). A member may give 0, 1, 2 or more legs.

Default method ([D], §2.4, "robust mean")
-----------------------------------------
1. **Leg split** (front view). ``x_mid`` is the midpoint of the two detector boxes' centres when
   exactly two boxes are given; otherwise the decision boundary of an exact 1-D 2-means on the x of
   all pooled points (accepted when each cluster holds at least 3 points and the cluster means are
   at least ``min_leg_separation_frac * W`` apart); otherwise ``W / 2``. A member's leg goes to the
   image-left leg iff its mean x is ``< x_mid``. If a member puts two legs on one side, the one with
   the higher mean score (the first when no scores are given) is kept. Side view: one leg.
2. **Joint naming.** Per leg, each member's three points are sorted by y: hip < knee < ankle
   (upright images). A member whose own index order differs from the y order is flagged.
3. **Outliers.** Per joint, ``m`` = component-wise median over members, ``d_k = |p_k - m|``,
   ``MAD_r = median_k d_k``; drop ``p_k`` if ``d_k > max(3 * 1.4826 * MAD_r, tau_min)`` with
   ``tau_min = 1 %`` of the image height. If fewer than 2 points survive, keep all.
4. **Average.** ``sum_k w_k p_k / sum_k w_k`` over the survivors; default equal weights (Eq. 2 of
   [P]); :func:`fit_member_weights_nnls` fits Eq. 3 weights on out-of-fold predictions.
5. **Spread.** Per joint and axis, the sample variance (ddof = 1) of the survivors, floored at
   1 px² (the floor is also used when a single point survives, flagged).

Reference method (``reference_mode=True``, [C], §2.3)
------------------------------------------------------
All points are pooled; K-means (``random_state=42``, ``n_init="auto"``) is fitted for k = 1..6 and
the k with the smallest inertia kept (in practice 6); the centres are named by the product rule
(left hip = argmin x·y, right ankle = argmax x·y, right hip = argmin (W−x)·y, left ankle =
argmax (W−x)·y, the remaining two are knees, smaller x = left). Each joint is its cluster centre.
Failure of the naming (the case where [C] crashes) raises :class:`ValueError`. Coordinates are kept
as floats ([C] truncates them to integers first).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import nnls

from inference.core.legs import JOINT_NAMES, ImageSide, LegJoints

logger = logging.getLogger(__name__)

MAD_TO_SIGMA = 1.4826
View = Literal["front", "side"]


@dataclass(frozen=True)
class LegEnsemble:
    """Ensemble estimate of one leg.

    Attributes
    ----------
    joints : LegJoints
        Ensemble hip, knee and ankle with ``image_side`` and ``variance_xy`` (3, 2), px².
    n_used : tuple of 3 int
        Member points that survived outlier rejection, per joint.
    member_index : (n,) int array or None
        Which input member each row of ``member_points_xy`` came from (None in reference mode).
    member_points_xy : (n, 3, 2) float64 array or None
        Those members' points for this leg, sorted hip, knee, ankle.
    kept : (n, 3) bool array or None
        Survivors of the outlier rejection, per member and joint.
    flags : tuple of str
    """

    joints: LegJoints
    n_used: tuple[int, int, int]
    member_index: NDArray[np.intp] | None = field(default=None, compare=False)
    member_points_xy: NDArray[np.float64] | None = field(default=None, compare=False)
    kept: NDArray[np.bool_] | None = field(default=None, compare=False)
    flags: tuple[str, ...] = ()

    @property
    def n_members(self) -> int:
        """Members that contributed a leg here (all points, before outlier rejection)."""
        return 0 if self.member_index is None else int(self.member_index.size)


@dataclass(frozen=True)
class KeypointEnsembleResult:
    """Output of :func:`ensemble_keypoints`.

    Attributes
    ----------
    legs : tuple of LegEnsemble
        Image-left leg first; a side with no member leg is absent (flag ``leg_<side>_missing``).
    x_mid : float or None
        Leg boundary in image x (None for the side view).
    x_mid_source : str
        ``"boxes"``, ``"two_means"``, ``"half_width"`` or ``"side_view"``.
    n_members : int
        Members given (including ones with no detection).
    method : str
        ``"robust_mean"`` or ``"kmeans_reference"``.
    flags : tuple of str
    """

    legs: tuple[LegEnsemble, ...]
    x_mid: float | None
    x_mid_source: str
    n_members: int
    method: str
    flags: tuple[str, ...] = ()

    @property
    def joints(self) -> tuple[LegJoints, ...]:
        """The legs' :class:`LegJoints`, image-left first."""
        return tuple(leg.joints for leg in self.legs)

    def leg(self, image_side: ImageSide | None) -> LegEnsemble | None:
        """The leg on ``image_side`` (None for the side view's single leg), or None if absent."""
        for leg in self.legs:
            if leg.joints.image_side == image_side:
                return leg
        return None


# ----------------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------------


def _check_member(points: ArrayLike | None, k: int) -> NDArray[np.float64]:
    if points is None:
        return np.zeros((0, 3, 2))
    arr = np.asarray(points, dtype=np.float64)
    if arr.shape == (3, 2):
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (3, 2):
        raise ValueError(f"member_points[{k}] must have shape (n_legs, 3, 2), got {arr.shape}")
    return arr


def _leg_scores(scores: ArrayLike | None, n_legs: int, k: int) -> NDArray[np.float64]:
    if scores is None:
        return np.zeros(n_legs)
    arr = np.asarray(scores, dtype=np.float64)
    if arr.shape == (n_legs, 3):
        return arr.mean(axis=1)
    if arr.shape == (n_legs,):
        return arr
    raise ValueError(f"member_scores[{k}] must have shape ({n_legs},) or ({n_legs}, 3), got {arr.shape}")


# ----------------------------------------------------------------------------------------------
# Leg split
# ----------------------------------------------------------------------------------------------


def two_means_boundary(x: ArrayLike) -> tuple[float, int, int, float] | None:
    """Exact 1-D 2-means: the split of sorted ``x`` with the least within-cluster sum of squares.

    Parameters
    ----------
    x : (N,) array_like

    Returns
    -------
    (boundary, n_low, n_high, separation) or None
        ``boundary`` is the midpoint of the two cluster means (the 2-means decision boundary),
        ``separation`` the difference of the means. None when fewer than two distinct values.
    """
    xs = np.sort(np.asarray(x, dtype=np.float64).ravel())
    xs = xs[np.isfinite(xs)]
    if xs.size < 2 or xs[0] == xs[-1]:
        return None
    n = xs.size
    csum = np.cumsum(xs)
    csq = np.cumsum(xs**2)
    i = np.arange(1, n)  # low cluster = xs[:i]
    low_sse = csq[i - 1] - csum[i - 1] ** 2 / i
    high_sse = (csq[-1] - csq[i - 1]) - (csum[-1] - csum[i - 1]) ** 2 / (n - i)
    best = int(i[np.argmin(low_sse + high_sse)])
    mean_low = csum[best - 1] / best
    mean_high = (csum[-1] - csum[best - 1]) / (n - best)
    return 0.5 * (mean_low + mean_high), best, n - best, mean_high - mean_low


def _x_mid(
    members: list[NDArray[np.float64]],
    boxes: ArrayLike | None,
    width: int,
    min_leg_separation_frac: float,
) -> tuple[float, str]:
    if boxes is not None:
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if b.shape[0] == 2 and np.all(np.isfinite(b)):
            centres = 0.5 * (b[:, 0] + b[:, 2])
            if centres[0] != centres[1]:
                return float(centres.mean()), "boxes"
    pooled = np.concatenate([m[..., 0].ravel() for m in members]) if members else np.zeros(0)
    split = two_means_boundary(pooled)
    if split is not None:
        boundary, n_low, n_high, separation = split
        if min(n_low, n_high) >= 3 and separation >= min_leg_separation_frac * width:
            return float(boundary), "two_means"
    return width / 2.0, "half_width"


# ----------------------------------------------------------------------------------------------
# Robust averaging
# ----------------------------------------------------------------------------------------------


def robust_joint_mean(
    points_xy: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    tau_min: float = 0.0,
    mad_factor: float = 3.0 * MAD_TO_SIGMA,
    min_keep: int = 2,
    variance_floor: float = 1.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_], tuple[str, ...]]:
    """Outlier-rejected weighted mean and spread of one joint's member points.

    Parameters
    ----------
    points_xy : (n, 2) array_like
        One point per member.
    weights : (n,) array_like, optional
        Non-negative member weights; default equal.
    tau_min : float
        Minimum rejection radius (px).
    mad_factor : float
        Multiplier of ``MAD_r`` (3 · 1.4826).
    min_keep : int
        If fewer points survive, all are kept.
    variance_floor : float
        Lower bound of the per-axis variance (px²).

    Returns
    -------
    mean_xy : (2,) float64 array
    variance_xy : (2,) float64 array
        Sample variance (ddof = 1) of the survivors, floored.
    kept : (n,) bool array
    flags : tuple of str
        ``outlier_rejection_relaxed``, ``single_point_variance_floor``, ``zero_weight_fallback``.

    Notes
    -----
    ``m = median_k p_k`` (component-wise), ``d_k = |p_k - m|``, ``MAD_r = median_k d_k``; ``p_k``
    is dropped iff ``d_k > max(mad_factor * MAD_r, tau_min)``.
    """
    pts = np.asarray(points_xy, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] == 0 or not np.all(np.isfinite(pts)):
        raise ValueError(f"points_xy must be a finite, non-empty (n, 2) array, got {pts.shape}")
    n = pts.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError(f"weights must be (n,) non-negative finite, got {w!r}")
    flags: list[str] = []
    median = np.median(pts, axis=0)
    dist = np.hypot(*(pts - median).T)
    threshold = max(mad_factor * float(np.median(dist)), tau_min)
    kept = dist <= threshold
    if kept.sum() < min(min_keep, n):
        kept = np.ones(n, dtype=bool)
        flags.append("outlier_rejection_relaxed")
    wk = w[kept]
    if wk.sum() <= 0:
        wk = np.ones_like(wk)
        flags.append("zero_weight_fallback")
    mean = (wk[:, None] * pts[kept]).sum(axis=0) / wk.sum()
    if kept.sum() >= 2:
        variance = np.maximum(np.var(pts[kept], axis=0, ddof=1), variance_floor)
    else:
        variance = np.full(2, float(variance_floor))
        flags.append("single_point_variance_floor")
    return mean, variance, kept, tuple(flags)


def _ensemble_leg(
    points: NDArray[np.float64],
    member_index: NDArray[np.intp],
    member_weights: NDArray[np.float64] | None,
    image_side: ImageSide | None,
    *,
    sort_by_y: bool,
    tau_min: float,
    mad_factor: float,
    min_keep: int,
    variance_floor: float,
) -> LegEnsemble:
    flags: list[str] = []
    if sort_by_y:
        order = np.argsort(points[:, :, 1], axis=1, kind="stable")
        mismatch = np.any(order != np.arange(3), axis=1)
        for k in member_index[mismatch]:
            flags.append(f"member{int(k)}_index_order_not_vertical")
        points = np.take_along_axis(points, order[:, :, None], axis=1)
    joints = np.empty((3, 2))
    variance = np.empty((3, 2))
    kept = np.empty((points.shape[0], 3), dtype=bool)
    w = None if member_weights is None else member_weights[member_index]
    for j, name in enumerate(JOINT_NAMES):
        joints[j], variance[j], kept[:, j], jflags = robust_joint_mean(
            points[:, j], weights=w, tau_min=tau_min, mad_factor=mad_factor,
            min_keep=min_keep, variance_floor=variance_floor,
        )
        flags.extend(f"{name}_{f}" for f in jflags)
    if not (joints[0, 1] < joints[1, 1] < joints[2, 1]):
        flags.append("joint_order_invalid")
        logger.warning("ensemble joints of leg %s are not ordered hip < knee < ankle in y", image_side)
    leg = LegJoints.from_array(joints, image_side=image_side, variance_xy=variance)
    n_used = tuple(int(c) for c in kept.sum(axis=0))
    return LegEnsemble(leg, n_used, member_index, points, kept, tuple(flags))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------------


def ensemble_keypoints(
    member_points: Sequence[ArrayLike | None],
    *,
    image_width: int,
    image_height: int,
    view: View = "front",
    member_scores: Sequence[ArrayLike | None] | None = None,
    leg_boxes_xyxy: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    sort_by_y: bool = True,
    mad_factor: float = 3.0 * MAD_TO_SIGMA,
    tau_min_frac: float = 0.01,
    min_keep: int = 2,
    variance_floor: float = 1.0,
    min_leg_separation_frac: float = 0.10,
    reference_mode: bool = False,
) -> KeypointEnsembleResult:
    """Combine the members' key points into one hip, knee and ankle per leg.

    Parameters
    ----------
    member_points : sequence of K arrays (n_legs_k, 3, 2) or None
        Each member's legs in image ``(x, y)``; ``(3, 2)`` is read as one leg; None or
        ``(0, 3, 2)`` means no detection.
    image_width, image_height : int
        W and H of the image (px).
    view : {"front", "side"}
        Front (bilateral) or side (one leg).
    member_scores : sequence of K arrays (n_legs_k,) or (n_legs_k, 3), optional
        Confidences; only used to choose between two legs a member put on the same side.
    leg_boxes_xyxy : (n_boxes, 4) array_like, optional
        Detector leg boxes ``(x0, y0, x1, y1)``; two boxes define ``x_mid``.
    weights : (K,) array_like, optional
        Non-negative member weights (e.g. :func:`fit_member_weights_nnls`); default equal.
    sort_by_y : bool
        Name joints by vertical order ([D]); False trusts each member's index order.
    mad_factor : float
        Outlier radius in units of ``MAD_r`` (3 · 1.4826).
    tau_min_frac : float
        Minimum outlier radius as a fraction of ``image_height`` (0.01).
    min_keep : int
        Minimum survivors per joint (2).
    variance_floor : float
        Per-axis variance floor, px² (1).
    min_leg_separation_frac : float
        2-means leg split accepted only if the cluster means are this fraction of W apart.
    reference_mode : bool
        [C] K-means pooling and product naming (front view only).

    Returns
    -------
    KeypointEnsembleResult

    Raises
    ------
    ValueError
        On malformed inputs; in reference mode when K-means cannot name six joints.
    """
    if image_width <= 0 or image_height <= 0:
        raise ValueError(f"image size must be positive, got {image_width}x{image_height}")
    if view not in ("front", "side"):
        raise ValueError(f"view must be 'front' or 'side', got {view!r}")
    members = [_check_member(p, k) for k, p in enumerate(member_points)]
    n_members = len(members)
    if n_members == 0:
        raise ValueError("member_points must hold at least one member")
    if member_scores is not None and len(member_scores) != n_members:
        raise ValueError("member_scores must hold one entry per member")
    member_weights = None
    if weights is not None:
        member_weights = np.asarray(weights, dtype=np.float64)
        if member_weights.shape != (n_members,) or np.any(member_weights < 0) or not np.all(
            np.isfinite(member_weights)
        ):
            raise ValueError(f"weights must be ({n_members},) non-negative finite values")
        if member_weights.sum() <= 0:
            raise ValueError("weights must not all be zero")

    flags: list[str] = []
    # A leg with a non-finite coordinate is dropped from its member.
    for k, m in enumerate(members):
        finite = np.all(np.isfinite(m), axis=(1, 2))
        if not np.all(finite):
            flags.append(f"member{k}_nonfinite_leg_dropped")
            members[k] = m[finite]

    if reference_mode:
        if view != "front":
            raise ValueError("reference_mode (K-means naming) exists only for the front view")
        return _kmeans_reference(members, image_width, image_height, variance_floor, tuple(flags))

    tau_min = tau_min_frac * image_height
    if view == "side":
        x_mid, source = None, "side_view"
        sides: tuple[ImageSide | None, ...] = (None,)
    else:
        x_mid, source = _x_mid(members, leg_boxes_xyxy, image_width, min_leg_separation_frac)
        sides = ("left", "right")

    per_side: dict[ImageSide | None, tuple[list[NDArray[np.float64]], list[int]]] = {
        s: ([], []) for s in sides
    }
    for k, m in enumerate(members):
        if m.shape[0] == 0:
            continue
        scores = _leg_scores(None if member_scores is None else member_scores[k], m.shape[0], k)
        if view == "side":
            leg_side: list[ImageSide | None] = [None] * m.shape[0]
        else:
            assert x_mid is not None
            leg_side = ["left" if x < x_mid else "right" for x in m[:, :, 0].mean(axis=1)]
        for side in sides:
            idx = [i for i, s in enumerate(leg_side) if s == side]
            if not idx:
                continue
            if len(idx) > 1:
                flags.append(f"member{k}_duplicate_leg_dropped")
            best = idx[int(np.argmax(scores[idx]))]  # first one on ties / no scores
            per_side[side][0].append(m[best])
            per_side[side][1].append(k)

    legs: list[LegEnsemble] = []
    for side in sides:
        pts, idx = per_side[side]
        if not pts:
            flags.append(f"leg_{side or 'single'}_missing")
            continue
        legs.append(
            _ensemble_leg(
                np.stack(pts), np.asarray(idx, dtype=np.intp), member_weights, side,
                sort_by_y=sort_by_y, tau_min=tau_min, mad_factor=mad_factor,
                min_keep=min_keep, variance_floor=variance_floor,
            )
        )
    return KeypointEnsembleResult(tuple(legs), x_mid, source, n_members, "robust_mean", tuple(flags))


def _kmeans_reference(
    members: list[NDArray[np.float64]],
    width: int,
    height: int,
    variance_floor: float,
    flags: tuple[str, ...],
) -> KeypointEnsembleResult:
    from sklearn.cluster import KMeans

    pooled = np.concatenate([m.reshape(-1, 2) for m in members]) if members else np.zeros((0, 2))
    n_distinct = np.unique(pooled, axis=0).shape[0]
    if n_distinct < 6:
        raise ValueError(f"K-means naming needs at least 6 distinct points, got {n_distinct}")
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(1, 7):
            fits.append(KMeans(n_clusters=k, random_state=42, n_init="auto").fit(pooled))
    best = fits[int(np.argmin([f.inertia_ for f in fits]))]
    if best.n_clusters != 6:
        raise ValueError(f"K-means selected k = {best.n_clusters}; the naming needs 6 clusters")
    centres = best.cluster_centers_
    x, y = centres[:, 0], centres[:, 1]
    left_hip = int(np.argmin(x * y))
    right_ankle = int(np.argmax(x * y))
    right_hip = int(np.argmin((width - x) * y))
    left_ankle = int(np.argmax((width - x) * y))
    named = {left_hip, right_ankle, right_hip, left_ankle}
    remaining = [i for i in range(6) if i not in named]
    if len(named) != 4 or len(remaining) != 2:
        raise ValueError("K-means product naming assigned one centre to two roles")
    left_knee, right_knee = sorted(remaining, key=lambda i: x[i])
    legs = []
    for side, ids in (("left", (left_hip, left_knee, left_ankle)),
                      ("right", (right_hip, right_knee, right_ankle))):
        variance = np.empty((3, 2))
        n_used = []
        for j, c in enumerate(ids):
            assigned = pooled[best.labels_ == c]
            n_used.append(int(assigned.shape[0]))
            variance[j] = (
                np.maximum(np.var(assigned, axis=0, ddof=1), variance_floor)
                if assigned.shape[0] >= 2 else variance_floor
            )
        joints = LegJoints.from_array(
            centres[list(ids)], image_side=side, variance_xy=variance  # type: ignore[arg-type]
        )
        ordered = joints.hip_xy[1] < joints.knee_xy[1] < joints.ankle_xy[1]
        leg_flags = () if ordered else ("joint_order_invalid",)
        legs.append(LegEnsemble(joints, tuple(n_used), flags=leg_flags))  # type: ignore[arg-type]
    return KeypointEnsembleResult(
        tuple(legs), width / 2.0, "half_width", len(members), "kmeans_reference", flags
    )


def fit_member_weights_nnls(
    oof_predictions: ArrayLike, truth: ArrayLike, *, sum_penalty: float = 1e4
) -> NDArray[np.float64]:
    """Fit member weights ``w >= 0``, ``sum w = 1`` minimising the squared error (Eq. 3 of [P]).

    Parameters
    ----------
    oof_predictions : (K, ..., 2) array_like
        Each member's out-of-fold predictions of the same joints (e.g. ``(K, N, 3, 2)``).
        Joints where any member is non-finite are ignored.
    truth : (..., 2) array_like
        Ground-truth joints, the trailing shape of ``oof_predictions``.
    sum_penalty : float
        Weight of the ``sum w = 1`` row in the augmented NNLS (on the normalised system).

    Returns
    -------
    (K,) float64 array
        Non-negative weights summing to 1.

    Notes
    -----
    With ``sum w = 1``, ``sum_k w_k p_k - t = sum_k w_k (p_k - t)``, so the problem is
    ``min |A w|^2`` over the simplex with ``A[:, k] = (p_k - t)`` flattened. It is solved by
    non-negative least squares on ``[A / |A|_F; lambda 1^T] w = [0; lambda]`` and renormalised.
    """
    pred = np.asarray(oof_predictions, dtype=np.float64)
    gt = np.asarray(truth, dtype=np.float64)
    if pred.ndim < 2 or pred.shape[-1] != 2 or pred.shape[1:] != gt.shape:
        raise ValueError(
            f"oof_predictions must be (K, ..., 2) with truth of shape (..., 2); got {pred.shape} "
            f"and {gt.shape}"
        )
    n_members = pred.shape[0]
    residual = (pred - gt[None]).reshape(n_members, -1, 2)
    valid = np.all(np.isfinite(residual), axis=(0, 2))
    if not np.any(valid):
        raise ValueError("no joint has finite predictions from every member")
    a = residual[:, valid].reshape(n_members, -1).T
    scale = float(np.linalg.norm(a))
    if scale == 0.0:
        return np.full(n_members, 1.0 / n_members)
    system = np.vstack([a / scale, np.full((1, n_members), sum_penalty)])
    rhs = np.concatenate([np.zeros(a.shape[0]), [sum_penalty]])
    w, _ = nnls(system, rhs)
    if w.sum() <= 0:
        return np.full(n_members, 1.0 / n_members)
    return w / w.sum()
