"""LabelMe documents: typed schema, strict parsing, label canonicalisation, 5.x export, safe bundles.

Coordinates follow :mod:`inference.core.legs`: points are ``(N, 2)`` float64 image ``(x, y)``
pixels, x = column to the right, y = row downward, origin at the top-left pixel corner. LabelMe
stores exactly that (``[[x, y], ...]``), so points are read and written without any conversion.

What is accepted
----------------
* LabelMe 3.x to 5.x JSON. 3.x files carry ``lineColor``/``fillColor`` (document) and
  ``line_color``/``fill_color`` (shape) and no ``description``; 4.x/5.x carry ``description``,
  ``flags`` and ``group_id``; 5.3+ ``mask`` shapes carry a base64 PNG in ``mask``. Every key that
  this schema does not name is kept in ``extra`` (document or shape) and written back on export,
  so nothing is lost.
* Shape types and their point counts (as the ``labelme`` program draws them): ``point`` exactly 1,
  ``rectangle``/``circle``/``line``/``mask`` exactly 2, ``linestrip`` at least 2, ``points`` at
  least 1, ``polygon`` at least 3. A missing ``shape_type`` means ``polygon`` (LabelMe's default).
* Labels are kept verbatim. :func:`canonical_label` maps them to the project's five names
  (``femur``, ``tibia``, ``hip``, ``knee``, ``ankle``) through a configurable synonym table;
  labels it does not know are kept and map to ``None``.

Bundles
-------
:func:`iter_bundle` reads a folder or a ``.zip`` of images and LabelMe JSON files without
extracting anything: zip members are read as bytes, with path-traversal, symlink and zip-bomb
checks done on the central directory before any member is decompressed.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import os
import posixpath
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

__all__ = [
    "BUNDLE_IMAGE_SUFFIXES",
    "CANONICAL_LABELS",
    "DEFAULT_LABEL_SYNONYMS",
    "LABELME_EXPORT_VERSION",
    "SHAPE_TYPES",
    "BundleError",
    "BundleItem",
    "BundleLimits",
    "CanonicalLabel",
    "KneeAnkle",
    "LabelMeDocument",
    "LabelMeError",
    "LabelMeShape",
    "canonical_label",
    "iter_bundle",
    "normalize_label",
    "parse_document",
    "resolve_knee_ankle_by_height",
    "to_labelme5",
]

LABELME_EXPORT_VERSION = "5.2.1"

CanonicalLabel = Literal["femur", "tibia", "hip", "knee", "ankle"]
CANONICAL_LABELS: tuple[CanonicalLabel, ...] = ("femur", "tibia", "hip", "knee", "ankle")

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

_DOC_KEYS = ("version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth")
_SHAPE_KEYS = ("label", "points", "group_id", "description", "shape_type", "flags", "mask")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------
class LabelMeError(ValueError):
    """A LabelMe document is malformed.

    Parameters
    ----------
    message : str
        What is wrong, in words.
    path : str
        Where, as a JSONPath-like location (``"$"``, ``"$.shapes[2].points[0]"``).
    """

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(f"{path}: {message}")
        self.message = message
        self.path = path


class BundleError(ValueError):
    """A folder or zip bundle is unsafe (path traversal, symlink, zip bomb) or unreadable.

    Parameters
    ----------
    message : str
        What is wrong, in words.
    member : str or None
        The offending member (zip entry name or path relative to the folder), if any.
    """

    def __init__(self, message: str, member: str | None = None) -> None:
        super().__init__(message if member is None else f"{member!r}: {message}")
        self.message = message
        self.member = member


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------
def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


#: Deepest nesting accepted in a document's free-form values (``flags``, extra keys); LabelMe itself
#: writes at most a few levels, and deeper values could not be stored (JSON encoders recurse).
MAX_JSON_DEPTH = 64


def _check_json_value(value: object, path: str, depth: int = 0) -> None:
    """Raise unless ``value`` is plain, finite JSON (so that export can write it back)."""
    if depth > MAX_JSON_DEPTH:
        raise LabelMeError(f"nested deeper than {MAX_JSON_DEPTH} levels", path)
    if value is None or isinstance(value, (str, bool)) or _is_int(value):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LabelMeError(f"non-finite number {value!r}", path)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise LabelMeError(f"object key {key!r} is not a string", path)
            _check_json_value(item, f"{path}.{key}", depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json_value(item, f"{path}[{i}]", depth + 1)
        return
    raise LabelMeError(f"{type(value).__name__} is not a JSON value", path)


def _load_json(data: str | bytes | bytearray) -> object:
    if isinstance(data, (bytes, bytearray)):
        try:
            # utf-8-sig also accepts the byte-order mark some Windows tools write.
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise LabelMeError(f"not valid UTF-8 (byte {exc.start})", "$") from exc
    else:
        text = data
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelMeError(
            f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", "$"
        ) from exc
    except RecursionError as exc:
        raise LabelMeError("JSON nested too deeply", "$") from exc


def _parse_flags(value: object, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise LabelMeError(f"flags must be an object, got {type(value).__name__}", path)
    _check_json_value(value, path)
    return dict(value)


def _parse_points(value: object, path: str) -> NDArray[np.float64]:
    if not isinstance(value, (list, tuple)):
        raise LabelMeError(f"points must be a list of [x, y] pairs, got {type(value).__name__}", path)
    for i, point in enumerate(value):
        if not isinstance(point, (list, tuple)) or len(point) != 2:
            raise LabelMeError("a point must be a pair [x, y]", f"{path}[{i}]")
        for j, coord in enumerate(point):
            if not _is_number(coord):
                raise LabelMeError(
                    f"coordinate must be a number, got {type(coord).__name__}", f"{path}[{i}][{j}]"
                )
            try:
                finite = math.isfinite(coord)
            except OverflowError:  # an integer too large for a float
                finite = False
            if not finite:
                raise LabelMeError(f"coordinate is not finite ({coord!r})", f"{path}[{i}][{j}]")
    return np.array(value, dtype=np.float64).reshape(-1, 2)


def _parse_shape(raw: object, path: str) -> LabelMeShape:
    if not isinstance(raw, Mapping):
        raise LabelMeError(f"a shape must be an object, got {type(raw).__name__}", path)
    label = raw.get("label")
    if not isinstance(label, str):
        raise LabelMeError("label must be a string", f"{path}.label")
    shape_type = raw.get("shape_type")
    if shape_type is None:
        shape_type = "polygon"
    if not isinstance(shape_type, str) or shape_type not in _POINT_COUNTS:
        raise LabelMeError(
            f"unknown shape_type {shape_type!r}; expected one of {', '.join(SHAPE_TYPES)}",
            f"{path}.shape_type",
        )
    if "points" not in raw:
        raise LabelMeError("missing points", path)
    points = _parse_points(raw["points"], f"{path}.points")
    low, high = _POINT_COUNTS[shape_type]
    n = len(points)
    if n < low or (high is not None and n > high):
        expected = f"exactly {low}" if low == high else f"at least {low}"
        raise LabelMeError(f"a {shape_type} needs {expected} point(s), got {n}", f"{path}.points")
    group_id = raw.get("group_id")
    if group_id is not None and not _is_int(group_id):
        raise LabelMeError(f"group_id must be an integer or null, got {group_id!r}", f"{path}.group_id")
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        raise LabelMeError("description must be a string or null", f"{path}.description")
    mask = raw.get("mask")
    if mask is not None:
        if not isinstance(mask, str):
            raise LabelMeError("mask must be a base64 string or null", f"{path}.mask")
        try:
            base64.b64decode(mask, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise LabelMeError("mask is not valid base64", f"{path}.mask") from exc
    flags = _parse_flags(raw.get("flags"), f"{path}.flags")
    extra = {k: v for k, v in raw.items() if k not in _SHAPE_KEYS}
    for key, value in extra.items():
        if not isinstance(key, str):
            raise LabelMeError(f"object key {key!r} is not a string", path)
        _check_json_value(value, f"{path}.{key}")
    return LabelMeShape(
        label=label,
        points=points,
        shape_type=shape_type,
        group_id=group_id,
        description=description,
        flags=flags,
        mask=mask,
        extra=extra,
    )


def _parse_size(raw: Mapping[str, Any], key: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    # 1024.0 is tolerated (some writers emit floats), 1024.5 is not.
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if not _is_int(value) or value <= 0:
        raise LabelMeError(f"{key} must be a positive integer, got {value!r}", f"$.{key}")
    return int(value)


def parse_document(data: Mapping[str, Any] | str | bytes | bytearray) -> LabelMeDocument:
    """Parse and validate a LabelMe 3.x-5.x document.

    Parameters
    ----------
    data : dict, str or bytes
        The decoded JSON object, or its text (bytes must be UTF-8; a BOM is accepted).

    Returns
    -------
    LabelMeDocument
        Every shape, in file order, with unknown keys kept in ``extra``.

    Raises
    ------
    LabelMeError
        With ``path`` set, for: invalid UTF-8 or JSON, a top level that is not an object,
        ``shapes`` not a list, a shape without a string label, an unknown ``shape_type``, points
        that are not numeric ``[x, y]`` pairs or not finite, a wrong point count for the shape
        type, ``group_id`` not an integer, ``imageHeight``/``imageWidth`` not positive integers,
        ``imageData`` or ``mask`` not valid base64, or any non-finite number anywhere.

    Examples
    --------
    >>> doc = parse_document('{"shapes": [{"label": "Hip", "points": [[1, 2]], '
    ...                      '"shape_type": "point"}], "imageHeight": 4, "imageWidth": 3}')
    >>> doc.shapes[0].points.tolist(), doc.shapes[0].canonical_label()
    ([[1.0, 2.0]], 'hip')
    """
    raw = _load_json(data) if isinstance(data, (str, bytes, bytearray)) else data
    if not isinstance(raw, Mapping):
        raise LabelMeError(f"a LabelMe document must be a JSON object, got {type(raw).__name__}", "$")
    shapes_raw = raw.get("shapes", [])
    if shapes_raw is None:
        shapes_raw = []
    if not isinstance(shapes_raw, (list, tuple)):
        raise LabelMeError(f"shapes must be a list, got {type(shapes_raw).__name__}", "$.shapes")
    shapes = tuple(_parse_shape(s, f"$.shapes[{i}]") for i, s in enumerate(shapes_raw))

    version = raw.get("version")
    if version is not None and not isinstance(version, str):
        raise LabelMeError("version must be a string", "$.version")
    image_path = raw.get("imagePath")
    if image_path is not None and not isinstance(image_path, str):
        raise LabelMeError("imagePath must be a string or null", "$.imagePath")
    image_data_raw = raw.get("imageData")
    image_data: bytes | None = None
    if image_data_raw is not None:
        if not isinstance(image_data_raw, str):
            raise LabelMeError("imageData must be a base64 string or null", "$.imageData")
        try:
            image_data = base64.b64decode(image_data_raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise LabelMeError("imageData is not valid base64", "$.imageData") from exc
        if not image_data:
            image_data = None
    height = _parse_size(raw, "imageHeight")
    width = _parse_size(raw, "imageWidth")
    flags = _parse_flags(raw.get("flags"), "$.flags")
    extra = {k: v for k, v in raw.items() if k not in _DOC_KEYS}
    for key, value in extra.items():
        if not isinstance(key, str):
            raise LabelMeError(f"object key {key!r} is not a string", "$")
        _check_json_value(value, f"$.{key}")
    return LabelMeDocument(
        shapes=shapes,
        image_path=image_path,
        image_height=height,
        image_width=width,
        image_data=image_data,
        version=version,
        flags=flags,
        extra=extra,
    )


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------
def _shape_to_dict(shape: LabelMeShape, *, include_extra: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "label": shape.label,
        "points": shape.points.tolist(),
        "group_id": shape.group_id,
        "description": shape.description,
        "shape_type": shape.shape_type,
        "flags": dict(shape.flags),
    }
    if shape.mask is not None:
        out["mask"] = shape.mask
    if include_extra:
        for key, value in shape.extra.items():
            out.setdefault(key, value)
    return out


def to_labelme5(
    doc: LabelMeDocument,
    *,
    image_data: bytes | None = None,
    image_path: str | None = None,
    include_extra: bool = True,
) -> dict[str, Any]:
    """Return ``doc`` as a LabelMe 5.x JSON object (``version`` :data:`LABELME_EXPORT_VERSION`).

    Parameters
    ----------
    doc : LabelMeDocument
    image_data : bytes, optional
        Image file bytes to embed (base64) as ``imageData``; ``imageData`` is ``null`` by default,
        also when ``doc`` itself carried embedded data (the project stores images separately).
    image_path : str, optional
        Overrides ``doc.image_path`` (e.g. the exported image's file name).
    include_extra : bool
        Write the keys kept in ``extra`` (3.x colours and other unknown keys) back; LabelMe's own
        loader keeps such keys as ``otherData``. ``False`` writes only the 5.x schema.

    Returns
    -------
    dict
        Keys ``version``, ``flags``, ``shapes`` (each with ``label``, ``points``, ``group_id``,
        ``description``, ``shape_type``, ``flags`` and ``mask`` for mask shapes), ``imagePath``,
        ``imageData``, ``imageHeight``, ``imageWidth``; ``json.dumps`` can write it as is.
        ``parse_document(to_labelme5(doc))`` equals ``doc`` except for ``version`` and
        ``image_data``.
    """
    out: dict[str, Any] = {
        "version": LABELME_EXPORT_VERSION,
        "flags": dict(doc.flags),
        "shapes": [_shape_to_dict(s, include_extra=include_extra) for s in doc.shapes],
        "imagePath": doc.image_path if image_path is None else image_path,
        "imageData": None if image_data is None else base64.b64encode(image_data).decode("ascii"),
        "imageHeight": doc.image_height,
        "imageWidth": doc.image_width,
    }
    if include_extra:
        for key, value in doc.extra.items():
            out.setdefault(key, value)
    return out


# --------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# Bundles (folder or zip of images + LabelMe JSON)
# --------------------------------------------------------------------------------------------
BUNDLE_IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dcm", ".dicom"}
)
_IGNORED_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})


@dataclass(frozen=True)
class BundleLimits:
    """Size limits for :func:`iter_bundle` (zip-bomb and memory guards).

    Attributes
    ----------
    max_total_bytes : int
        Sum of the uncompressed sizes of the members read (zip) or files read (folder).
    max_member_bytes : int
        Uncompressed size of any single member.
    max_ratio : float
        Largest allowed uncompressed/compressed size ratio of a zip member ...
    ratio_min_bytes : int
        ... checked for members whose uncompressed size exceeds this (tiny members compress
        arbitrarily well and are harmless).
    max_members : int
        Number of entries in the zip or files in the folder.
    """

    max_total_bytes: int = 4 * 1024**3
    max_member_bytes: int = 512 * 1024**2
    max_ratio: float = 100.0
    ratio_min_bytes: int = 1024**2
    max_members: int = 20_000


@dataclass(frozen=True)
class BundleItem:
    """One image of a bundle, with its annotation if it has one.

    Attributes
    ----------
    name : str
        Bundle-relative POSIX path of the image file, else of the JSON file.
    image_name : str or None
        Bundle-relative path of the image file; ``None`` when the image came from ``imageData``
        or is missing.
    image_bytes : bytes or None
        The image file's bytes (or the embedded ``imageData``); ``None`` when missing.
    image_source : {"file", "embedded", "missing"}
    json_name : str or None
        Bundle-relative path of the LabelMe JSON; ``None`` for an image without annotation.
    doc : LabelMeDocument or None
        The parsed document; ``None`` for an image without JSON or when the JSON is invalid.
    error : LabelMeError or None
        Why the JSON could not be parsed (``doc`` is then ``None``).
    """

    name: str
    image_name: str | None
    image_bytes: bytes | None = field(repr=False)
    image_source: Literal["file", "embedded", "missing"]
    json_name: str | None
    doc: LabelMeDocument | None = field(repr=False)
    error: LabelMeError | None = None


def _check_member_name(name: str) -> str:
    """Return the POSIX form of a bundle member name, or raise on traversal / absolute paths."""
    if "\x00" in name:
        raise BundleError("member name contains a NUL byte", name)
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        raise BundleError("absolute path in bundle", name)
    parts = [p for p in posix.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise BundleError("path traversal ('..') in bundle", name)
    return "/".join(parts)


def _check_image_path(image_path: str, json_name: str) -> str:
    """Return the base name of a document's ``imagePath``; refuse absolute and ``..`` paths."""
    posix = image_path.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        raise BundleError(f"imagePath {image_path!r} is absolute", json_name)
    if any(p == ".." for p in posix.split("/")):
        raise BundleError(f"imagePath {image_path!r} contains '..'", json_name)
    return posixpath.basename(posix)


def _is_ignored(rel: str) -> bool:
    parts = rel.split("/")
    base = parts[-1]
    return (
        parts[0] == "__MACOSX"
        or base.startswith("._")
        or base.casefold() in _IGNORED_NAMES
    )


def _kind(rel: str) -> Literal["json", "image"] | None:
    suffix = PurePosixPath(rel).suffix.casefold()
    if suffix == ".json":
        return "json"
    if suffix in BUNDLE_IMAGE_SUFFIXES:
        return "image"
    return None


class _ZipSource:
    def __init__(self, zf: zipfile.ZipFile, limits: BundleLimits) -> None:
        self._zf = zf
        self._limits = limits
        self._infos: dict[str, zipfile.ZipInfo] = {}
        self._read_total = 0
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise BundleError(f"zip has {len(infos)} entries, more than {limits.max_members}")
        declared_total = 0
        for info in infos:
            rel = _check_member_name(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise BundleError("symbolic link in zip", info.filename)
            if info.is_dir() or not rel or _is_ignored(rel) or _kind(rel) is None:
                continue
            if info.flag_bits & 0x1:
                raise BundleError("encrypted zip member", info.filename)
            if info.file_size > limits.max_member_bytes:
                raise BundleError(
                    f"member is {info.file_size} bytes uncompressed, more than "
                    f"{limits.max_member_bytes}", info.filename,
                )
            if info.file_size > limits.ratio_min_bytes:
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > limits.max_ratio:
                    raise BundleError(
                        f"compression ratio {ratio:.0f} exceeds {limits.max_ratio:g} "
                        "(possible zip bomb)", info.filename,
                    )
            declared_total += info.file_size
            if declared_total > limits.max_total_bytes:
                raise BundleError(
                    f"zip expands to more than {limits.max_total_bytes} bytes (possible zip bomb)"
                )
            if rel in self._infos:
                raise BundleError("duplicate member name in zip", info.filename)
            self._infos[rel] = info

    def names(self) -> list[str]:
        return sorted(self._infos)

    def read(self, rel: str) -> bytes:
        info = self._infos[rel]
        # ZipExtFile stops at the declared size and checks the CRC, so a member that lies about
        # its size cannot expand beyond what the limits above accepted; read(n + 1) makes sure.
        with self._zf.open(info) as fh:
            data = fh.read(info.file_size + 1)
        if len(data) > info.file_size:
            raise BundleError("member expands beyond its declared size", info.filename)
        self._read_total += len(data)
        if self._read_total > self._limits.max_total_bytes:
            raise BundleError(f"bundle expands to more than {self._limits.max_total_bytes} bytes")
        return data


class _FolderSource:
    def __init__(self, root: Path, limits: BundleLimits) -> None:
        self._root = root
        self._limits = limits
        self._files: dict[str, Path] = {}
        self._read_total = 0
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            here = Path(dirpath)
            for d in dirnames:
                if (here / d).is_symlink():
                    raise BundleError("symbolic link in folder", (here / d).relative_to(root).as_posix())
            for f in filenames:
                path = here / f
                rel = path.relative_to(root).as_posix()
                if path.is_symlink():
                    raise BundleError("symbolic link in folder", rel)
                if _is_ignored(rel) or _kind(rel) is None:
                    continue
                if not path.is_file():
                    continue
                if len(self._files) >= limits.max_members:
                    raise BundleError(f"folder has more than {limits.max_members} files")
                self._files[rel] = path

    def names(self) -> list[str]:
        return sorted(self._files)

    def read(self, rel: str) -> bytes:
        path = self._files[rel]
        with path.open("rb") as fh:
            data = fh.read(self._limits.max_member_bytes + 1)
        if len(data) > self._limits.max_member_bytes:
            raise BundleError(f"file is larger than {self._limits.max_member_bytes} bytes", rel)
        self._read_total += len(data)
        if self._read_total > self._limits.max_total_bytes:
            raise BundleError(f"folder holds more than {self._limits.max_total_bytes} bytes")
        return data


def _iter_source(source: _ZipSource | _FolderSource) -> Iterator[BundleItem]:
    names = source.names()
    images = [n for n in names if _kind(n) == "image"]
    jsons = [n for n in names if _kind(n) == "json"]
    image_set = set(images)
    by_basename: dict[str, list[str]] = {}
    by_dir_stem: dict[tuple[str, str], list[str]] = {}
    for n in images:
        p = PurePosixPath(n)
        by_basename.setdefault(p.name, []).append(n)
        by_dir_stem.setdefault((str(p.parent), p.stem), []).append(n)

    # Parse every JSON first so that pairing is decided before anything is yielded.
    parsed: list[tuple[str, LabelMeDocument | None, LabelMeError | None, str | None]] = []
    for jn in jsons:
        doc: LabelMeDocument | None = None
        err: LabelMeError | None = None
        try:
            doc = parse_document(source.read(jn))
        except LabelMeError as exc:
            err = exc
            logger.warning("invalid LabelMe JSON in bundle: %s", exc)
        jp = PurePosixPath(jn)
        image: str | None = None
        if doc is not None and doc.image_path:
            base = _check_image_path(doc.image_path, jn)
            same_dir = str(jp.parent / base) if str(jp.parent) != "." else base
            if same_dir in image_set:
                image = same_dir
            elif len(by_basename.get(base, [])) == 1:
                image = by_basename[base][0]
        if image is None:
            candidates = sorted(by_dir_stem.get((str(jp.parent), jp.stem), []))
            if candidates:
                image = candidates[0]
        parsed.append((jn, doc, err, image))

    paired = {image for _, _, _, image in parsed if image is not None}
    entries: list[tuple[str, int, Any]] = []
    for jn, doc, err, image in parsed:
        entries.append((image or jn, 0, (jn, doc, err, image)))
    for n in images:
        if n not in paired:
            entries.append((n, 1, n))
    entries.sort(key=lambda e: (e[0], e[1]))

    for name, kind, payload in entries:
        if kind == 1:
            yield BundleItem(
                name=name, image_name=name, image_bytes=source.read(name), image_source="file",
                json_name=None, doc=None,
            )
            continue
        jn, doc, err, image = payload
        if image is not None:
            yield BundleItem(
                name=name, image_name=image, image_bytes=source.read(image), image_source="file",
                json_name=jn, doc=doc, error=err,
            )
        elif doc is not None and doc.image_data is not None:
            yield BundleItem(
                name=name, image_name=None, image_bytes=doc.image_data, image_source="embedded",
                json_name=jn, doc=doc, error=err,
            )
        else:
            yield BundleItem(
                name=name, image_name=None, image_bytes=None, image_source="missing",
                json_name=jn, doc=doc, error=err,
            )


def iter_bundle(path: Path | str, *, limits: BundleLimits | None = None) -> Iterator[BundleItem]:
    """Read a folder or ``.zip`` of images and LabelMe JSON files, pairing each JSON with its image.

    Parameters
    ----------
    path : Path
        A directory, or a zip file.
    limits : BundleLimits, optional
        Size limits (defaults: :class:`BundleLimits`).

    Yields
    ------
    BundleItem
        Sorted by ``name``. A JSON is paired with the image named by the base name of its
        ``imagePath`` (same folder first, else the only image of that name anywhere in the
        bundle), else with an image of the same stem in the same folder; without one, its
        embedded ``imageData`` is used (``image_source="embedded"``), else ``"missing"``.
        Images without JSON are yielded with ``doc=None``. Invalid JSON is yielded with
        ``error`` set rather than aborting the bundle. Files that are neither images
        (:data:`BUNDLE_IMAGE_SUFFIXES`) nor ``.json`` are ignored, as are ``__MACOSX/`` and
        ``._*`` resource forks.

    Raises
    ------
    BundleError
        Before any member is read, for zip entries with ``..``, absolute paths or drive letters,
        symbolic links (zip or folder), encrypted members, too many entries, and zip-bomb
        signs (a member or the total above the limits, or a compression ratio above
        ``max_ratio``); while reading, for an ``imagePath`` that is absolute or contains ``..``,
        or a member that expands beyond its declared size. Also when ``path`` is neither a
        directory nor a zip file.

    Notes
    -----
    Nothing is extracted to disk: zip members are decompressed into memory, one at a time.
    """
    path = Path(path)
    limits = BundleLimits() if limits is None else limits
    if path.is_dir():
        yield from _iter_source(_FolderSource(path, limits))
        return
    if not path.is_file():
        raise BundleError(f"{path.name!r} is neither a folder nor a file")
    if not zipfile.is_zipfile(path):
        raise BundleError(f"{path.name!r} is not a zip file")
    try:
        with zipfile.ZipFile(path) as zf:
            yield from _iter_source(_ZipSource(zf, limits))
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise BundleError(f"corrupt zip file: {exc}") from exc
