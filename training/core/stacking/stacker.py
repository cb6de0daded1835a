"""The logistic stacker of one bone: its record, its JSON format and its fit on pattern counts (§3.5)."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sklearn
from numpy.typing import ArrayLike, NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from inference.core.segmentation_ensemble import (
    BONE_NAMES,
    DEFAULT_MODEL_ORDER,
    bone_label,
    logistic_lookup_table,
    pattern_bits,
    vote_patterns,
)
from training.core.stacking.counts import _check_counts

logger = logging.getLogger(__name__)

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
