"""Export of a LabelMe document as LabelMe 5.x JSON."""

from __future__ import annotations

import base64
from typing import Any

from annotations.core.labelme.schema import LabelMeDocument, LabelMeShape

LABELME_EXPORT_VERSION = "5.2.1"


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
