"""Services that write patients, cases, images and annotation revisions.

Each service owns its transaction and validation; views, serializers and tasks only call them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from annotations.core.demographics import Demographics, dicom_demographics
from annotations import tasks
from annotations.core.imaging import DecodedImage, ImageDecodeError, decode_image, make_display_png
from annotations.core.labelme import BundleError, BundleItem, LabelMeError, iter_bundle, parse_document, to_labelme5
from annotations.models import (
    AnnotationRevision,
    Case,
    Cohort,
    Image,
    Patient,
    RevisionSource,
    Sex,
    SpacingSource,
    View,
)
from enllasd_web.exceptions import ApplicationError, Conflict, InvalidInput, PayloadTooLarge, UnsupportedMedia
from enllasd_web.queueing import publish_or_log


_SPACING_SOURCES = {
    "dicom_pixel_spacing": SpacingSource.DICOM,
    "dicom_imager_pixel_spacing": SpacingSource.DICOM_IMAGER,
    "none": SpacingSource.NONE,
}
_DECODE_ERROR_CLASSES: dict[str, type[ApplicationError]] = {
    "too_many_pixels": PayloadTooLarge,
    "unsupported_dicom": UnsupportedMedia,
}


def patient_create(*, code: str, cohort: str = Cohort.UNKNOWN, birth_year: int | None = None, sex: str = "U") -> Patient:
    patient = Patient(code=code, cohort=cohort, birth_year=birth_year, sex=sex)
    patient.full_clean()
    patient.save()
    return patient


def patient_demographics_update(*, patient: Patient, birth_year: int | None = None, sex: str | None = None) -> Patient:
    """Record a patient's birth year and sex where they are given (a new case form, a DICOM header).

    Raises
    ------
    Conflict
        The patient already has another birth year or sex: the caller must say which is right (nothing is
        changed).
    """
    changed = []
    for field_name, value, unknown in (("birth_year", birth_year, None), ("sex", sex, Sex.UNKNOWN)):
        if value is None or value == unknown or getattr(patient, field_name) == value:
            continue
        if getattr(patient, field_name) != unknown:
            raise Conflict(f"Patient {patient.code} has {field_name} {getattr(patient, field_name)}, not {value}.",
                           {"code": "demographics_conflict", "field": field_name})
        setattr(patient, field_name, value)
        changed.append(field_name)
    if changed:
        patient.full_clean()
        patient.save(update_fields=changed)
    return patient


def case_create(*, patient: Patient, acquisition_date: date | None = None, view: str = View.AP, notes: str = "") -> Case:
    case = Case(patient=patient, acquisition_date=acquisition_date, view=view, notes=notes)
    case.full_clean()
    case.save()
    return case


_FORMAT_SUFFIXES = {"dicom": ".dcm", "png": ".png", "jpeg": ".jpg", "tiff": ".tif"}


def _pseudonym(identifier: str) -> str:
    """Keyed hash of a source identifier: stable for re-uploads, useless without SECRET_KEY."""
    digest = hmac.new(settings.SECRET_KEY.encode(), identifier.encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def _decode_upload(data: bytes, filename: str) -> DecodedImage:
    if len(data) > settings.ENLLASD_MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(
            f"The file is {len(data)} bytes; the limit is {settings.ENLLASD_MAX_UPLOAD_BYTES} bytes.",
            {"code": "too_large"},
        )
    try:
        return decode_image(data, filename=filename, max_pixels=settings.ENLLASD_MAX_IMAGE_PIXELS)
    except ImageDecodeError as exc:
        error_class = _DECODE_ERROR_CLASSES.get(exc.code, InvalidInput)
        raise error_class(str(exc), {"code": exc.code, "file": filename}) from exc


def image_stored_name(*, uploaded_name: str, image_format: str, patient_code: str, sha256: str) -> str:
    """The name an upload is known by (API, exports, admin) under ``ENLLASD_UPLOAD_NAMES``.

    File names can identify a patient: PACS exports name DICOM files after the patient or the SOP
    instance UID. A pseudonymised name is ``<patient code>_<first 12 hex of sha256><suffix>``: the
    patient code is pseudonymous by design, the LabelMe importer reads it back from the part before the
    first ``_``, and the hash keeps two files of one case apart.
    """
    policy = settings.ENLLASD_UPLOAD_NAMES
    if policy == "keep" or (policy == "keep-non-dicom" and image_format != "dicom"):
        return uploaded_name
    suffix = _FORMAT_SUFFIXES.get(image_format, "")
    return f"{Path(patient_code).name or 'image'}_{sha256[:12]}{suffix}"[-255:]


def image_upload(*, case: Case, data: bytes, filename: str, uploaded_by: AbstractBaseUser | None,
                 interactive: bool = False) -> Image:
    """Store a radiograph's original bytes and metadata, then queue its display derivatives and run the upload
    hooks (:func:`image_upload_hook_register`: inference queues the prediction and the SAM embedding).

    ``interactive``: a person uploaded it and waits (the browser, the API): its derivatives and prediction go
    to the ``interactive`` queue, ahead of bulk imports; its SAM embedding still comes last.

    Raises
    ------
    InvalidInput, PayloadTooLarge, UnsupportedMedia
        The bytes are not a supported, intact image within the configured limits.
    Conflict
        The same file (same sha256) is already part of this case.
    """
    safe_name = Path(filename or "upload").name[:255] or "upload"
    decoded = _decode_upload(data, safe_name)
    sha256 = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(case=case, sha256=sha256).first()
    if existing is not None:
        raise Conflict("This file is already part of the case.", {"image_id": existing.pk})

    identifiers = decoded.dicom_identifiers or {}
    source_id = identifiers.get("PatientID") or ""
    demographics = dicom_demographics(identifiers, acquired=case.acquisition_date)
    suffix = _FORMAT_SUFFIXES.get(decoded.format, "")
    image = Image(
        case=case,
        original_name=image_stored_name(uploaded_name=safe_name, image_format=decoded.format,
                                        patient_code=case.patient.code, sha256=sha256),
        original_suffix=suffix,
        sha256=sha256,
        size_bytes=len(data),
        format=decoded.format,
        width=decoded.width,
        height=decoded.height,
        bit_depth=decoded.bit_depth,
        photometric=decoded.photometric,
        pixel_spacing_mm=decoded.pixel_spacing_mm,
        spacing_source=_SPACING_SOURCES[decoded.spacing_source],
        dicom_metadata=decoded.dicom_safe_metadata or {},
        source_pseudonym=_pseudonym(str(source_id)) if source_id else "",
        uploaded_by=uploaded_by,
    )
    stored_name: str | None = None
    try:
        with transaction.atomic():
            image.original.save(f"{sha256}{suffix}", ContentFile(data), save=False)
            stored_name = image.original.name
            image.full_clean()
            image.save()
            _patient_demographics_fill(case.patient, demographics)
            transaction.on_commit(lambda: image_derivatives_enqueue(image_id=image.pk, interactive=interactive))
            for hook in _UPLOAD_HOOKS:
                transaction.on_commit(partial(hook, image=image, interactive=interactive))
    except IntegrityError as exc:
        _delete_unreferenced(stored_name)
        raise Conflict("This file is already part of the case.", {"sha256": sha256}) from exc
    except Exception:
        _delete_unreferenced(stored_name)
        raise
    return image


def _patient_demographics_fill(patient: Patient, demographics: Demographics) -> None:
    """Take the birth year and sex a DICOM header gives where the patient's are still unknown (a value someone
    entered is never overwritten)."""
    patient_demographics_update(patient=patient,
                                birth_year=demographics.birth_year if patient.birth_year is None else None,
                                sex=demographics.sex if patient.sex == Sex.UNKNOWN else None)


def _delete_unreferenced(name: str | None) -> None:
    """Remove a stored original that no row refers to (a failed upload leaves no orphan file)."""
    if not name or Image.objects.filter(original=name).exists():
        return
    Image.original.field.storage.delete(name)


#: Called once an uploaded image is committed, as ``hook(image=..., interactive=...)``, in the order registered.
#: Higher apps register theirs in ``AppConfig.ready()`` (inference queues the prediction and the SAM embedding),
#: so the upload does not need to know what runs after it.
_UPLOAD_HOOKS: list[Callable[..., None]] = []


def image_upload_hook_register(hook: Callable[..., None]) -> None:
    """Run ``hook(image=image, interactive=interactive)`` on commit after every :func:`image_upload` (once per hook,
    however often it is registered)."""
    if hook not in _UPLOAD_HOOKS:
        _UPLOAD_HOOKS.append(hook)


def image_derivatives_enqueue(*, image_id: int, interactive: bool = False) -> None:
    """Queue the derivative task (on the ``interactive`` queue for a person's upload); if the broker is down the
    image keeps status pending and the display endpoint makes the derivative on first view, so an upload never
    fails for that."""
    publish_or_log(tasks.image_derivatives_create, args=[image_id], queue="interactive" if interactive else "default",
                   what=f"derivatives for image {image_id}")


def _normalise_document(document: Any, image: Image) -> dict[str, Any]:
    try:
        parsed = parse_document(document)
    except LabelMeError as exc:
        raise InvalidInput(f"Invalid LabelMe document: {exc}", {"code": "invalid_labelme"}) from exc
    size = (parsed.image_height, parsed.image_width)
    if None not in size and size != (image.height, image.width):
        raise InvalidInput(
            f"The document is for a {size[1]}x{size[0]} image but the image is {image.width}x{image.height}.",
            {"code": "size_mismatch"},
        )
    stored = to_labelme5(parsed, image_data=None)
    stored["imagePath"] = image.original_name
    stored["imageHeight"] = image.height
    stored["imageWidth"] = image.width
    return stored


def annotation_revision_submit(
    *,
    image: Image,
    document: Any,
    base_revision_id: int | None,
    source: str,
    author: AbstractBaseUser | None,
    model_version_id: int | None = None,
    message: str = "",
) -> AnnotationRevision:
    """Add a revision on top of ``base_revision_id``, which must be the image's current head.

    Raises
    ------
    InvalidInput
        The document is not valid LabelMe or does not fit the image.
    Conflict
        Someone saved a newer revision since ``base_revision_id``; ``extra.head_revision`` holds it.
        Nothing is written, so the caller's work can be reloaded and merged.
    """
    if source not in RevisionSource.values:
        raise InvalidInput(f"Unknown revision source {source!r}.", {"code": "invalid_source"})
    stored = _normalise_document(document, image)
    with transaction.atomic():
        # The head is read after the lock, in a statement of its own: joined into the locking query
        # it would come from the snapshot taken before the wait, and miss a head saved meanwhile.
        locked = Image.objects.select_for_update().only("id", "head_revision").get(pk=image.pk)
        if locked.head_revision_id != base_revision_id:
            head = AnnotationRevision.objects.select_related("author").get(pk=locked.head_revision_id) \
                if locked.head_revision_id else None
            raise Conflict(
                "Another revision was saved since the one this edit started from.",
                {
                    "code": "stale_base_revision",
                    "base_revision": base_revision_id,
                    "head_revision": revision_summary(head) if head else None,
                },
            )
        # Only the head's number is needed: its document is not decoded.
        head = AnnotationRevision.objects.only("id", "number").get(pk=base_revision_id) if base_revision_id else None
        revision = AnnotationRevision(
            image=image,
            parent=head,
            number=(head.number + 1) if head else 1,
            document=stored,
            source=source,
            author=author,
            model_version_id=model_version_id,
            message=message[:500],
        )
        # Value checks only: the related rows were just loaded (checking that they exist would cost a
        # query each), the document is what _normalise_document built, the row lock serialises writers
        # and the database enforces the unique (image, number) and (parent) constraints
        # (docs/reliability.md, section 6).
        revision.full_clean(exclude=["image", "parent", "author", "model_version", "document"],
                            validate_unique=False, validate_constraints=False)
        revision.save()
        locked.head_revision = revision
        locked.save(update_fields=["head_revision"])
    image.head_revision = revision
    return revision


def revision_summary(revision: AnnotationRevision) -> dict[str, Any]:
    return {
        "id": revision.pk,
        "number": revision.number,
        "source": revision.source,
        "author": revision.author.get_username() if revision.author else None,
        "created_at": revision.created_at.isoformat(),
        "document": revision.document,
    }


@dataclass
class ImportReport:
    images_created: int = 0
    images_skipped: int = 0
    revisions_created: int = 0
    shapes_imported: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "images_created": self.images_created,
            "images_skipped": self.images_skipped,
            "revisions_created": self.revisions_created,
            "shapes_imported": self.shapes_imported,
            "errors": self.errors,
        }


def _patient_code_for(stem: str, *, pattern: re.Pattern[str], prefix: str) -> str:
    match = pattern.search(stem)
    return f"{prefix}{match.group(1) if match and match.groups() else stem}"[:64]


def labelme_bundle_import(
    *,
    path: Path,
    user: AbstractBaseUser | None,
    cohort: str = Cohort.UNKNOWN,
    patient_pattern: str = r"^([^_]+)",
    patient_prefix: str = "",
    view: str = View.AP,
) -> ImportReport:
    """Import a folder or zip of images + LabelMe JSON files.

    Each image goes to a pseudonymous patient whose code is ``patient_prefix`` + the first group of
    ``patient_pattern`` matched on the file stem, in that patient's undated case of ``view``.
    Annotated images get a first revision with source ``imported``. Images already present
    (same sha256 in the case) are skipped, so importing twice adds nothing. An unsafe bundle
    (path traversal, zip bomb, symlinks) is refused before anything is written.

    Raises
    ------
    InvalidInput
        The bundle is unsafe or unreadable.
    """
    pattern = re.compile(patient_pattern)
    try:
        # Validate the whole bundle first so that an unsafe member late in a zip writes nothing.
        for _ in iter_bundle(path):
            pass
        items = iter_bundle(path)
        report = ImportReport()
        for item in items:
            _import_bundle_item(item, report=report, user=user, cohort=cohort, view=view,
                                pattern=pattern, prefix=patient_prefix)
    except BundleError as exc:
        raise InvalidInput(f"Unsafe or unreadable bundle: {exc}", {"code": "invalid_bundle"}) from exc
    return report


def _import_bundle_item(item: BundleItem, *, report: ImportReport, user: AbstractBaseUser | None,
                        cohort: str, view: str, pattern: re.Pattern[str], prefix: str) -> None:
    if item.error is not None:
        report.errors.append(f"{item.json_name}: {item.error}")
    if item.image_bytes is None:
        report.errors.append(f"{item.name}: no image file and no imageData; skipped")
        return
    image_name = Path(item.image_name or item.name).name
    if item.image_source == "embedded":
        image_name = Path(item.doc.image_path or image_name).name if item.doc else image_name
    stem = image_name.rsplit(".", 1)[0]
    code = _patient_code_for(stem, pattern=pattern, prefix=prefix)
    stored_name = None
    try:
        with transaction.atomic():
            patient, _ = Patient.objects.get_or_create(code=code, defaults={"cohort": cohort})
            case = Case.objects.filter(patient=patient, acquisition_date=None, view=view).first()
            if case is None:
                case = case_create(patient=patient, view=view)
            try:
                image = image_upload(case=case, data=item.image_bytes, filename=image_name, uploaded_by=user)
            except Conflict:
                report.images_skipped += 1
                return
            stored_name = image.original.name
            if item.doc is not None:
                document = to_labelme5(item.doc, image_data=None)
                annotation_revision_submit(
                    image=image, document=document, base_revision_id=None,
                    source=RevisionSource.IMPORTED, author=user, message=f"Imported from {item.json_name}",
                )
    except ApplicationError as exc:
        # The image row was rolled back with its revision: its stored file must go too.
        _delete_unreferenced(stored_name)
        report.errors.append(f"{item.name}: {exc.message}")
        return
    report.images_created += 1
    if item.doc is not None:
        report.revisions_created += 1
        report.shapes_imported += len(item.doc.shapes)


def _export_image_bytes(image: Image) -> tuple[str, bytes]:
    """The file written next to an exported JSON: the original for PNG/JPEG, else a full-size PNG."""
    if image.format in {"png", "jpeg"}:
        with image.original.open("rb") as handle:
            return image.original_name, handle.read()
    with image.original.open("rb") as handle:
        decoded = decode_image(handle.read(), filename=image.original_name,
                               max_pixels=settings.ENLLASD_MAX_IMAGE_PIXELS)
    return f"{image.stem}.png", make_display_png(decoded, max_side=None)


def image_labelme_document(*, image: Image, embed_image_data: bool = False) -> dict[str, Any]:
    """The head revision as a LabelMe 5.x document (an empty one when the image has none)."""
    image_name, image_bytes = _export_image_bytes(image) if embed_image_data else (image.original_name, None)
    if image.format not in {"png", "jpeg"}:
        image_name = f"{image.stem}.png"
    head = image.head_revision
    parsed = parse_document(head.document) if head else parse_document(
        {"shapes": [], "imagePath": image_name, "imageHeight": image.height, "imageWidth": image.width}
    )
    return to_labelme5(parsed, image_data=image_bytes, image_path=image_name)


def _labelme_export_files(images: Iterable[Image], *, embed_image_data: bool,
                          with_images: bool) -> Iterator[tuple[str, bytes]]:
    """``(file name, bytes)`` of ``<stem>.json`` (LabelMe 5.x), then the image file, for each image with a head
    revision. File names that would collide across cases get the case id as a prefix."""
    used: set[str] = set()
    for image in images:
        if image.head_revision_id is None:
            continue
        image_name, image_bytes = _export_image_bytes(image)
        if image_name in used:
            image_name = f"case{image.case_id}_{image_name}"
        used.add(image_name)
        parsed = parse_document(image.head_revision.document)
        document = to_labelme5(parsed, image_data=image_bytes if embed_image_data else None, image_path=image_name)
        yield f"{image_name.rsplit('.', 1)[0]}.json", json.dumps(document, indent=2).encode()
        if with_images:
            yield image_name, image_bytes


def labelme_export(*, images: Iterable[Image], out_dir: Path, embed_image_data: bool = False,
                   with_images: bool = True) -> int:
    """Write ``<stem>.json`` (LabelMe 5.x) and the image file for each image with a head revision into ``out_dir``.

    Returns the number of JSON files written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, data in _labelme_export_files(images, embed_image_data=embed_image_data, with_images=with_images):
        (out_dir / name).write_bytes(data)
        written += name.endswith(".json")
    return written


def labelme_export_zip(*, images: Iterable[Image], out: BinaryIO) -> int:
    """The same files as :func:`labelme_export`, as a zip written to ``out`` (the case page's export button);
    LabelMe opens the unpacked folder and ``import_labelme`` takes the zip back. Returns the JSON files written."""
    written = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in _labelme_export_files(images, embed_image_data=False, with_images=True):
            archive.writestr(name, data)
            written += name.endswith(".json")
    return written
