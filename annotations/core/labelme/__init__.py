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

Modules
-------
* :mod:`~annotations.core.labelme.errors`: :class:`LabelMeError` and :class:`BundleError`.
* :mod:`~annotations.core.labelme.labels`: label canonicalisation and the knee / ankle decision by height.
* :mod:`~annotations.core.labelme.schema`: the typed shapes and documents.
* :mod:`~annotations.core.labelme.parsing`: :func:`parse_document`, strict parsing and validation.
* :mod:`~annotations.core.labelme.export`: :func:`to_labelme5`.
* :mod:`~annotations.core.labelme.bundles`: :func:`iter_bundle`, safe folder / zip bundles.
"""

from __future__ import annotations

from annotations.core.labelme.bundles import BUNDLE_IMAGE_SUFFIXES, BundleItem, BundleLimits, iter_bundle
from annotations.core.labelme.errors import BundleError, LabelMeError
from annotations.core.labelme.export import LABELME_EXPORT_VERSION, to_labelme5
from annotations.core.labelme.labels import (
    CANONICAL_LABELS,
    DEFAULT_LABEL_SYNONYMS,
    CanonicalLabel,
    KneeAnkle,
    canonical_label,
    normalize_label,
    resolve_knee_ankle_by_height,
)
from annotations.core.labelme.parsing import (
    MAX_JSON_DEPTH,  # noqa: F401 - public but outside __all__, as before the split
    parse_document,
)
from annotations.core.labelme.schema import (
    SHAPE_TYPES,
    LabelMeDocument,
    LabelMeShape,
    ShapeType,  # noqa: F401 - public but outside __all__, as before the split
)

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
