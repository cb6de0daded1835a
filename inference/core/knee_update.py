"""Bayesian–Kalman update of the knee centre from the pruned masks (§2.7; [P] only, absent in [C]).

Prior
-----
The ensemble knee ``(x0, y0)`` with ``Sigma_p = diag(var_x0, var_y0)``: the member sample
variances of the key-point ensemble (option: divided by the number of members, the variance of the
mean).

Observation (the geometric knee centre, from the **pruned** label map of that leg)
---------------------------------------------------------------------------------
Pixels are taken at their centres ``(col + 0.5, row + 0.5)`` (see :mod:`inference.core.legs`).

* ``f_top``, ``f_low``: smallest and largest y of the leg's femur pixels; ``t_top``: smallest y of its
  tibia pixels.
* Distal-femur band: femur pixels with ``f_low - 0.10 (f_low - f_top) < y <= f_low``.
* ``D`` = max x − min x of the band; ``x1`` = their midpoint.
* ``y1`` = median, over the columns with ``|x - x1| <= 0.1 D`` that contain tibia, of the tibia's
  top boundary (smallest y per column): the top of the plateau / spines. Option
  ``observation="joint_gap"``: ``y1 = (f_low + t_top) / 2``.
* ``R = diag(D**2 / 16, D**2 / 16)``: a uniform distribution over the disc of diameter D has a
  per-axis variance ``r**2 / 4 = D**2 / 16``.

Update (Eqs. 4–6 of [P]), per axis because both covariances are diagonal
-------------------------------------------------------------------------
``k = var_p / (var_p + var_obs)``, ``x = x0 + k (x1 - x0)`` (the inverse-variance weighted mean),
posterior variance ``(1 - k) var_p``.

Edge cases ([D])
----------------
* Either bone of the leg empty, ``D < 5 px``, or no tibia column under the femur band: no update
  (flag ``knee_update_skipped_*``), the prior is returned unchanged.
* ``|prior - observation| > D``: flag ``knee_update_conflict``; the update is still applied.
* Only the knee changes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inference.core.legs import FEMUR, TIBIA, LegJoints
from inference.core.pruning import leg_columns

ObservationMethod = Literal["plateau", "joint_gap"]


@dataclass(frozen=True)
class KneeObservation:
    """Geometric knee centre measured on a leg's masks.

    Attributes
    ----------
    xy : (2,) float64 array
        ``(x1, y1)`` in image pixels.
    variance_xy : (2,) float64 array
        ``(D**2 / 16, D**2 / 16)`` by default.
    width_px : float
        Distal femur width D.
    f_top, f_low, t_top : float
        Femur top and bottom y, tibia top y (pixel centres).
    method : str
        ``"plateau"`` or ``"joint_gap"``.
    """

    xy: NDArray[np.float64]
    variance_xy: NDArray[np.float64]
    width_px: float
    f_top: float
    f_low: float
    t_top: float
    method: str


@dataclass(frozen=True)
class KalmanUpdate:
    """Per-axis Kalman update of a 2-D point with diagonal covariances."""

    posterior_xy: NDArray[np.float64]
    posterior_variance_xy: NDArray[np.float64]
    gain_xy: NDArray[np.float64]


@dataclass(frozen=True)
class KneeUpdateResult:
    """Output of :func:`update_knee`.

    Attributes
    ----------
    joints : LegJoints
        Posterior joints: hip and ankle unchanged, knee updated (or the prior when skipped); the
        knee row of ``variance_xy`` holds the posterior variance.
    applied : bool
        Whether the update was applied.
    prior_xy, prior_variance_xy : (2,) float64 arrays
        Prior knee and the variance actually used (after the variance-of-the-mean option).
    observation : KneeObservation or None
    gain_xy : (2,) float64 array or None
    flags : tuple of str
    """

    joints: LegJoints
    applied: bool
    prior_xy: NDArray[np.float64]
    prior_variance_xy: NDArray[np.float64]
    observation: KneeObservation | None
    gain_xy: NDArray[np.float64] | None
    flags: tuple[str, ...]

    @property
    def posterior_xy(self) -> NDArray[np.float64]:
        return self.joints.knee_xy


def kalman_update(
    prior_xy: ArrayLike,
    prior_variance_xy: ArrayLike,
    observation_xy: ArrayLike,
    observation_variance_xy: ArrayLike,
) -> KalmanUpdate:
    """Kalman update with diagonal covariances, axis by axis.

    Parameters
    ----------
    prior_xy, observation_xy : (2,) array_like
        Points in image ``(x, y)``.
    prior_variance_xy, observation_variance_xy : (2,) array_like
        Positive per-axis variances (px²).

    Returns
    -------
    KalmanUpdate

    Notes
    -----
    ``k = s_p / (s_p + s_o)``; ``x = x_p + k (x_o - x_p) = (x_p / s_p + x_o / s_o) / (1/s_p + 1/s_o)``;
    posterior variance ``(1 - k) s_p = 1 / (1/s_p + 1/s_o)``.
    """
    xp = _vec2(prior_xy, "prior_xy")
    xo = _vec2(observation_xy, "observation_xy")
    sp = _vec2(prior_variance_xy, "prior_variance_xy")
    so = _vec2(observation_variance_xy, "observation_variance_xy")
    if np.any(sp <= 0) or np.any(so <= 0):
        raise ValueError("variances must be positive")
    gain = sp / (sp + so)
    return KalmanUpdate(xp + gain * (xo - xp), (1.0 - gain) * sp, gain)


def _vec2(value: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (2,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a finite (2,) array, got {arr!r}")
    return arr


class _Skip(Exception):
    def __init__(self, flag: str) -> None:
        super().__init__(flag)
        self.flag = flag


def _observe(
    labels_leg: NDArray[np.integer],
    col_offset: int,
    *,
    band_frac: float,
    window_frac: float,
    method: ObservationMethod,
    variance_scale: float,
    min_width_px: float,
) -> KneeObservation:
    f_rows, f_cols = np.nonzero(labels_leg == FEMUR)
    t_rows, t_cols = np.nonzero(labels_leg == TIBIA)
    if f_rows.size == 0 or t_rows.size == 0:
        raise _Skip("knee_update_skipped_empty_bone")
    f_y = f_rows + 0.5
    f_x = f_cols + col_offset + 0.5
    f_top, f_low = float(f_y.min()), float(f_y.max())
    in_band = (f_y > f_low - band_frac * (f_low - f_top)) & (f_y <= f_low)
    if not np.any(in_band):  # a femur one row tall: no band above its lowest row
        raise _Skip("knee_update_skipped_narrow_femur")
    x_lo, x_hi = float(f_x[in_band].min()), float(f_x[in_band].max())
    width = x_hi - x_lo
    t_top = float(t_rows.min()) + 0.5
    if width < min_width_px:
        raise _Skip("knee_update_skipped_narrow_femur")
    x1 = 0.5 * (x_lo + x_hi)
    if method == "joint_gap":
        y1 = 0.5 * (f_low + t_top)
    elif method == "plateau":
        # np.nonzero is row-major, so the first occurrence of a column is its smallest row.
        cols_unique, first = np.unique(t_cols, return_index=True)
        top_y = t_rows[first] + 0.5
        near = np.abs(cols_unique + col_offset + 0.5 - x1) <= window_frac * width
        if not np.any(near):
            raise _Skip("knee_update_skipped_no_tibia_under_femur")
        y1 = float(np.median(top_y[near]))
    else:
        raise ValueError(f"observation must be 'plateau' or 'joint_gap', got {method!r}")
    var = variance_scale * width**2
    return KneeObservation(
        np.array([x1, y1]), np.array([var, var]), width, f_top, f_low, t_top, method
    )


def knee_observation(
    label_map: ArrayLike,
    *,
    x_mid: float | None = None,
    image_side: str | None = None,
    observation: ObservationMethod = "plateau",
    band_frac: float = 0.10,
    window_frac: float = 0.10,
    variance_scale: float = 1.0 / 16.0,
    min_width_px: float = 5.0,
) -> KneeObservation | str:
    """Measure the geometric knee centre of one leg on a pruned label map.

    Parameters
    ----------
    label_map : (H, W) integer array
        Pruned label map (0/1/2).
    x_mid : float, optional
        Leg boundary; with ``image_side`` selects the leg's columns (see
        :func:`inference.core.pruning.leg_columns`). None: the whole width.
    image_side : {"left", "right"}, optional
    observation : {"plateau", "joint_gap"}
        How ``y1`` is measured (module docstring).
    band_frac : float
        Height of the distal-femur band as a fraction of the femur height (0.10).
    window_frac : float
        Half-width of the column window around ``x1`` as a fraction of D (0.10).
    variance_scale : float
        Observation variance per axis = ``variance_scale * D**2`` (1/16: uniform disc).
    min_width_px : float
        Smallest usable D (5 px).

    Returns
    -------
    KneeObservation or str
        The observation, or the skip flag when it cannot be measured.
    """
    labels = np.asarray(label_map)
    if labels.ndim != 2:
        raise ValueError(f"label_map must be (H, W), got {labels.shape}")
    cols = leg_columns(labels.shape[1], x_mid, image_side)
    idx = np.flatnonzero(cols)
    if idx.size == 0:
        return "knee_update_skipped_empty_bone"
    sub = labels[:, idx[0] : idx[-1] + 1]
    try:
        return _observe(
            sub, int(idx[0]), band_frac=band_frac, window_frac=window_frac, method=observation,
            variance_scale=variance_scale, min_width_px=min_width_px,
        )
    except _Skip as skip:
        return skip.flag


def update_knee(
    joints: LegJoints,
    pruned_label_map: ArrayLike,
    *,
    x_mid: float | None = None,
    prior_variance_xy: ArrayLike | None = None,
    variance_of_mean: bool = False,
    n_prior_members: int | None = None,
    observation: ObservationMethod = "plateau",
    band_frac: float = 0.10,
    window_frac: float = 0.10,
    variance_scale: float = 1.0 / 16.0,
    min_width_px: float = 5.0,
) -> KneeUpdateResult:
    """Update one leg's knee with the geometric knee centre of its pruned masks (§2.7).

    Parameters
    ----------
    joints : LegJoints
        Prior (ensemble) joints of the leg. ``variance_xy`` (3, 2) supplies the prior variance
        unless ``prior_variance_xy`` is given.
    pruned_label_map : (H, W) integer array
        Label map after :func:`inference.core.pruning.prune_label_map` (with the prior joints).
    x_mid : float, optional
        Leg boundary; the leg's columns are chosen with ``joints.image_side``. None: whole width.
    prior_variance_xy : (2,) array_like, optional
        Knee prior variances (px²), overriding ``joints.variance_xy[1]``.
    variance_of_mean : bool
        Divide the prior variance by ``n_prior_members`` (variance of the ensemble mean).
    n_prior_members : int, optional
        Members that contributed to the knee (required with ``variance_of_mean``).
    observation, band_frac, window_frac, variance_scale, min_width_px :
        See :func:`knee_observation`.

    Returns
    -------
    KneeUpdateResult

    Raises
    ------
    ValueError
        If no prior variance is available, or ``variance_of_mean`` lacks ``n_prior_members``.
    """
    prior_xy = _vec2(joints.knee_xy, "joints.knee_xy")
    if prior_variance_xy is not None:
        prior_var = _vec2(prior_variance_xy, "prior_variance_xy")
    elif joints.variance_xy is not None:
        prior_var = _vec2(np.asarray(joints.variance_xy, dtype=np.float64).reshape(3, 2)[1],
                          "joints.variance_xy[1]")
    else:
        raise ValueError("no prior variance: pass prior_variance_xy or joints with variance_xy")
    if variance_of_mean:
        if n_prior_members is None or n_prior_members < 1:
            raise ValueError("variance_of_mean needs n_prior_members >= 1")
        prior_var = prior_var / n_prior_members
    if np.any(prior_var <= 0):
        raise ValueError("prior variances must be positive")
    obs = knee_observation(
        pruned_label_map, x_mid=x_mid, image_side=joints.image_side if x_mid is not None else None,
        observation=observation, band_frac=band_frac, window_frac=window_frac,
        variance_scale=variance_scale, min_width_px=min_width_px,
    )
    if isinstance(obs, str):
        return KneeUpdateResult(joints, False, prior_xy, prior_var, None, None, (obs,))
    flags: list[str] = []
    if float(np.hypot(*(obs.xy - prior_xy))) > obs.width_px:
        flags.append("knee_update_conflict")
    update = kalman_update(prior_xy, prior_var, obs.xy, obs.variance_xy)
    variance = (
        np.asarray(joints.variance_xy, dtype=np.float64).reshape(3, 2).copy()
        if joints.variance_xy is not None
        else np.full((3, 2), np.nan)
    )
    variance[1] = update.posterior_variance_xy
    posterior = replace(joints, knee_xy=update.posterior_xy, variance_xy=variance)
    return KneeUpdateResult(posterior, True, prior_xy, prior_var, obs, update.gain_xy, tuple(flags))
