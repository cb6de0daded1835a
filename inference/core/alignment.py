"""Per-leg alignment angles from a femur/tibia label map and the hip/knee/ankle joints (spec §5).

Coordinates, mask labels and joint order follow :mod:`inference.core.legs`; angle conventions follow
:mod:`inference.core.geometry`. In short: image ``(x, y)`` with y down; clinical angles are directed
angles ``arccos(u . v)`` between vectors whose sense (proximal / distal / medial / lateral) is fixed
per metric below; CORA angles are acute angles between undirected shaft lines.

Directions per leg
------------------
* "proximal" is toward smaller y. "medial" is toward the other leg on a bilateral image. For a single
  leg it comes from ``anatomical_side`` (standard AP display: the patient's right leg is on the
  image left, so its medial direction is +x); without it, it is inferred from anatomy (the femoral
  head lies medial of the proximal femoral shaft axis) and the leg is flagged
  ``anatomical_side_inferred``.

Metrics (spec §5.8; H hip, N knee, A ankle)
-------------------------------------------
* ``hka_deviation_deg``: ``arccos`` angle between ``N - H`` and ``A - N``, signed **negative for varus**
  (knee lateral to the line H-A) and positive for valgus. ``HKA = 180 - |deviation|``.
* ``MAD``: perpendicular distance of N from the line H-A, **positive when the line passes medial to
  the knee** (varus); mm when the pixel spacing is known (``value_px`` always given).
* ``mLDFA``: angle between ``H - N`` and the distal femoral joint line directed medial -> lateral.
  ``aLDFA``: the same with the femoral (distal) anatomic axis directed proximally.
* ``mLPFA``: angle between ``N - H`` and ``GT - H`` (GT = tip of the greater trochanter).
* ``MPTA``: angle between ``A - N`` and the tibial plateau line directed lateral -> medial.
* ``mLDTA``: angle between ``N - A`` and the plafond line directed medial -> lateral.
* ``JLCA``: acute angle between the distal femoral and plateau lines (unsigned).
* ``AMA``: angle between ``H - N`` and the femoral (distal) anatomic axis directed proximally.
* ``NSA``: growing-neck PCA axis (§5.6 [D]) vs the upper shaft axis, directed:
  ``arccos(u_neck . u_shaft)`` with ``u_neck`` from the crossing X toward H, ``u_shaft`` from X toward N.
* ``femoral_cora_deg`` / ``tibial_cora_deg``: acute angle between the proximal and distal shaft fits,
  with the crossing point (null when outside the image or parallel).

The femoral anatomic axis used for aLDFA and AMA is the distal ("lower") shaft fit (the points with
``d_N <= 55th percentile``), i.e. the anatomic axis of the distal segment, which is what aLDFA needs
when the femur has a diaphyseal CORA; for a straight femur it is the mid-diaphyseal line.

Joint lines and the greater trochanter come from full-resolution mask boundaries (§5.8 [D]); shaft
axes, CORA, NSA, AMA and aLDFA come from the Monte-Carlo draws (§5.3 [D]): per leg and bone
``n_draws`` draws of ``min(n_samples, |S|)`` pixels without replacement, each from its own RNG seeded
by ``(seed, image_id, leg, bone, r)``; value = median over valid draws, plus mean, SD (ddof=1), 2.5th
and 97.5th percentiles and the count ``n``. Joint-only metrics (HKA, MAD) and the landmark metrics
have SD 0 for exact joints; when a leg carries joint variances they get a spread from ``n_draws``
Gaussian joint draws (landmarks held fixed).

Decisions beyond the spec text ([D], all configurable through :class:`AlignmentOptions`)
-----------------------------------------------------------------------------------------
* ``shaft_fit="pca"`` (default): shaft lines are total-least-squares (PCA) lines of each point set.
  The spec's x-on-y least squares (``shaft_fit="ols"``, always used in ``reference_mode``) pulls the
  slope of a thick set toward vertical by about ``(width / length)^2`` of the tilt: on the synthetic
  phantoms it biases AMA / aLDFA by about 1.5° (median; p95 3°) and the femoral CORA by 1°; PCA
  errors stay below 0.3° (median)
  (benchmarks/phantom_accuracy.py).
* Growing neck (§5.6): the stop test starts once the previous neck set is elongated
  (``lambda1 / lambda2 >= 1.5``): a set that is still the round head has no direction to compare with.
* Joint-line end points are sub-pixel: a parabola through the boundary columns within 3 px of the
  extreme (the plain extreme column when that fails). Bottom edges are ``max row + 1``, top edges
  ``min row`` (unbiased edge positions under the pixel-centre rule).
* Head radius for the greater-trochanter search: half the narrowest femur chord through H over 36
  directions (a horizontal chord runs into the neck or trochanter on real shapes); candidates must
  lie lateral of H by more than 1.1 radii, so the pixelated rim of the head itself never qualifies.
* RANSAC threshold: 2% of the plateau / plafond width, at least 1 px.
* The CORA point is null when the median shaft lines are within 1° of parallel (their crossing is
  then undetermined) or cross outside the image.

``reference_mode=True`` reproduces the reference code's sampling and sets: one draw of 4000 femur
and 1000 tibia pixels *with replacement* from the whole image (legacy ``numpy.random.seed(42)`` +
``randint``), split by ``x_mid``; tibia reference point = top-most tibia pixel of the whole image;
hip and knee truncated to int for the femoral distance sets; fixed 15% neck set with a PCA line and
the NSA taken as the obtuse angle between the neck and upper-shaft lines.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inference.core.geometry import (
    GeometryError,
    Line,
    OlsBatch,
    acute_angle_between_deg,
    angle_between_deg,
    fit_line_ransac,
    fit_lines_pca,
    intersect_lines,
    pca_from_moments,
)
from inference.core.leg_lengths import (
    LENGTH_METRICS,
    LengthLandmarks,
    femoral_head_apex_xy,
    leg_length_discrepancy,
    leg_length_values,
)
from inference.core.legs import FEMUR, TIBIA, AnatomicalSide, ImageSide, LegJoints

logger = logging.getLogger(__name__)

__all__ = [
    "METRIC_NAMES",
    "AlignmentOptions",
    "AlignmentResult",
    "LegAlignment",
    "LegLandmarks",
    "MetricValue",
    "align_label_map",
    "cora_crossing",
    "hka_deviation_deg",
    "with_femoral_head_apex",
]

METRIC_NAMES: tuple[str, ...] = (
    "hka_deviation_deg",
    "HKA",
    "NSA",
    "mLDFA",
    "aLDFA",
    "mLPFA",
    "MPTA",
    "mLDTA",
    "JLCA",
    "AMA",
    "MAD",
    "femoral_cora_deg",
    "tibial_cora_deg",
    *LENGTH_METRICS,
)
CORA_METRICS: frozenset[str] = frozenset({"femoral_cora_deg", "tibial_cora_deg"})
_FEMUR_MASK_METRICS = ("NSA", "mLDFA", "aLDFA", "mLPFA", "AMA", "femoral_cora_deg", "JLCA")
_TIBIA_MASK_METRICS = ("MPTA", "mLDTA", "tibial_cora_deg", "JLCA")


# --------------------------------------------------------------------------------------------------
# Result records


@dataclass(frozen=True)
class MetricValue:
    """One metric of one leg.

    ``value`` is the reported number (the Monte-Carlo median for ``method="monte_carlo"``);
    ``sd``/``p2_5``/``p97_5``/``mean``/``n`` summarise the draws (``sd = 0`` and ``n = 1`` for exact
    landmark/joint metrics). ``point_xy`` is the CORA location (``None`` when outside the image);
    ``value_px`` is the pixel value of a length given in mm.
    """

    value: float
    sd: float
    p2_5: float
    p97_5: float
    mean: float
    n: int
    unit: str
    method: str
    point_xy: tuple[float, float] | None = None
    value_px: float | None = None

    def to_json(self, *, with_point: bool = False) -> dict[str, Any]:
        """JSON-safe dict ``{"value", "sd", "p2_5", "p97_5", "mean", "n", "unit", "method", ...}``."""
        out: dict[str, Any] = {
            "value": _jf(self.value),
            "sd": _jf(self.sd),
            "p2_5": _jf(self.p2_5),
            "p97_5": _jf(self.p97_5),
            "mean": _jf(self.mean),
            "n": int(self.n),
            "unit": self.unit,
            "method": self.method,
        }
        if self.value_px is not None:
            out["value_px"] = _jf(self.value_px)
        if with_point:
            out["point"] = None if self.point_xy is None else [_jf(self.point_xy[0]), _jf(self.point_xy[1])]
        return out


@dataclass(frozen=True, eq=False)
class LegLandmarks:
    """Constructions behind the metrics of one leg (for drawing and checks); ``None`` when not built.

    Lines are directed as their metric uses them: femoral joint line medial -> lateral, plateau
    lateral -> medial, plafond medial -> lateral; shaft axes and the neck axis are the medians of the
    Monte-Carlo fits, directed distally (the neck axis toward the hip).
    """

    femoral_joint_line: Line | None = None
    condyle_points_xy: NDArray[np.float64] | None = None
    tibial_plateau_line: Line | None = None
    plafond_line: Line | None = None
    greater_trochanter_xy: NDArray[np.float64] | None = None
    head_radius_px: float | None = None
    femoral_upper_axis: Line | None = None
    femoral_lower_axis: Line | None = None
    femoral_neck_axis: Line | None = None
    tibial_upper_axis: Line | None = None
    tibial_lower_axis: Line | None = None
    tibia_reference_xy: NDArray[np.float64] | None = None
    neck_q_stop: float | None = None


@dataclass(frozen=True, eq=False)
class LegAlignment:
    """Alignment of one leg: sides, joints, the 13 metrics (``None`` = not computable) and flags."""

    image_side: ImageSide
    anatomical_side: AnatomicalSide | None
    joints: LegJoints
    medial_sign: int | None
    metrics: Mapping[str, MetricValue | None]
    flags: tuple[str, ...]
    landmarks: LegLandmarks = field(default_factory=LegLandmarks)
    length_landmarks: LengthLandmarks = field(default_factory=LengthLandmarks)

    def to_json(self) -> dict[str, Any]:
        """The leg object of the alignment JSON contract (architecture.md §6)."""
        j = self.joints
        return {
            "image_side": self.image_side,
            "anatomical_side": self.anatomical_side,
            "joints": {
                "hip": [_jf(j.hip_xy[0]), _jf(j.hip_xy[1])],
                "knee": [_jf(j.knee_xy[0]), _jf(j.knee_xy[1])],
                "ankle": [_jf(j.ankle_xy[0]), _jf(j.ankle_xy[1])],
            },
            "metrics": {
                name: (None if self.metrics.get(name) is None else self.metrics[name].to_json(with_point=name in CORA_METRICS))  # type: ignore[union-attr]
                for name in METRIC_NAMES
            },
            "landmarks": self.length_landmarks.to_json(),
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class AlignmentOptions:
    """Parameters of the alignment derivation (spec defaults; see :func:`align_label_map`)."""

    seed: int = 0
    n_draws: int = 100
    n_samples: int = 5000
    reference_mode: bool = False
    upper_frac: float = 0.55
    lower_start: float = 0.60
    femur_lower_frac: float = 0.55
    femur_upper_range: tuple[float, float] = (0.50, 0.80)
    neck_q0: float = 0.10
    neck_dq: float = 0.025
    neck_qmax: float = 0.45
    neck_min_elongation: float = 1.5
    reference_neck_frac: float = 0.15
    tibia_reference: str = "top"
    shaft_fit: str = "pca"
    min_pixels: int = 10
    distal_femur_band: float = 0.15
    plateau_band: float = 0.15
    plafond_band: float = 0.10
    spine_exclusion: float = 0.30
    plafond_keep: float = 0.60
    ransac_threshold_frac: float = 0.02
    ransac_trials: int = 100
    max_joint_line_tilt_deg: float = 30.0
    gt_row_limit_frac: float = 0.25
    extremum_depth_px: float = 3.0
    cora_point_min_deg: float = 1.0
    gt_radius_margin: float = 1.1

    def __post_init__(self) -> None:
        if self.n_draws < 1 or self.n_samples < 2:
            raise ValueError("n_draws must be >= 1 and n_samples >= 2")
        for name in ("upper_frac", "lower_start", "femur_lower_frac", "neck_q0", "neck_qmax"):
            v = getattr(self, name)
            if not 0.0 < v < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {v}")
        lo, hi = self.femur_upper_range
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"femur_upper_range must satisfy 0 <= lo < hi <= 1, got {self.femur_upper_range}")
        if not 0.0 < self.neck_dq < self.neck_qmax - self.neck_q0 + 1e-12:
            raise ValueError("neck_dq must be positive and smaller than neck_qmax - neck_q0")
        if self.tibia_reference not in ("top", "knee"):
            raise ValueError("tibia_reference must be 'top' or 'knee'")
        if self.shaft_fit not in ("ols", "pca"):
            raise ValueError("shaft_fit must be 'ols' or 'pca'")


@dataclass(frozen=True, eq=False)
class AlignmentResult:
    """Alignment of all legs of one image, ordered image-left first."""

    image: str | None
    width: int
    height: int
    pixel_spacing_mm: float | None
    legs: tuple[LegAlignment, ...]
    x_mid: float | None
    options: AlignmentOptions

    def to_json(self) -> dict[str, Any]:
        """The alignment JSON contract: ``{"image", "width", "height", "pixel_spacing_mm", "legs", "lld"}``."""
        legs = [leg.to_json() for leg in self.legs]
        return {
            "image": self.image,
            "width": int(self.width),
            "height": int(self.height),
            "pixel_spacing_mm": None if self.pixel_spacing_mm is None else _jf(self.pixel_spacing_mm),
            "legs": legs,
            "lld": leg_length_discrepancy(legs),
        }


def _jf(x: float) -> float | None:
    """JSON-safe float (rounded to 1e-6; non-finite -> None, which never happens for reported values)."""
    xf = float(x)
    return round(xf, 6) if math.isfinite(xf) else None


# --------------------------------------------------------------------------------------------------
# Public entry point


def align_label_map(
    label_map: NDArray[np.integer],
    legs: Sequence[LegJoints],
    *,
    pixel_spacing_mm: float | None = None,
    image_name: str | None = None,
    image_id: int | str = 0,
    x_mid: float | None = None,
    seed: int = 0,
    n_draws: int = 100,
    n_samples: int = 5000,
    reference_mode: bool = False,
    upper_frac: float = 0.55,
    lower_start: float = 0.60,
    femur_lower_frac: float = 0.55,
    femur_upper_range: tuple[float, float] = (0.50, 0.80),
    neck_q0: float = 0.10,
    neck_dq: float = 0.025,
    neck_qmax: float = 0.45,
    shaft_fit: str = "pca",
    options: AlignmentOptions | None = None,
) -> AlignmentResult:
    """Derive the alignment metrics of every leg from a label map and the joints.

    Parameters
    ----------
    label_map : ndarray of int, shape (H, W)
        0 background, 1 femur, 2 tibia (any other value raises ``ValueError``).
    legs : sequence of LegJoints
        One or two legs (any order; the result is ordered image-left first). ``anatomical_side`` is
        used when given; ``variance_xy`` (3, 2), when given, adds joint uncertainty to the
        joint-based metrics.
    pixel_spacing_mm : float, optional
        Isotropic pixel spacing; MAD is then reported in mm.
    image_name : str, optional
        Stored as ``"image"`` in the JSON.
    image_id : int or str
        Part of every Monte-Carlo seed, so different images get independent draws.
    x_mid : float, optional
        Leg split for two legs (pixel centres with ``x < x_mid`` belong to the image-left leg,
        ``x > x_mid`` to the right one, ``x == x_mid`` to neither). Default: midpoint of the two
        legs' mean joint x.
    seed, n_draws, n_samples : int
        Monte-Carlo seed, number of draws and points per draw (spec: 100 x 5000).
    reference_mode : bool
        Reproduce the reference code's sampling and sets (see the module docstring).
    upper_frac, lower_start : float
        Tibia: proximal set ``d_T <= upper_frac`` quantile, distal set ``d_T > lower_start`` quantile.
    femur_lower_frac, femur_upper_range : float, (float, float)
        Femur: lower shaft ``d_N <= femur_lower_frac`` quantile, upper shaft inside the range.
    neck_q0, neck_dq, neck_qmax : float
        Growing-neck quantiles (fractions: 10%, 2.5%, 45%).
    shaft_fit : {"ols", "pca"}
        Shaft-line fit: ``"ols"`` regresses x on y (spec §5.4/5.5); ``"pca"`` is the total-least-squares
        line. ``reference_mode`` always uses OLS.
    options : AlignmentOptions, optional
        Full option record; when given it overrides every keyword above except the image metadata.

    Returns
    -------
    AlignmentResult

    Raises
    ------
    ValueError
        Bad label map, more than two legs, or bad options.
    """
    lm = np.asarray(label_map)
    if lm.ndim != 2 or lm.size == 0:
        raise ValueError(f"label_map must be a non-empty (H, W) array, got shape {lm.shape}")
    if not np.issubdtype(lm.dtype, np.integer) and lm.dtype != np.bool_:
        raise ValueError(f"label_map must hold integers, got {lm.dtype}")
    if lm.size and (lm.min() < 0 or lm.max() > TIBIA):
        raise ValueError("label_map values must be 0 (background), 1 (femur) or 2 (tibia)")
    if len(legs) > 2:
        raise ValueError(f"at most two legs are supported, got {len(legs)}")
    if pixel_spacing_mm is not None and not (pixel_spacing_mm > 0 and math.isfinite(pixel_spacing_mm)):
        raise ValueError("pixel_spacing_mm must be a positive finite number")
    opts = options or AlignmentOptions(
        seed=seed,
        n_draws=n_draws,
        n_samples=n_samples,
        reference_mode=reference_mode,
        upper_frac=upper_frac,
        lower_start=lower_start,
        femur_lower_frac=femur_lower_frac,
        femur_upper_range=tuple(femur_upper_range),  # type: ignore[arg-type]
        neck_q0=neck_q0,
        neck_dq=neck_dq,
        neck_qmax=neck_qmax,
        shaft_fit=shaft_fit,
    )
    height, width = lm.shape
    ordered = sorted(legs, key=lambda leg: float(leg.as_array()[:, 0].mean()))
    if len(ordered) == 2 and x_mid is None:
        x_mid = 0.5 * (float(ordered[0].as_array()[:, 0].mean()) + float(ordered[1].as_array()[:, 0].mean()))
    image_key = _image_key(image_id)

    # Per-bone pixel lists of the whole image (row-major), split by leg through column ranges.
    bone_masks = {FEMUR: lm == FEMUR, TIBIA: lm == TIBIA}
    reference_draws: dict[int, NDArray[np.float64]] = {}
    if opts.reference_mode:
        reference_draws = _reference_draws(bone_masks)

    out: list[LegAlignment] = []
    for leg_index, leg in enumerate(ordered):
        if len(ordered) == 2:
            image_side: ImageSide = "left" if leg_index == 0 else "right"
            col_lo, col_hi = _leg_columns(width, x_mid, image_side)  # type: ignore[arg-type]
        else:
            mean_x = float(leg.as_array()[:, 0].mean())
            image_side = leg.image_side or ("left" if mean_x < width / 2 else "right")
            col_lo, col_hi = 0, width
        ctx = _LegContext(
            leg_index=leg_index,
            n_legs=len(ordered),
            joints=leg,
            image_side=image_side,
            col_lo=col_lo,
            col_hi=col_hi,
            width=width,
            height=height,
            pixel_spacing_mm=pixel_spacing_mm,
            image_key=image_key,
            opts=opts,
        )
        ref = None
        if opts.reference_mode:
            ref = {
                bone: pts[(pts[:, 0] >= col_lo) & (pts[:, 0] < col_hi) & _not_on_split(pts[:, 0], x_mid, len(ordered))]
                for bone, pts in reference_draws.items()
            }
            ref["tibia_top"] = _global_top_pixel(bone_masks[TIBIA])  # type: ignore[index]
        out.append(_align_leg(ctx, bone_masks, ref))
    return AlignmentResult(
        image=image_name,
        width=int(width),
        height=int(height),
        pixel_spacing_mm=None if pixel_spacing_mm is None else float(pixel_spacing_mm),
        legs=tuple(out),
        x_mid=None if x_mid is None else float(x_mid),
        options=opts,
    )


def hka_deviation_deg(
    hip_xy: ArrayLike, knee_xy: ArrayLike, ankle_xy: ArrayLike, *, medial_sign: int
) -> tuple[NDArray[np.float64] | float, NDArray[np.float64] | float]:
    """Signed HKA deviation and MAD (px) from joints; arrays broadcast over leading dimensions.

    Parameters
    ----------
    hip_xy, knee_xy, ankle_xy : array_like, shape (..., 2)
    medial_sign : {+1, -1}
        +1 when medial is +x.

    Returns
    -------
    deviation_deg : float or ndarray
        ``arccos`` angle between ``N - H`` and ``A - N``; negative when the knee lies lateral to the
        line H-A (varus), positive when medial (valgus).
    mad_px : float or ndarray
        Perpendicular distance of N from the line H-A, positive when the line passes medial to N.
    """
    h = np.asarray(hip_xy, dtype=np.float64)
    n = np.asarray(knee_xy, dtype=np.float64)
    a = np.asarray(ankle_xy, dtype=np.float64)
    delta = np.asarray(angle_between_deg(n - h, a - n))
    d = a - h
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    normal = np.stack([d[..., 1], -d[..., 0]], axis=-1)
    normal = normal * np.where(normal[..., 0] * medial_sign < 0, -1.0, 1.0)[..., None]
    medial_offset = np.sum((n - h) * normal, axis=-1)
    dev = np.where(medial_offset < 0, -delta, delta)
    mad = -medial_offset
    if np.ndim(dev) == 0:
        return float(dev), float(mad)
    return dev, mad


# --------------------------------------------------------------------------------------------------
# Leg context, sampling


@dataclass(frozen=True)
class _LegContext:
    leg_index: int
    n_legs: int
    joints: LegJoints
    image_side: ImageSide
    col_lo: int
    col_hi: int
    width: int
    height: int
    pixel_spacing_mm: float | None
    image_key: int
    opts: AlignmentOptions


@dataclass(frozen=True, eq=False)
class _BoneMask:
    """Full-resolution mask of one bone of one leg: ``mask`` ``(H, col_hi - col_lo)``, columns offset."""

    mask: NDArray[np.bool_]
    col_lo: int
    pixels_xy: NDArray[np.float64]

    @property
    def count(self) -> int:
        return int(self.pixels_xy.shape[0])

    @property
    def rows_span(self) -> tuple[int, int] | None:
        """First and last row holding a pixel (the pixels are in row-major order), or None."""
        if self.count == 0:
            return None
        return int(self.pixels_xy[0, 1] - 0.5), int(self.pixels_xy[-1, 1] - 0.5)


def _image_key(image_id: int | str) -> int:
    if isinstance(image_id, (int, np.integer)) and int(image_id) >= 0:
        return int(image_id)
    digest = hashlib.sha256(str(image_id).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def _leg_columns(width: int, x_mid: float, image_side: ImageSide) -> tuple[int, int]:
    """Column range ``[lo, hi)`` whose pixel centres lie strictly on the leg's side of ``x_mid``."""
    if image_side == "left":
        hi = int(np.clip(math.ceil(x_mid - 0.5), 0, width))  # c + 0.5 < x_mid
        return 0, hi
    lo = int(np.clip(math.floor(x_mid - 0.5) + 1, 0, width))  # c + 0.5 > x_mid
    return lo, width


def _not_on_split(x: NDArray[np.float64], x_mid: float | None, n_legs: int) -> NDArray[np.bool_]:
    if n_legs < 2 or x_mid is None:
        return np.ones(x.shape, dtype=bool)
    return x != x_mid


def _set_pixels_rc(mask: NDArray[np.bool_]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """``np.nonzero(mask)`` (row-major order) for a 2-D mask, searching only the set pixels' bounding box.

    A bone covers a small part of a long-leg image, and flat indices of a box are several times
    cheaper than 2-D ``nonzero`` of the whole mask.
    """
    rows_set = np.flatnonzero(mask.any(axis=1))
    if rows_set.size == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    r0, r1 = int(rows_set[0]), int(rows_set[-1]) + 1
    cols_set = np.flatnonzero(mask[r0:r1].any(axis=0))
    c0, c1 = int(cols_set[0]), int(cols_set[-1]) + 1
    rows, cols = np.divmod(np.flatnonzero(mask[r0:r1, c0:c1]), c1 - c0)
    return rows + r0, cols + c0


def _bone_mask(masks: Mapping[int, NDArray[np.bool_]], bone: int, ctx: _LegContext) -> _BoneMask:
    sub = masks[bone][:, ctx.col_lo : ctx.col_hi]
    rows, cols = _set_pixels_rc(sub)
    pts = np.column_stack([cols + ctx.col_lo + 0.5, rows + 0.5]).astype(np.float64)
    return _BoneMask(sub, ctx.col_lo, pts)


def _reference_draws(masks: Mapping[int, NDArray[np.bool_]]) -> dict[int, NDArray[np.float64]]:
    """The reference code's single draw per bone: seed 42, ``randint`` with replacement, whole image."""
    out: dict[int, NDArray[np.float64]] = {}
    for bone, size in ((TIBIA, 1000), (FEMUR, 4000)):
        rows, cols = np.nonzero(masks[bone])
        if rows.size == 0:
            out[bone] = np.zeros((0, 2))
            continue
        idx = np.random.RandomState(42).randint(0, rows.size, size=size)
        out[bone] = np.column_stack([cols[idx] + 0.5, rows[idx] + 0.5]).astype(np.float64)
    return out


def _global_top_pixel(mask: NDArray[np.bool_]) -> NDArray[np.float64] | None:
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    return np.array([cols[0] + 0.5, rows[0] + 0.5])  # row-major: smallest row, then smallest column


def _draw_points(bone: _BoneMask, ctx: _LegContext, bone_label: int) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
    """Monte-Carlo samples ``x`` and ``y`` (each ``(B, K)``) and the number of draws they stand for.

    Draw ``r`` takes ``K = min(n_samples, |S|)`` distinct pixels with its own generator seeded by
    ``(seed, image_key, leg, bone, r)``. When ``|S| <= n_samples`` every draw is the whole set, so one
    draw is computed and stands for all ``n_draws``.
    """
    opts = ctx.opts
    n = bone.count
    k = min(opts.n_samples, n)
    px, py = bone.pixels_xy[:, 0], bone.pixels_xy[:, 1]
    if k == n:
        return px[None, :].copy(), py[None, :].copy(), opts.n_draws
    idx = np.empty((opts.n_draws, k), dtype=np.intp)
    for r in range(opts.n_draws):
        rng = np.random.Generator(np.random.PCG64([opts.seed, ctx.image_key, ctx.leg_index, bone_label, r]))
        idx[r] = rng.choice(n, size=k, replace=False, shuffle=False)
    return px[idx], py[idx], opts.n_draws


# --------------------------------------------------------------------------------------------------
# Monte-Carlo fits (all draws at once; coordinates centred on a reference point for conditioning)


@dataclass(frozen=True, eq=False)
class _FemurDraws:
    lower: OlsBatch
    upper: OlsBatch
    neck_point: NDArray[np.float64]  # (B, 2) image coordinates
    neck_dir: NDArray[np.float64]  # (B, 2) unit, toward the hip
    nsa: NDArray[np.float64]  # (B,)
    cora: NDArray[np.float64]  # (B,)
    unstable: NDArray[np.bool_]  # (B,) stop at the first step
    low_elongation: NDArray[np.bool_]  # (B,)
    q_stop: NDArray[np.float64]  # (B,)


@dataclass(frozen=True, eq=False)
class _TibiaDraws:
    upper: OlsBatch
    lower: OlsBatch
    cora: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class _Samples:
    """Centred sample coordinates ``(B, K)`` with their products, shared by several masked fits."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    xx: NDArray[np.float64]
    xy: NDArray[np.float64]
    yy: NDArray[np.float64]

    @classmethod
    def of(cls, x: NDArray[np.float64], y: NDArray[np.float64]) -> _Samples:
        return cls(x, y, x * x, x * y, y * y)


def _quantiles(d: NDArray[np.float64], qs: Sequence[float]) -> NDArray[np.float64]:
    """Linear-interpolation quantiles along axis 1 with one partition: shape ``(len(qs), B)``."""
    k = d.shape[1]
    pos = np.asarray(qs, dtype=np.float64) * (k - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, k - 1)
    part = np.partition(d, sorted(set(lo.tolist()) | set(hi.tolist())), axis=1)
    frac = (pos - lo)[:, None]
    return part[:, lo].T + frac * (part[:, hi].T - part[:, lo].T)


def _masked_fit(s: _Samples, mask: NDArray[np.bool_], method: str) -> OlsBatch:
    """Per-row line ``x = k*y + b`` through the masked samples (OLS x-on-y or PCA), from moment sums."""
    w = mask.astype(np.float64)
    n = w.sum(axis=1)
    sx = np.einsum("ij,ij->i", w, s.x)
    sy = np.einsum("ij,ij->i", w, s.y)
    syy = np.einsum("ij,ij->i", w, s.yy)
    sxy = np.einsum("ij,ij->i", w, s.xy)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = sx / n, sy / n
        cyy = syy / n - my * my
        cxy = sxy / n - mx * my
        if method == "pca":
            sxx = np.einsum("ij,ij->i", w, s.xx)
            cxx = sxx / n - mx * mx
            theta = 0.5 * np.arctan2(2.0 * cxy, cxx - cyy)
            dx, dy = np.cos(theta), np.sin(theta)
            valid = (n >= 2) & (np.abs(dy) > 1e-9) & (cxx + cyy > 1e-12)
            k = np.where(valid, dx / np.where(valid, dy, 1.0), np.nan)
        else:
            valid = (n >= 2) & (cyy > 1e-12)
            k = np.where(valid, cxy / np.where(valid, cyy, 1.0), np.nan)
    b = np.where(valid, mx - k * my, np.nan)
    return OlsBatch(k, b, valid)


def _femur_draws(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    hip: NDArray[np.float64],
    knee: NDArray[np.float64],
    opts: AlignmentOptions,
) -> _FemurDraws:
    """Shaft fits, femoral CORA and NSA for every draw (``x``, ``y`` ``(B, K)`` image coordinates)."""
    origin = knee
    s = _Samples.of(x - origin[0], y - origin[1])
    hc = hip - origin
    d_n = np.sqrt(s.xx + s.yy)
    lo, hi = opts.femur_upper_range
    q_low, q_u0, q_u1 = _quantiles(d_n, [opts.femur_lower_frac, lo, hi])
    method = "ols" if opts.reference_mode else opts.shaft_fit
    lower = _masked_fit(s, d_n <= q_low[:, None], method)
    upper = _masked_fit(s, (d_n > q_u0[:, None]) & (d_n <= q_u1[:, None]), method)
    cora = np.asarray(acute_angle_between_deg(lower.directions_down(), upper.directions_down()), dtype=np.float64)

    dx, dy = s.x - hc[0], s.y - hc[1]
    d_h = np.sqrt(dx * dx + dy * dy)
    if opts.reference_mode:
        neck_point, neck_dir, nsa, unstable, low_el, q_stop = _neck_reference(s, d_h, hc, upper, opts)
    else:
        neck_point, neck_dir, unstable, low_el, q_stop = _neck_growing(dx, dy, d_h, hc, upper, opts)
        nsa = _directed_nsa(neck_point, neck_dir, hc, upper)
    return _FemurDraws(
        lower=_shift_ols(lower, origin),
        upper=_shift_ols(upper, origin),
        neck_point=neck_point + origin,
        neck_dir=neck_dir,
        nsa=nsa,
        cora=cora,
        unstable=unstable,
        low_elongation=low_el,
        q_stop=q_stop,
    )


def _shift_ols(fit: OlsBatch, origin: NDArray[np.float64]) -> OlsBatch:
    """Convert ``x' = k y' + b'`` in coordinates centred on ``origin`` back to image coordinates."""
    return OlsBatch(fit.k, fit.b + origin[0] - fit.k * origin[1], fit.valid)


def _neck_growing(
    dx: NDArray[np.float64],
    dy: NDArray[np.float64],
    d_h: NDArray[np.float64],
    hc: NDArray[np.float64],
    upper: OlsBatch,
    opts: AlignmentOptions,
) -> tuple[NDArray, NDArray, NDArray, NDArray, NDArray]:
    """The spec's growing neck procedure (§5.6 [D]) for all draws at once.

    ``dx, dy`` are sample coordinates relative to the hip; ``hc`` is the hip and ``upper`` the upper
    shaft lines, both in the knee-centred frame. Points are sorted by distance to the hip; the PCA
    line of every prefix comes from cumulative moment sums, and each step's newly added points are a
    contiguous slice of the sorted order. Returns knee-centred neck points, unit neck directions
    (toward the hip), the first-step flags, the low-elongation flags and the stop quantile.
    """
    b_count, k_count = d_h.shape
    levels = np.arange(opts.neck_q0, opts.neck_qmax + 0.5 * opts.neck_dq, opts.neck_dq)
    levels = levels[levels <= opts.neck_qmax + 1e-9]
    # Keep the nearest points up to q_max plus a margin for ties at the last quantile.
    m = min(k_count, int(math.ceil(levels[-1] * (k_count - 1))) + 2 + int(math.ceil(0.02 * k_count)))
    if m < k_count:
        part = np.argpartition(d_h, m - 1, axis=1)[:, :m]
        d_part = np.take_along_axis(d_h, part, axis=1)
    else:
        part = np.broadcast_to(np.arange(k_count), (b_count, k_count))
        d_part = d_h
    order = np.argsort(d_part, axis=1)
    ds = np.take_along_axis(d_part, order, axis=1)
    sidx = np.take_along_axis(part, order, axis=1)
    sx = np.take_along_axis(dx, sidx, axis=1)
    sy = np.take_along_axis(dy, sidx, axis=1)

    # Quantile values at every level (linear interpolation on the full sorted order; positions lie
    # inside the kept prefix) and the counts of points <= each value (ties included).
    pos = levels * (k_count - 1)
    i0 = np.floor(pos).astype(np.intp)
    frac = pos - i0
    i1 = np.minimum(i0 + 1, m - 1)
    qv = ds[:, i0] + frac * (ds[:, i1] - ds[:, i0])  # (B, L)
    counts = np.empty(qv.shape, dtype=np.intp)
    for j in range(levels.size):
        counts[:, j] = (ds <= qv[:, j : j + 1]).sum(axis=1)

    zeros = np.zeros((b_count, 1))

    def csum(a: NDArray) -> NDArray:
        return np.concatenate([zeros, np.cumsum(a, axis=1)], axis=1)

    def gather(c: NDArray) -> NDArray:
        return np.take_along_axis(c, counts, axis=1)  # (B, L)

    pca = pca_from_moments(
        counts, gather(csum(sx)), gather(csum(sy)), gather(csum(sx * sx)), gather(csum(sx * sy)), gather(csum(sy * sy))
    )
    # Distance of the sorted points to each draw's upper-shaft line, in hip-centred coordinates.
    k_u = np.nan_to_num(upper.k)
    b_u = np.nan_to_num(upper.b + upper.k * hc[1] - hc[0])
    cu = csum(np.abs(sx - (k_u[:, None] * sy + b_u[:, None])) / np.sqrt(1.0 + k_u[:, None] ** 2))

    n_levels = levels.size
    # A near-round set (the femoral head alone) has no defined direction: the stop test only starts
    # once the previous neck line is elongated (lambda1 / lambda2 >= neck_min_elongation).
    elongated = pca.lambda1 >= opts.neck_min_elongation * pca.lambda2
    cond = np.zeros((b_count, n_levels), dtype=bool)
    rows = np.arange(b_count)
    for j in range(1, n_levels):
        c0, c1 = counts[:, j - 1], counts[:, j]
        n_new = c1 - c0
        width = int(n_new.max())
        if width <= 0:
            continue
        mean_u = (cu[rows, c1] - cu[rows, c0]) / np.maximum(n_new, 1)
        idx = c0[:, None] + np.arange(width)[None, :]
        valid = idx < c1[:, None]
        idx = np.minimum(idx, m - 1)
        wx = np.take_along_axis(sx, idx, axis=1) - pca.mean_xy[:, j - 1, 0][:, None]
        wy = np.take_along_axis(sy, idx, axis=1) - pca.mean_xy[:, j - 1, 1][:, None]
        dvec = pca.direction_xy[:, j - 1, :]
        dist_l = np.abs(wx * dvec[:, 1][:, None] - wy * dvec[:, 0][:, None])
        mean_l = (dist_l * valid).sum(axis=1) / np.maximum(n_new, 1)
        cond[:, j] = (n_new > 0) & (mean_u < mean_l) & elongated[:, j - 1]
    any_stop = cond.any(axis=1)
    j_stop = np.where(any_stop, np.argmax(cond, axis=1), n_levels - 1)
    j_axis = np.maximum(j_stop - 1, 0)
    neck_mean = pca.mean_xy[rows, j_axis] + hc
    neck_dir = pca.direction_xy[rows, j_axis]
    # Direct the axis toward the hip: from the mean, the hip lies along +dir.
    towards_hip = np.sum((hc[None, :] - neck_mean) * neck_dir, axis=1)
    neck_dir = neck_dir * np.where(towards_hip < 0, -1.0, 1.0)[:, None]
    low_el = ~elongated[rows, j_axis]
    ok = pca.valid[rows, j_axis] & upper.valid
    neck_mean[~ok] = np.nan
    return neck_mean, neck_dir, (j_stop == 1) & ok, low_el & ok, levels[j_stop]


def _neck_reference(
    s: _Samples,
    d_h: NDArray[np.float64],
    hc: NDArray[np.float64],
    upper: OlsBatch,
    opts: AlignmentOptions,
) -> tuple[NDArray, NDArray, NDArray, NDArray, NDArray, NDArray]:
    """Reference neck: PCA of the fixed nearest ``reference_neck_frac`` and the obtuse NSA fold."""
    (q,) = _quantiles(d_h, [opts.reference_neck_frac])
    mask = d_h <= q[:, None]
    pca = fit_lines_pca(np.stack([s.x, s.y], axis=-1), mask)
    neck_dir = pca.direction_xy
    towards_hip = np.sum((hc[None, :] - pca.mean_xy) * neck_dir, axis=1)
    neck_dir = neck_dir * np.where(towards_hip < 0, -1.0, 1.0)[:, None]
    acute = np.asarray(acute_angle_between_deg(neck_dir, upper.directions_down()), dtype=np.float64)
    ok = pca.valid & upper.valid
    nsa = np.where(ok, 180.0 - acute, np.nan)
    b_count = d_h.shape[0]
    false = np.zeros(b_count, dtype=bool)
    q_stop = np.full(b_count, opts.reference_neck_frac)
    return pca.mean_xy, neck_dir, nsa, false, false, q_stop


def _directed_nsa(
    neck_point: NDArray[np.float64], neck_dir: NDArray[np.float64], hc: NDArray[np.float64], upper: OlsBatch
) -> NDArray[np.float64]:
    """``arccos(u_neck . u_shaft)`` at the crossing X of the neck axis and the upper shaft line.

    Coordinates are knee-centred (the knee is the origin), so ``u_shaft`` points from X toward 0.
    """
    k, b = upper.k, upper.b
    # Neck: q(t) = P + t d. Shaft: x = k y + b. Solve P_x + t d_x = k (P_y + t d_y) + b.
    den = neck_dir[:, 0] - k * neck_dir[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (k * neck_point[:, 1] + b - neck_point[:, 0]) / den
    x_pt = neck_point + t[:, None] * neck_dir
    u_neck = hc[None, :] - x_pt
    u_shaft = upper.directions_down()
    toward_knee = np.sum(-x_pt * u_shaft, axis=1)
    u_shaft = u_shaft * np.where(toward_knee < 0, -1.0, 1.0)[:, None]
    with np.errstate(invalid="ignore"):
        nsa = np.asarray(angle_between_deg(u_neck, u_shaft), dtype=np.float64)
    bad = ~np.isfinite(t) | (np.abs(den) < 1e-9) | ~upper.valid
    return np.where(bad, np.nan, nsa)


def _tibia_draws(
    x: NDArray[np.float64], y: NDArray[np.float64], ref_xy: NDArray[np.float64], opts: AlignmentOptions
) -> _TibiaDraws:
    """Proximal / distal tibial shaft fits and the tibial CORA angle for every draw."""
    s = _Samples.of(x - ref_xy[0], y - ref_xy[1])
    d = np.sqrt(s.xx + s.yy)
    q_up, q_low = _quantiles(d, [opts.upper_frac, opts.lower_start])
    method = "ols" if opts.reference_mode else opts.shaft_fit
    upper = _masked_fit(s, d <= q_up[:, None], method)
    lower = _masked_fit(s, d > q_low[:, None], method)
    cora = np.asarray(acute_angle_between_deg(upper.directions_down(), lower.directions_down()), dtype=np.float64)
    return _TibiaDraws(_shift_ols(upper, ref_xy), _shift_ols(lower, ref_xy), cora)


# --------------------------------------------------------------------------------------------------
# Landmarks from full-resolution boundaries


def _extremum(xs: NDArray[np.float64], ys: NDArray[np.float64], *, lowest: bool, depth: float) -> NDArray[np.float64]:
    """Sub-pixel extreme point of a boundary sampled once per column (``xs`` ascending, unit steps).

    ``lowest=True`` maximises y (a bottom boundary), otherwise minimises it. A parabola is fitted to
    the contiguous run of columns within ``depth`` px of the extreme; when that is not possible the
    mean x of the tied extreme columns is used.
    """
    s = ys if lowest else -ys
    i_best = int(np.argmax(s))
    s_best = s[i_best]
    good = s >= s_best - depth
    breaks = np.concatenate([[True], (np.diff(xs) > 1.5) | ~good[1:] | ~good[:-1]])
    run = np.cumsum(breaks)
    sel = (run == run[i_best]) & good
    wx, ws = xs[sel], s[sel]
    tied = wx[ws == s_best]
    fallback = np.array([tied.mean(), ys[i_best]])
    if wx.size >= 5 and np.unique(ws).size >= 2:
        xc = wx.mean()
        a, b, c = np.polyfit(wx - xc, ws, 2)
        if a < 0:
            xv = -b / (2 * a)
            sv = c - b * b / (4 * a)
            if wx.min() - xc <= xv <= wx.max() - xc and abs(sv - s_best) <= 1.0:
                return np.array([xv + xc, sv if lowest else -sv])
    return fallback


def _bottom_boundary(mask: NDArray[np.bool_], r0: int, r1: int, col_lo: int) -> tuple[NDArray, NDArray]:
    """Per column of rows ``[r0, r1]``: x centre and bottom-edge y (``max row + 1``) where present."""
    sub = mask[r0 : r1 + 1]
    cols = np.flatnonzero(sub.any(axis=0))
    if cols.size == 0:  # an empty band (tiny or degenerate bone): callers turn this into a null + flag
        return np.empty(0), np.empty(0)
    last = sub.shape[0] - 1 - np.argmax(sub[::-1, cols], axis=0)
    return cols + col_lo + 0.5, (r0 + last + 1).astype(np.float64)


def _top_boundary(mask: NDArray[np.bool_], r0: int, r1: int, col_lo: int) -> tuple[NDArray, NDArray]:
    """Per column of rows ``[r0, r1]``: x centre and top-edge y (``min row``) where present."""
    sub = mask[r0 : r1 + 1]
    cols = np.flatnonzero(sub.any(axis=0))
    if cols.size == 0:
        return np.empty(0), np.empty(0)
    first = np.argmax(sub[:, cols], axis=0)
    return cols + col_lo + 0.5, (r0 + first).astype(np.float64)


def _tilt_from_perpendicular(line_dir: NDArray[np.float64], axis: NDArray[np.float64]) -> float:
    return 90.0 - float(acute_angle_between_deg(line_dir, axis))


def _femoral_joint_line(
    femur: _BoneMask, ctx: _LegContext, medial_sign: int
) -> tuple[Line | None, NDArray | None, str | None]:
    span = femur.rows_span
    if span is None:
        return None, None, "no femur pixels"
    top, low = span
    height = low - top + 1
    r0 = max(top, int(math.ceil(low + 1 - ctx.opts.distal_femur_band * height)))
    xs, bs = _bottom_boundary(femur.mask, r0, low, femur.col_lo)
    side = (xs - ctx.joints.knee_xy[0]) * medial_sign
    med, lat = side > 0, side < 0
    if med.sum() < 1 or lat.sum() < 1:
        return None, None, "distal femoral boundary does not reach both sides of the knee"
    pm = _extremum(xs[med], bs[med], lowest=True, depth=ctx.opts.extremum_depth_px)
    pl = _extremum(xs[lat], bs[lat], lowest=True, depth=ctx.opts.extremum_depth_px)
    if np.allclose(pm, pl):
        return None, None, "distal femoral joint line degenerate"
    line = Line(pm, pl - pm)  # medial -> lateral
    tilt = _tilt_from_perpendicular(line.direction_xy, ctx.joints.hip_xy - ctx.joints.knee_xy)
    if tilt > ctx.opts.max_joint_line_tilt_deg:
        return None, None, f"distal femoral joint line invalid (angle {tilt:.0f}° from perpendicular)"
    return line, np.vstack([pm, pl]), None


def _ransac_threshold(width_px: float, opts: AlignmentOptions) -> float:
    return max(opts.ransac_threshold_frac * width_px, 1.0)


def _plateau_line(tibia: _BoneMask, ctx: _LegContext, medial_sign: int) -> tuple[Line | None, str | None]:
    span = tibia.rows_span
    if span is None:
        return None, "no tibia pixels"
    top, low = span
    height = low - top + 1
    r1 = min(low, top + max(int(math.ceil(ctx.opts.plateau_band * height)) - 1, 0))
    xs, ts = _top_boundary(tibia.mask, top, r1, tibia.col_lo)
    if xs.size < 4:
        return None, "tibial plateau boundary too short"
    width = xs.max() - xs.min() + 1.0
    centre = 0.5 * (xs.max() + xs.min())
    keep = np.abs(xs - centre) >= 0.5 * ctx.opts.spine_exclusion * width
    if keep.sum() < 4:
        return None, "tibial plateau boundary too short"
    pts = np.column_stack([xs[keep], ts[keep]])
    try:
        fit = fit_line_ransac(
            pts,
            residual_threshold=_ransac_threshold(width, ctx.opts),
            max_trials=ctx.opts.ransac_trials,
            seed=ctx.opts.seed,
        )
    except GeometryError as exc:
        return None, f"tibial plateau line fit failed ({exc})"
    line = fit.line.oriented(np.array([medial_sign, 0.0]))  # lateral -> medial
    tilt = _tilt_from_perpendicular(line.direction_xy, ctx.joints.ankle_xy - ctx.joints.knee_xy)
    if tilt > ctx.opts.max_joint_line_tilt_deg:
        return None, f"tibial plateau line invalid (angle {tilt:.0f}° from perpendicular)"
    return line, None


def _plafond_line(tibia: _BoneMask, ctx: _LegContext, medial_sign: int) -> tuple[Line | None, str | None]:
    span = tibia.rows_span
    if span is None:
        return None, "no tibia pixels"
    top, low = span
    height = low - top + 1
    r0 = max(top, int(math.ceil(low + 1 - ctx.opts.plafond_band * height)))
    xs, bs = _bottom_boundary(tibia.mask, r0, low, tibia.col_lo)
    if xs.size < 4:
        return None, "plafond boundary too short"
    width = xs.max() - xs.min() + 1.0
    centre = 0.5 * (xs.max() + xs.min())
    keep = np.abs(xs - centre) <= 0.5 * ctx.opts.plafond_keep * width
    if keep.sum() < 4:
        return None, "plafond boundary too short"
    pts = np.column_stack([xs[keep], bs[keep]])
    try:
        fit = fit_line_ransac(
            pts,
            residual_threshold=_ransac_threshold(width, ctx.opts),
            max_trials=ctx.opts.ransac_trials,
            seed=ctx.opts.seed,
        )
    except GeometryError as exc:
        return None, f"plafond line fit failed ({exc})"
    line = fit.line.oriented(np.array([-medial_sign, 0.0]))  # medial -> lateral
    tilt = _tilt_from_perpendicular(line.direction_xy, ctx.joints.knee_xy - ctx.joints.ankle_xy)
    if tilt > ctx.opts.max_joint_line_tilt_deg:
        return None, f"plafond line invalid (angle {tilt:.0f}° from perpendicular)"
    return line, None


def _head_radius(femur: _BoneMask, hip: NDArray[np.float64], max_len: float) -> float | None:
    """Half the narrowest femur chord through the hip centre (36 directions, 0.5 px steps)."""
    mask = femur.mask
    h, w = mask.shape
    r0, c0 = int(math.floor(hip[1])), int(math.floor(hip[0])) - femur.col_lo
    if not (0 <= r0 < h and 0 <= c0 < w and mask[r0, c0]):
        return None
    theta = np.deg2rad(np.arange(0.0, 180.0, 5.0))
    dirs = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    steps = np.arange(0.5, max(max_len, 2.0), 0.5)
    half = []
    for sgn in (1.0, -1.0):
        px = hip[0] + sgn * dirs[:, 0, None] * steps[None, :]
        py = hip[1] + sgn * dirs[:, 1, None] * steps[None, :]
        cc = np.floor(px).astype(np.intp) - femur.col_lo
        rr = np.floor(py).astype(np.intp)
        inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        val = np.zeros(inside.shape, dtype=bool)
        val[inside] = mask[rr[inside], cc[inside]]
        out = ~val
        first_out = np.where(out.any(axis=1), np.argmax(out, axis=1), steps.size - 1)
        half.append(steps[first_out] - 0.25)
    chord = half[0] + half[1]
    return float(chord.min() / 2.0)


def _greater_trochanter(
    femur: _BoneMask, ctx: _LegContext, medial_sign: int
) -> tuple[NDArray | None, float | None, str | None]:
    hip, knee = ctx.joints.hip_xy, ctx.joints.knee_xy
    l_f = float(np.linalg.norm(hip - knee))
    radius = _head_radius(femur, hip, 0.25 * l_f)
    if radius is None:
        return None, None, "hip centre lies outside the femur mask"
    row_lim = hip[1] + ctx.opts.gt_row_limit_frac * l_f  # pixel centres y < row_lim
    r1 = int(math.ceil(row_lim - 0.5)) - 1
    mask = femur.mask
    xs_all = np.arange(mask.shape[1]) + femur.col_lo + 0.5
    # 10% margin: the head's own rim (pixelated, radius slightly under-estimated) must not qualify.
    lateral = (xs_all - hip[0]) * (-medial_sign) > ctx.opts.gt_radius_margin * radius
    r1 = min(r1, mask.shape[0] - 1)
    if r1 < 0 or not lateral.any():
        return None, radius, "greater trochanter not found"
    sub = mask[: r1 + 1][:, lateral]
    cols = np.flatnonzero(sub.any(axis=0))
    if cols.size == 0:
        return None, radius, "greater trochanter not found"
    first = np.argmax(sub[:, cols], axis=0)
    xs = xs_all[lateral][cols]
    tip = _extremum(xs, first.astype(np.float64), lowest=False, depth=ctx.opts.extremum_depth_px)
    return tip, radius, None


# --------------------------------------------------------------------------------------------------
# Metric assembly


def _mc_metric(values: NDArray[np.float64], n_represented: int, *, unit: str = "deg") -> MetricValue | None:
    """Median and spread of the finite draws; ``None`` when there is none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    if v.size == 1 and n_represented > 1:
        # |S| <= n_samples: every draw is the whole set; one computation stands for all of them.
        val = float(v[0])
        return MetricValue(val, 0.0, val, val, val, n_represented, unit, "monte_carlo")
    p2, med, p97 = np.percentile(v, [2.5, 50.0, 97.5])
    sd = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return MetricValue(float(med), sd, float(p2), float(p97), float(v.mean()), int(v.size), unit, "monte_carlo")


def _fixed_metric(value: float, draws: NDArray[np.float64] | None, *, unit: str, method: str) -> MetricValue:
    """An exact (landmark / joint) metric; with joint draws, the spread comes from them."""
    if draws is None:
        return MetricValue(float(value), 0.0, float(value), float(value), float(value), 1, unit, method)
    d = np.asarray(draws, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return MetricValue(float(value), 0.0, float(value), float(value), float(value), 1, unit, method)
    p2, p97 = np.percentile(d, [2.5, 97.5])
    return MetricValue(float(value), float(d.std(ddof=1)), float(p2), float(p97), float(d.mean()), int(d.size), unit, method + "+joint_variance")


def _joint_draws(ctx: _LegContext) -> NDArray[np.float64] | None:
    var = ctx.joints.variance_xy
    if var is None:
        return None
    var = np.asarray(var, dtype=np.float64)
    if var.shape != (3, 2) or not np.all(np.isfinite(var)) or np.any(var < 0) or not np.any(var > 0):
        return None
    rng = np.random.default_rng([ctx.opts.seed, ctx.image_key, ctx.leg_index, 0, 0])
    noise = rng.standard_normal((ctx.opts.n_draws, 3, 2)) * np.sqrt(var)[None]
    return ctx.joints.as_array()[None] + noise


def _median_line(fit: OlsBatch) -> Line | None:
    ok = fit.valid & np.isfinite(fit.k) & np.isfinite(fit.b)
    if not ok.any():
        return None
    return Line.from_x_on_y(float(np.median(fit.k[ok])), float(np.median(fit.b[ok])))


def _cora_point(fit_a: OlsBatch, fit_b: OlsBatch, ctx: _LegContext, angle_deg: float) -> tuple[float, float] | None:
    """Crossing of the median proximal and distal lines (:func:`cora_crossing`)."""
    return cora_crossing(_median_line(fit_a), _median_line(fit_b), angle_deg, width=ctx.width, height=ctx.height,
                         min_deg=ctx.opts.cora_point_min_deg)


def cora_crossing(first: Line | None, second: Line | None, angle_deg: float, *, width: float, height: float,
                  min_deg: float) -> tuple[float, float] | None:
    """Crossing of two shaft axes; ``None`` when an axis is missing, the crossing lies outside the
    ``width`` x ``height`` image, or the axes are within ``min_deg`` of parallel (the crossing is then
    undetermined)."""
    if angle_deg < min_deg or first is None or second is None:
        return None
    pt = intersect_lines(first, second, parallel_tol=1e-6)
    if pt is None or not (0.0 <= pt[0] <= width and 0.0 <= pt[1] <= height):
        return None
    return float(pt[0]), float(pt[1])


def _infer_medial_sign(hip: NDArray[np.float64], upper_axis: Line | None) -> int | None:
    """+1 when the femoral head lies at larger x than the proximal shaft axis (medial = +x)."""
    if upper_axis is None:
        return None
    try:
        x_axis = upper_axis.x_at(float(hip[1]))
    except GeometryError:
        return None
    if hip[0] == x_axis:
        return None
    return 1 if hip[0] > x_axis else -1


def _align_leg(
    ctx: _LegContext, masks: Mapping[int, NDArray[np.bool_]], ref: Mapping[Any, Any] | None
) -> LegAlignment:
    opts = ctx.opts
    joints = ctx.joints
    hip, knee, ankle = joints.hip_xy, joints.knee_xy, joints.ankle_xy
    flags: list[str] = []
    metrics: dict[str, MetricValue | None] = {name: None for name in METRIC_NAMES}
    reasons: dict[str, str] = {}

    femur = _bone_mask(masks, FEMUR, ctx)
    tibia = _bone_mask(masks, TIBIA, ctx)
    femur_ok = femur.count >= opts.min_pixels
    tibia_ok = tibia.count >= opts.min_pixels
    if not femur_ok:
        flags.append(f"femur: {femur.count} pixels (< {opts.min_pixels}); mask-based femur metrics skipped")
        for name in _FEMUR_MASK_METRICS:
            reasons.setdefault(name, f"too few femur pixels ({femur.count})")
    if not tibia_ok:
        flags.append(f"tibia: {tibia.count} pixels (< {opts.min_pixels}); mask-based tibia metrics skipped")
        for name in _TIBIA_MASK_METRICS:
            reasons.setdefault(name, f"too few tibia pixels ({tibia.count})")

    # ---- Monte Carlo ---------------------------------------------------------------------------
    fd: _FemurDraws | None = None
    n_rep_f = n_rep_t = 1
    if femur_ok:
        if ref is not None:
            xf, yf, n_rep_f = ref[FEMUR][None, :, 0], ref[FEMUR][None, :, 1], 1
            h_use, n_use = np.trunc(hip), np.trunc(knee)
        else:
            xf, yf, n_rep_f = _draw_points(femur, ctx, FEMUR)
            h_use, n_use = hip, knee
        if xf.shape[1] >= opts.min_pixels:
            fd = _femur_draws(xf, yf, h_use, n_use, opts)
        else:
            reasons.setdefault("femoral_cora_deg", "too few sampled femur pixels")
    td: _TibiaDraws | None = None
    t_ref: NDArray[np.float64] | None = None
    if tibia_ok:
        if ref is not None:
            xt, yt, n_rep_t = ref[TIBIA][None, :, 0], ref[TIBIA][None, :, 1], 1
            t_ref = ref["tibia_top"]
        else:
            xt, yt, n_rep_t = _draw_points(tibia, ctx, TIBIA)
            if opts.tibia_reference == "knee":
                t_ref = knee.copy()
            else:
                t_ref = tibia.pixels_xy[0].copy()  # row-major: top-most row, then left-most column
        if xt.shape[1] >= opts.min_pixels and t_ref is not None:
            td = _tibia_draws(xt, yt, t_ref, opts)
        else:
            reasons.setdefault("tibial_cora_deg", "too few sampled tibia pixels")

    upper_axis = _median_line(fd.upper) if fd is not None else None

    # ---- Sides ---------------------------------------------------------------------------------
    anatomical_side = joints.anatomical_side
    medial_sign: int | None
    if ctx.n_legs == 2:
        medial_sign = 1 if ctx.image_side == "left" else -1
        if anatomical_side is None:
            anatomical_side = "right" if ctx.image_side == "left" else "left"
    elif anatomical_side is not None:
        medial_sign = 1 if anatomical_side == "right" else -1
    else:
        medial_sign = _infer_medial_sign(hip, upper_axis)
        if medial_sign is not None:
            anatomical_side = "right" if medial_sign > 0 else "left"
            flags.append("anatomical_side_inferred")
        else:
            flags.append("medial_direction_unknown")

    # ---- Joint-only metrics --------------------------------------------------------------------
    jd = _joint_draws(ctx)
    delta = float(angle_between_deg(knee - hip, ankle - knee))
    delta_draws = None
    if jd is not None:
        delta_draws = np.asarray(angle_between_deg(jd[:, 1] - jd[:, 0], jd[:, 2] - jd[:, 1]))
    metrics["HKA"] = _fixed_metric(180.0 - delta, None if delta_draws is None else 180.0 - delta_draws, unit="deg", method="joints")
    if medial_sign is not None:
        dev, mad_px = hka_deviation_deg(hip, knee, ankle, medial_sign=medial_sign)
        dev_d = mad_d = None
        if jd is not None:
            dev_d, mad_d = hka_deviation_deg(jd[:, 0], jd[:, 1], jd[:, 2], medial_sign=medial_sign)
        metrics["hka_deviation_deg"] = _fixed_metric(float(dev), dev_d, unit="deg", method="joints")
        scale = ctx.pixel_spacing_mm or 1.0
        mad = _fixed_metric(float(mad_px) * scale, None if mad_d is None else np.asarray(mad_d) * scale, unit="mm" if ctx.pixel_spacing_mm else "px", method="joints")
        metrics["MAD"] = replace(mad, value_px=float(mad_px))
    else:
        for name in ("hka_deviation_deg", "MAD"):
            reasons[name] = "medial direction unknown (single leg, no anatomical_side, femur axis unavailable)"

    # ---- Landmarks -----------------------------------------------------------------------------
    jl_f = plateau = plafond = None
    condyles = gt = None
    head_r = None
    if medial_sign is not None:
        if femur_ok:
            jl_f, condyles, why = _femoral_joint_line(femur, ctx, medial_sign)
            if why:
                for name in ("mLDFA", "aLDFA", "JLCA"):
                    reasons.setdefault(name, why)
            gt, head_r, why = _greater_trochanter(femur, ctx, medial_sign)
            if why:
                reasons.setdefault("mLPFA", why)
        if tibia_ok:
            plateau, why = _plateau_line(tibia, ctx, medial_sign)
            if why:
                for name in ("MPTA", "JLCA"):
                    reasons.setdefault(name, why)
            plafond, why = _plafond_line(tibia, ctx, medial_sign)
            if why:
                reasons.setdefault("mLDTA", why)
    else:
        for name in ("mLDFA", "aLDFA", "mLPFA", "MPTA", "mLDTA", "JLCA"):
            reasons.setdefault(name, "medial direction unknown")

    def jmetric(fn: Any) -> MetricValue:
        value = float(fn(hip, knee, ankle))
        draws = None if jd is None else np.asarray(fn(jd[:, 0], jd[:, 1], jd[:, 2]), dtype=np.float64)
        return _fixed_metric(value, draws, unit="deg", method="landmark")

    if jl_f is not None:
        jf = jl_f.direction_xy
        metrics["mLDFA"] = jmetric(lambda h, n, a: angle_between_deg(h - n, jf))
    if gt is not None:
        metrics["mLPFA"] = jmetric(lambda h, n, a: angle_between_deg(n - h, gt - h))
    if plateau is not None:
        pm = plateau.direction_xy
        metrics["MPTA"] = jmetric(lambda h, n, a: angle_between_deg(a - n, pm))
    if plafond is not None:
        pf = plafond.direction_xy
        metrics["mLDTA"] = jmetric(lambda h, n, a: angle_between_deg(n - a, pf))
    if jl_f is not None and plateau is not None:
        jlca = float(acute_angle_between_deg(jl_f.direction_xy, plateau.direction_xy))
        metrics["JLCA"] = _fixed_metric(jlca, None, unit="deg", method="landmark")

    # ---- Monte-Carlo metrics -------------------------------------------------------------------
    lower_axis = neck_axis = None
    q_stop = None
    if fd is not None:
        metrics["femoral_cora_deg"] = _mc_metric(fd.cora, n_rep_f)
        if metrics["femoral_cora_deg"] is not None:
            fc = metrics["femoral_cora_deg"]
            metrics["femoral_cora_deg"] = replace(fc, point_xy=_cora_point(fd.lower, fd.upper, ctx, fc.value))
        else:
            reasons.setdefault("femoral_cora_deg", "shaft fits failed in every draw")
        metrics["NSA"] = _mc_metric(fd.nsa, n_rep_f)
        if metrics["NSA"] is None:
            reasons.setdefault("NSA", "neck axis does not cross the upper shaft axis in any draw")
        else:
            if opts.reference_mode:
                metrics["NSA"] = replace(metrics["NSA"], method="reference_fixed_15pct_obtuse")  # type: ignore[type-var]
            n_valid = int(np.isfinite(fd.nsa).sum())
            n_unst = int(fd.unstable.sum())
            n_el = int(fd.low_elongation.sum())
            if n_unst:
                flags.append(f"neck_axis_unstable: NSA neck growth stopped at the first step in {n_unst}/{n_valid} draws")
            if n_el:
                flags.append(f"NSA: neck PCA eigenvalue ratio < {opts.neck_min_elongation:g} in {n_el}/{n_valid} draws")
        anat_prox = -fd.lower.directions_down()  # distal anatomic axis, directed proximally
        ama = np.where(fd.lower.valid, np.asarray(angle_between_deg(hip - knee, anat_prox)), np.nan)
        metrics["AMA"] = _mc_metric(ama, n_rep_f)
        if metrics["AMA"] is None:
            reasons.setdefault("AMA", "anatomic axis fit failed in every draw")
        if jl_f is not None:
            aldfa = np.where(fd.lower.valid, np.asarray(angle_between_deg(anat_prox, jl_f.direction_xy)), np.nan)
            metrics["aLDFA"] = _mc_metric(aldfa, n_rep_f)
            if metrics["aLDFA"] is None:
                reasons.setdefault("aLDFA", "anatomic axis fit failed in every draw")
        lower_axis = _median_line(fd.lower)
        ok = np.isfinite(fd.neck_point).all(axis=1)
        if ok.any():
            neck_axis = Line(np.median(fd.neck_point[ok], axis=0), np.median(fd.neck_dir[ok], axis=0))
            q_stop = float(np.median(fd.q_stop[ok]))
    if td is not None:
        metrics["tibial_cora_deg"] = _mc_metric(td.cora, n_rep_t)
        if metrics["tibial_cora_deg"] is not None:
            tc = metrics["tibial_cora_deg"]
            metrics["tibial_cora_deg"] = replace(tc, point_xy=_cora_point(td.upper, td.lower, ctx, tc.value))
        else:
            reasons.setdefault("tibial_cora_deg", "shaft fits failed in every draw")

    length_landmarks = _length_landmarks(femur, ctx, condyles, medial_sign, head_r)
    for name, value_px in leg_length_values(length_landmarks, knee, ankle).items():
        if value_px is None:
            reasons.setdefault(name, "femoral-head apex or condyles not found")
            continue
        length = _fixed_metric(value_px * (ctx.pixel_spacing_mm or 1.0), None,
                               unit="mm" if ctx.pixel_spacing_mm else "px", method="landmarks")
        metrics[name] = replace(length, value_px=value_px)

    for name in METRIC_NAMES:
        if metrics[name] is None:
            flags.append(f"{name}: {reasons.get(name, 'not computable')}")

    landmarks = LegLandmarks(
        femoral_joint_line=jl_f,
        condyle_points_xy=condyles,
        tibial_plateau_line=plateau,
        plafond_line=plafond,
        greater_trochanter_xy=gt,
        head_radius_px=head_r,
        femoral_upper_axis=upper_axis,
        femoral_lower_axis=lower_axis,
        femoral_neck_axis=neck_axis,
        tibial_upper_axis=None if td is None else _median_line(td.upper),
        tibial_lower_axis=None if td is None else _median_line(td.lower),
        tibia_reference_xy=t_ref,
        neck_q_stop=q_stop,
    )
    return LegAlignment(
        image_side=ctx.image_side,
        anatomical_side=anatomical_side,
        joints=LegJoints.from_array(joints.as_array(), image_side=ctx.image_side, anatomical_side=anatomical_side, variance_xy=joints.variance_xy),
        medial_sign=medial_sign,
        metrics=metrics,
        flags=tuple(flags),
        landmarks=landmarks,
        length_landmarks=length_landmarks,
    )


def with_femoral_head_apex(leg: LegAlignment, apex_xy: NDArray[np.float64], *,
                           pixel_spacing_mm: float | None) -> LegAlignment:
    """``leg`` with its femoral-head apex replaced (e.g. by the leg localiser's) and its lengths recomputed."""
    landmarks = replace(leg.length_landmarks, femoral_head_apex=np.asarray(apex_xy, dtype=np.float64))
    metrics = dict(leg.metrics)
    flags = [f for f in leg.flags if not f.startswith(tuple(f"{name}:" for name in LENGTH_METRICS))]
    for name, value_px in leg_length_values(landmarks, leg.joints.knee_xy, leg.joints.ankle_xy).items():
        if value_px is None:
            metrics[name] = None
            flags.append(f"{name}: femoral-head apex or condyles not found")
            continue
        length = _fixed_metric(value_px * (pixel_spacing_mm or 1.0), None, unit="mm" if pixel_spacing_mm else "px",
                               method="landmarks")
        metrics[name] = replace(length, value_px=value_px)
    return replace(leg, metrics=metrics, length_landmarks=landmarks, flags=tuple(flags))


def _length_landmarks(femur: _BoneMask, ctx: _LegContext, condyles: NDArray[np.float64] | None,
                      medial_sign: int | None, head_radius: float | None) -> LengthLandmarks:
    """Femoral-head apex and the condyles as medial / lateral ends of the knee joint line."""
    apex = None
    if femur.count >= ctx.opts.min_pixels:
        apex = femoral_head_apex_xy(femur.mask, femur.col_lo, ctx.joints.hip_xy, head_radius)
    if condyles is None or medial_sign is None:
        return LengthLandmarks(femoral_head_apex=apex)
    return LengthLandmarks(femoral_head_apex=apex, medial_knee_joint_line=np.asarray(condyles[0], float),
                           lateral_knee_joint_line=np.asarray(condyles[1], float))
