"""Alignment options, result records and metric names.

:class:`AlignmentOptions` holds every parameter of the derivation; :class:`MetricValue`,
:class:`LegLandmarks`, :class:`LegAlignment` and :class:`AlignmentResult` hold the results and write
the alignment JSON contract (architecture.md §6). :data:`METRIC_NAMES` fixes the order of the metrics
of a leg.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inference.core.geometry import Line
from inference.core.leg_lengths import LENGTH_METRICS, LengthLandmarks, leg_length_discrepancy
from inference.core.legs import AnatomicalSide, ImageSide, LegJoints

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
    #: Joints that lie outside the image (a film cut at the ankle or the hip): absent from the JSON's joints.
    outside_image: tuple[str, ...] = ()
    #: ``{metric name: reason}`` of the metrics that need anatomy outside the image (their value is None).
    not_measurable: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The leg object of the alignment JSON contract (architecture.md §6): a joint outside the image is
        absent from ``joints``, and ``not_measurable`` (present only then) says why each missing metric is."""
        j = self.joints
        joints = {"hip": j.hip_xy, "knee": j.knee_xy, "ankle": j.ankle_xy}
        out = {
            "image_side": self.image_side,
            "anatomical_side": self.anatomical_side,
            "joints": {name: [_jf(xy[0]), _jf(xy[1])] for name, xy in joints.items()
                       if name not in self.outside_image},
            "metrics": {
                name: (None if self.metrics.get(name) is None else self.metrics[name].to_json(with_point=name in CORA_METRICS))  # type: ignore[union-attr]
                for name in METRIC_NAMES
            },
            "landmarks": self.length_landmarks.to_json(),
            "flags": list(self.flags),
        }
        if self.not_measurable:
            out["not_measurable"] = dict(self.not_measurable)
        return out


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
