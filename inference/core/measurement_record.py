"""What a prediction's measurement used, kept in its LabelMe document so that the document alone gives
the same numbers again (issue 27, item 1).

A prediction measures each leg in its normalised leg crop (:mod:`inference.core.crop_alignment`), with
the leg localiser's femoral-head apex for the lengths, the patient side read from the film, the
Kalman knee's joint variances in the Monte-Carlo spread, and the ensemble's Monte-Carlo settings. A
LabelMe document of polygons and three joints per leg holds none of that: an approved revision that kept
only those shapes was re-measured on the whole image grid, from the top of the segmented femur and
without the variances, and accepting a prediction as it was changed its lengths by up to 10 px and its
angles by up to 6 degrees.

So the pipeline writes, beside its shapes, one ``femoral_head_apex`` point per leg and this record under
the document's top-level key :data:`MEASUREMENT_KEY` (LabelMe keeps unknown top-level keys as
``otherData``; the editor and the shared parser write them back unchanged):

.. code-block:: json

    {"version": 1, "x_mid": 512.3,
     "monte_carlo": {"seed": 0, "n_draws": 100, "n_samples": 5000, "image_key": "1009"},
     "legs": [{"group_id": 0, "image_side": "left", "anatomical_side": "right",
               "crop": {"reference_xy": [x, y], "scale": 0.74, "mirrored": false},
               "joint_variance_xy": [[vx, vy], [vx, vy], [vx, vy]]}]}

The pipeline's own numbers are then computed from its document by
:func:`inference.core.labelme_alignment.align_labelme_document`, the function every revision goes
through, so a prediction and its accepted revision agree to the last digit by construction. A reviewer's
correction keeps the record: the corrected shapes are measured in the same leg frames.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inference.core.leg_crops import LegCrop

__all__ = ["APEX_LABEL", "MEASUREMENT_KEY", "LegRecord", "MeasurementRecord", "MonteCarloRecord",
           "measurement_record"]

MEASUREMENT_KEY = "enllasd_measurement"
#: Point label of a leg's femoral-head apex (the top of the head: where the leg length starts).
APEX_LABEL = "femoral_head_apex"
_VERSION = 1
_SIDES = ("left", "right")


@dataclass(frozen=True)
class MonteCarloRecord:
    """The Monte-Carlo settings of the measurement; ``image_key`` is part of every draw's seed."""

    seed: int = 0
    n_draws: int = 100
    n_samples: int = 5000
    image_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "n_draws": self.n_draws, "n_samples": self.n_samples, "image_key": self.image_key}


@dataclass(frozen=True)
class LegRecord:
    """One leg: its LabelMe ``group_id``, sides, measurement frame (``None``: the whole image) and joint variances."""

    group_id: int
    image_side: str
    anatomical_side: str | None
    crop: LegCrop | None = None
    joint_variance_xy: NDArray[np.float64] | None = None

    def to_json(self) -> dict[str, Any]:
        crop = None if self.crop is None else {
            "reference_xy": [float(v) for v in self.crop.reference_xy], "scale": float(self.crop.scale),
            "mirrored": bool(self.crop.mirrored)}
        variance = None if self.joint_variance_xy is None else np.asarray(self.joint_variance_xy, float).tolist()
        return {"group_id": self.group_id, "image_side": self.image_side, "anatomical_side": self.anatomical_side,
                "crop": crop, "joint_variance_xy": variance}


@dataclass(frozen=True)
class MeasurementRecord:
    """Everything a prediction's measurement used beyond the document's shapes."""

    legs: tuple[LegRecord, ...]
    monte_carlo: MonteCarloRecord
    x_mid: float | None = None

    @property
    def in_leg_crops(self) -> bool:
        """Whether every leg was measured in its leg crop (else the whole image is the frame)."""
        return bool(self.legs) and all(leg.crop is not None for leg in self.legs)

    def leg(self, group_id: int) -> LegRecord | None:
        return next((leg for leg in self.legs if leg.group_id == group_id), None)

    def to_json(self) -> dict[str, Any]:
        return {"version": _VERSION, "x_mid": self.x_mid, "monte_carlo": self.monte_carlo.to_json(),
                "legs": [leg.to_json() for leg in self.legs]}


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _crop(raw: Any) -> LegCrop | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ValueError("a leg's crop must be an object")
    reference = raw.get("reference_xy")
    if not isinstance(reference, Sequence) or len(reference) != 2:
        raise ValueError("a leg crop's reference_xy must be [x, y]")
    return LegCrop(reference_xy=(_finite(reference[0], "reference_xy"), _finite(reference[1], "reference_xy")),
                   scale=_finite(raw.get("scale"), "a leg crop's scale"), mirrored=bool(raw.get("mirrored")))


def _variance(raw: Any) -> NDArray[np.float64] | None:
    if raw is None:
        return None
    variance = np.asarray(raw, dtype=np.float64)
    if variance.shape != (3, 2) or not np.all(np.isfinite(variance)) or np.any(variance < 0):
        raise ValueError("joint_variance_xy must be three non-negative [vx, vy] pairs")
    return variance


def _leg(raw: Any) -> LegRecord:
    if not isinstance(raw, Mapping):
        raise ValueError("each leg of the measurement record must be an object")
    group_id = raw.get("group_id")
    if isinstance(group_id, bool) or not isinstance(group_id, int):
        raise ValueError("a leg's group_id must be an integer")
    image_side = raw.get("image_side")
    anatomical_side = raw.get("anatomical_side")
    if image_side not in _SIDES or anatomical_side not in (*_SIDES, None):
        raise ValueError("a leg's image_side must be left or right, its anatomical_side left, right or null")
    return LegRecord(group_id=group_id, image_side=image_side, anatomical_side=anatomical_side,
                     crop=_crop(raw.get("crop")), joint_variance_xy=_variance(raw.get("joint_variance_xy")))


def _monte_carlo(raw: Any) -> MonteCarloRecord:
    if not isinstance(raw, Mapping):
        return MonteCarloRecord()
    values = {}
    for name, least in (("seed", 0), ("n_draws", 1), ("n_samples", 2)):
        value = raw.get(name, getattr(MonteCarloRecord, name))
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"monte_carlo.{name} must be an integer >= {least}")
        values[name] = value
    key = raw.get("image_key")
    return MonteCarloRecord(**values, image_key=None if key is None else str(key))


def measurement_record(document: Mapping[str, Any]) -> MeasurementRecord | None:
    """The document's measurement record, or ``None`` when it has none (a manual or imported annotation).

    Raises
    ------
    ValueError
        The record is there but malformed (a document edited by hand): better said than silently
        measured another way.
    """
    raw = document.get(MEASUREMENT_KEY)
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or raw.get("version") != _VERSION:
        raise ValueError(f"{MEASUREMENT_KEY} must be an object with version {_VERSION}")
    legs = raw.get("legs")
    if not isinstance(legs, list):
        raise ValueError(f"{MEASUREMENT_KEY}.legs must be a list")
    x_mid = raw.get("x_mid")
    return MeasurementRecord(legs=tuple(_leg(leg) for leg in legs), monte_carlo=_monte_carlo(raw.get("monte_carlo")),
                             x_mid=None if x_mid is None else _finite(x_mid, "x_mid"))
