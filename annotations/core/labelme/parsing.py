"""Strict parsing and validation of LabelMe 3.x-5.x documents.

Every error is a :class:`~annotations.core.labelme.errors.LabelMeError`; its ``path`` says where
(``"$.shapes[2].points[0]"``).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from annotations.core.labelme.errors import LabelMeError
from annotations.core.labelme.schema import _POINT_COUNTS, SHAPE_TYPES, LabelMeDocument, LabelMeShape

_DOC_KEYS = ("version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth")
_SHAPE_KEYS = ("label", "points", "group_id", "description", "shape_type", "flags", "mask")


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
