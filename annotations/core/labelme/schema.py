"""Typed LabelMe schema: shapes, documents and the shape types' point counts.

Points are ``(N, 2)`` float64 image ``(x, y)`` pixels, as LabelMe stores them. Keys the schema does
not name are kept in ``extra`` (document or shape), so export loses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from annotations.core.labelme.labels import DEFAULT_LABEL_SYNONYMS, CanonicalLabel, canonical_label

ShapeType = Literal["polygon", "rectangle", "circle", "line", "point", "linestrip", "points", "mask"]
# shape type -> (minimum, maximum) number of points; maximum None = unbounded.
_POINT_COUNTS: dict[str, tuple[int, int | None]] = {
    "polygon": (3, None),
    "rectangle": (2, 2),
    "circle": (2, 2),
    "line": (2, 2),
    "point": (1, 1),
    "linestrip": (2, None),
    "points": (1, None),
    "mask": (2, 2),
}
SHAPE_TYPES: tuple[str, ...] = tuple(_POINT_COUNTS)


def _points_equal(a: NDArray[np.float64], b: NDArray[np.float64]) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b))


@dataclass(frozen=True, eq=False)
class LabelMeShape:
    """One LabelMe shape.

    Attributes
    ----------
    label : str
        The label as written in the file (never altered; see :func:`canonical_label`).
    points : (N, 2) float64 ndarray
        Image ``(x, y)`` pixels; read-only.
    shape_type : str
        One of :data:`SHAPE_TYPES`.
    group_id : int or None
        LabelMe group id; the project uses it as the leg index where an image has two legs.
    description : str or None
        Free text (LabelMe 4.x+); ``None`` when the file has none (3.x).
    flags : dict
        Shape flags (``{}`` when absent).
    mask : str or None
        Base64 PNG of a ``mask`` shape (LabelMe 5.3+), kept verbatim; ``None`` otherwise.
    extra : dict
        Every other key of the shape (e.g. 3.x ``line_color``), kept for export.
    """

    label: str
    points: NDArray[np.float64]
    shape_type: str = "polygon"
    group_id: int | None = None
    description: str | None = None
    flags: dict[str, Any] = field(default_factory=dict)
    mask: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pts = np.array(self.points, dtype=np.float64).reshape(-1, 2)
        pts.flags.writeable = False
        object.__setattr__(self, "points", pts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelMeShape):
            return NotImplemented
        return (
            self.label == other.label
            and _points_equal(self.points, other.points)
            and self.shape_type == other.shape_type
            and self.group_id == other.group_id
            and self.description == other.description
            and self.flags == other.flags
            and self.mask == other.mask
            and self.extra == other.extra
        )

    __hash__ = None  # type: ignore[assignment]

    def canonical_label(
        self, table: Mapping[str, str] | None = None
    ) -> CanonicalLabel | None:
        """:func:`canonical_label` of this shape's label."""
        return canonical_label(self.label, DEFAULT_LABEL_SYNONYMS if table is None else table)


@dataclass(frozen=True)
class LabelMeDocument:
    """One LabelMe annotation file.

    Attributes
    ----------
    shapes : tuple of LabelMeShape
    image_path : str or None
        ``imagePath`` as written (may hold folders; :func:`iter_bundle` uses its base name).
    image_height, image_width : int or None
        ``imageHeight`` / ``imageWidth``; ``None`` only when the file lacks them (very old files).
    image_data : bytes or None
        The decoded embedded ``imageData``; ``None`` when the file stores ``null``.
    version : str or None
        The LabelMe version that wrote the file.
    flags : dict
        Image-level flags.
    extra : dict
        Every other top-level key (e.g. 3.x ``lineColor``/``fillColor``).
    """

    shapes: tuple[LabelMeShape, ...] = ()
    image_path: str | None = None
    image_height: int | None = None
    image_width: int | None = None
    image_data: bytes | None = field(default=None, repr=False)
    version: str | None = None
    flags: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shapes", tuple(self.shapes))

    def shapes_with_label(
        self, name: CanonicalLabel, *, table: Mapping[str, str] | None = None
    ) -> tuple[LabelMeShape, ...]:
        """Shapes whose :func:`canonical_label` is ``name``, in file order."""
        return tuple(s for s in self.shapes if s.canonical_label(table) == name)
