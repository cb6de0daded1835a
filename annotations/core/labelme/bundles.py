"""Safe reading of folder / zip bundles of images and LabelMe JSON.

Nothing is extracted: zip members are read as bytes, with path-traversal, symlink and zip-bomb checks
done on the central directory before any member is decompressed.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from annotations.core.labelme.errors import BundleError, LabelMeError
from annotations.core.labelme.parsing import parse_document
from annotations.core.labelme.schema import LabelMeDocument

logger = logging.getLogger(__name__)

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
