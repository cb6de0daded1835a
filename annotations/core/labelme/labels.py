"""Label canonicalisation and the knee / ankle decision by height.

Labels are kept verbatim in documents; :func:`canonical_label` maps them to the project's five names
(``femur``, ``tibia``, ``hip``, ``knee``, ``ankle``) through a configurable synonym table, and labels
it does not know map to ``None``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

CanonicalLabel = Literal["femur", "tibia", "hip", "knee", "ankle"]
CANONICAL_LABELS: tuple[CanonicalLabel, ...] = ("femur", "tibia", "hip", "knee", "ankle")

_SEPARATORS = re.compile(r"[\s\-_.]+")


def normalize_label(label: str) -> str:
    """Case-fold ``label`` and join words with ``_`` (``"Femoral head-centre"`` -> ``"femoral_head_centre"``)."""
    return _SEPARATORS.sub("_", label.strip().casefold()).strip("_")


def _synonyms(canonical: CanonicalLabel, *names: str) -> dict[str, CanonicalLabel]:
    return {normalize_label(n): canonical for n in (canonical, *names)}


#: Default, anatomically correct synonym table (normalised spelling -> canonical name). The
#: tibial spine (intercondylar eminence) is at the knee and the tibial plafond at the ankle;
#: the authors' code maps them the other way round (spec §1.2), which is why knee vs ankle is
#: finally decided by height (:func:`resolve_knee_ankle_by_height`).
DEFAULT_LABEL_SYNONYMS: Mapping[str, CanonicalLabel] = {
    **_synonyms("femur", "femur_mask", "femur_polygon", "femur_outline", "femur_seg", "femoral_bone"),
    **_synonyms("tibia", "tibia_mask", "tibia_polygon", "tibia_outline", "tibia_seg", "tibial_bone"),
    **_synonyms(
        "hip",
        "hip_center", "hip_centre", "hip_joint", "hip_joint_center", "hip_joint_centre",
        "femoral_head_center", "femoral_head_centre", "femoral_head", "femur_head_center",
        "femur_head_centre",
    ),
    **_synonyms(
        "knee",
        "knee_center", "knee_centre", "knee_joint", "knee_joint_center", "knee_joint_centre",
        "tibial_plateau_center", "tibial_plateau_centre", "tibial_plateau",
        "tibial_spine_center", "tibial_spine_centre", "tibial_spine",
    ),
    **_synonyms(
        "ankle",
        "ankle_center", "ankle_centre", "ankle_joint", "ankle_joint_center", "ankle_joint_centre",
        "tibial_plafond_center", "tibial_plafond_centre", "tibial_plafond",
        "plafond_center", "plafond_centre", "talus_center", "talus_centre",
    ),
}


def canonical_label(
    label: str, table: Mapping[str, str] = DEFAULT_LABEL_SYNONYMS
) -> CanonicalLabel | None:
    """Map a LabelMe label to ``"femur"``, ``"tibia"``, ``"hip"``, ``"knee"``, ``"ankle"`` or ``None``.

    Parameters
    ----------
    label : str
        The label as written in the file.
    table : mapping of str to str
        Synonym -> canonical name. Keys are compared after :func:`normalize_label` (so case,
        spaces, hyphens and underscores do not matter); values must be canonical names.

    Returns
    -------
    str or None
        ``None`` for labels the table does not know (the caller keeps such shapes).

    Raises
    ------
    ValueError
        If the matching table value is not a canonical name.

    Examples
    --------
    >>> canonical_label("Femoral head centre"), canonical_label("FEMUR_mask"), canonical_label("fibula")
    ('hip', 'femur', None)
    """
    key = normalize_label(label)
    value = table.get(key)
    if value is None and table is not DEFAULT_LABEL_SYNONYMS:
        # Tables written by hand may use any spelling for their keys.
        for k, v in table.items():
            if normalize_label(k) == key:
                value = v
                break
    if value is None:
        return None
    if value not in CANONICAL_LABELS:
        raise ValueError(f"label table maps {label!r} to {value!r}, not one of {CANONICAL_LABELS}")
    return value  # type: ignore[return-value]


@dataclass(frozen=True)
class KneeAnkle:
    """The two tibial points of one leg, assigned by height.

    Attributes
    ----------
    knee_xy, ankle_xy : (2,) float64 ndarray
        The upper point (smaller y) is the knee, the lower the ankle.
    labels_agree : bool
        ``True`` when the labels (through the synonym table) say the same, or say nothing.
    swapped : bool
        ``True`` when the labels said the opposite (upper point labelled ankle / lower knee).
    """

    knee_xy: NDArray[np.float64]
    ankle_xy: NDArray[np.float64]
    labels_agree: bool
    swapped: bool


def resolve_knee_ankle_by_height(
    points_xy: NDArray[np.float64] | Sequence[Sequence[float]],
    labels: Sequence[str | None] = (None, None),
    *,
    table: Mapping[str, str] = DEFAULT_LABEL_SYNONYMS,
) -> KneeAnkle:
    """Decide which of a leg's two tibial points is the knee and which the ankle (spec §1.2 [D]).

    Parameters
    ----------
    points_xy : (2, 2) array_like
        The two tibial points of one leg, image ``(x, y)``.
    labels : pair of str or None
        Their labels as written (e.g. ``"Tibial_plafond_center"``); ``None`` = unlabelled.
    table : mapping
        Synonym table for :func:`canonical_label`.

    Returns
    -------
    KneeAnkle
        The point with the smaller y (higher in the image) is the knee. A warning is logged when
        the labels disagree with that order.

    Raises
    ------
    ValueError
        If ``points_xy`` is not a finite ``(2, 2)`` array or both points have the same y.
    """
    pts = np.asarray(points_xy, dtype=np.float64)
    if pts.shape != (2, 2) or not np.all(np.isfinite(pts)):
        raise ValueError(f"points_xy must be a finite (2, 2) array, got shape {pts.shape}")
    if len(labels) != 2:
        raise ValueError(f"labels must have 2 entries, got {len(labels)}")
    if pts[0, 1] == pts[1, 1]:
        raise ValueError("cannot tell knee from ankle: both points have the same y")
    upper, lower = (0, 1) if pts[0, 1] < pts[1, 1] else (1, 0)
    names = [None if lab is None else canonical_label(lab, table) for lab in labels]
    claimed_upper, claimed_lower = names[upper], names[lower]
    swapped = claimed_upper == "ankle" or claimed_lower == "knee"
    agree = not swapped and claimed_upper in (None, "knee") and claimed_lower in (None, "ankle")
    if not agree:
        logger.warning(
            "knee/ankle labels disagree with vertical order: upper point (y=%.1f) labelled %r, "
            "lower point (y=%.1f) labelled %r; using the upper point as the knee",
            pts[upper, 1], labels[upper], pts[lower, 1], labels[lower],
        )
    return KneeAnkle(
        knee_xy=pts[upper].copy(), ankle_xy=pts[lower].copy(), labels_agree=agree, swapped=swapped
    )
