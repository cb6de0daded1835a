"""A fitted logistic stacker of one bone: the record an ensemble stores and the lookup table it predicts with.

Fitting lives in training (:func:`training.core.stacking.fit_stacker`, out-of-fold vote-pattern counts); the
ensemble that predicts needs only this record (:mod:`inference.ensemble_store`), so it lives with the
prediction side of stacking (:mod:`inference.core.segmentation_ensemble`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sklearn
from numpy.typing import ArrayLike, NDArray

from inference.core.segmentation_ensemble import bone_label, logistic_lookup_table, pattern_bits, vote_patterns

__all__ = ["STACKER_FORMAT_VERSION", "Stacker"]

STACKER_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Stacker:
    """A fitted binary logistic stacker for one bone.

    Attributes
    ----------
    bone : str
        ``"femur"`` or ``"tibia"``.
    model_order : tuple of str
        Member names in coefficient order.
    coefficients : tuple of float
        ``beta_1 .. beta_K``.
    intercept : float
        ``beta_0``.
    fold, part : int or None
        Position in the nested scheme (None for a stacker fitted outside it).
    n_train_pixels, n_train_positive : int
        Training pixel counts (all, and with ``truth == bone``).
    C, max_iter, tol : float, int, float
        Logistic-regression settings used.
    fit_intercept : bool
        False for the no-intercept model of [P] (then ``intercept`` is 0).
    threshold : float
        Probability above which a pixel is the bone: 0.5 in the paper; fitted for IOU by
        ``fit_stacker(threshold="iou")``.
    n_iter : int
        Solver iterations (``n_iter_``).
    sklearn_version, numpy_version : str
        Library versions at fit time.
    """

    bone: str
    model_order: tuple[str, ...]
    coefficients: tuple[float, ...]
    intercept: float
    fold: int | None = None
    part: int | None = None
    n_train_pixels: int = 0
    n_train_positive: int = 0
    C: float = 1.0
    max_iter: int = 1000
    tol: float = 1e-6
    fit_intercept: bool = True
    threshold: float = 0.5
    n_iter: int = 0
    sklearn_version: str = field(default=sklearn.__version__)
    numpy_version: str = field(default=np.__version__)

    def __post_init__(self) -> None:
        bone_label(self.bone)
        if len(self.coefficients) != len(self.model_order):
            raise ValueError(
                f"{len(self.coefficients)} coefficients for {len(self.model_order)} members"
            )
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must lie in (0, 1), got {self.threshold}")

    @property
    def n_members(self) -> int:
        """Number of members K."""
        return len(self.model_order)

    @property
    def label(self) -> int:
        """Mask label of the bone (1 femur, 2 tibia)."""
        return bone_label(self.bone)

    def lookup_table(self) -> NDArray[np.bool_]:
        """Return the ``(2**K,)`` boolean table: pattern -> positive (probability > ``threshold``)."""
        return logistic_lookup_table(self.coefficients, self.intercept, self.threshold)

    def pattern_probabilities(self) -> NDArray[np.float64]:
        """Return the ``(2**K,)`` positive-class probabilities of every vote pattern."""
        decision = pattern_bits(self.n_members).astype(np.float64) @ np.asarray(self.coefficients)
        return 1.0 / (1.0 + np.exp(-(decision + self.intercept)))

    def predict(self, member_label_maps: ArrayLike) -> NDArray[np.bool_]:
        """Binary ``(H, W)`` mask of this bone from a ``(K, H, W)`` member stack."""
        maps = np.asarray(member_label_maps)
        if maps.ndim != 3 or maps.shape[0] != self.n_members:
            raise ValueError(f"expected a ({self.n_members}, H, W) stack, got {maps.shape}")
        return self.lookup_table()[vote_patterns(maps, self.bone)]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary (the storage format, §3.5 [D])."""
        return {
            "format_version": STACKER_FORMAT_VERSION,
            "kind": "logistic_stacker",
            "bone": self.bone,
            "model_order": list(self.model_order),
            "coefficients": [float(c) for c in self.coefficients],
            "intercept": float(self.intercept),
            "fold": self.fold,
            "part": self.part,
            "n_train_pixels": int(self.n_train_pixels),
            "n_train_positive": int(self.n_train_positive),
            "C": float(self.C),
            "max_iter": int(self.max_iter),
            "tol": float(self.tol),
            "fit_intercept": bool(self.fit_intercept),
            "threshold": float(self.threshold),
            "n_iter": int(self.n_iter),
            "sklearn_version": self.sklearn_version,
            "numpy_version": self.numpy_version,
        }

    def to_json(self) -> str:
        """Serialise to a JSON string (floats round-trip exactly). Never pickle."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stacker:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        ValueError
            On an unknown format version or kind, or inconsistent fields.
        """
        if data.get("kind") != "logistic_stacker":
            raise ValueError(f"not a logistic stacker record: kind={data.get('kind')!r}")
        if data.get("format_version") != STACKER_FORMAT_VERSION:
            raise ValueError(f"unsupported stacker format_version {data.get('format_version')!r}")
        return cls(
            bone=str(data["bone"]),
            model_order=tuple(str(m) for m in data["model_order"]),
            coefficients=tuple(float(c) for c in data["coefficients"]),
            intercept=float(data["intercept"]),
            fold=None if data.get("fold") is None else int(data["fold"]),
            part=None if data.get("part") is None else int(data["part"]),
            n_train_pixels=int(data.get("n_train_pixels", 0)),
            n_train_positive=int(data.get("n_train_positive", 0)),
            C=float(data.get("C", 1.0)),
            max_iter=int(data.get("max_iter", 1000)),
            tol=float(data.get("tol", 1e-6)),
            fit_intercept=bool(data.get("fit_intercept", True)),
            threshold=float(data.get("threshold", 0.5)),
            n_iter=int(data.get("n_iter", 0)),
            sklearn_version=str(data.get("sklearn_version", "")),
            numpy_version=str(data.get("numpy_version", "")),
        )

    @classmethod
    def from_json(cls, text: str) -> Stacker:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))
