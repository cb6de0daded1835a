"""Decode uploaded radiographs (PNG, JPEG, TIFF, DICOM) into grey pixels plus a display image.

Every decoded image has two arrays, both ``(H, W)`` indexed ``[row, col]`` in the orientation
the annotations refer to (EXIF orientation applied, as the ``labelme`` program does):

* ``pixels``: the grey values as stored (uint8, or uint16 for 9-16-bit data), colour converted to
  luma (ITU-R 601-2, Pillow's ``"L"`` conversion);
* ``display``: an 8-bit rendering in which bone is bright. PNG/JPEG/8-bit TIFF are already
  display images and are used as they are; 16-bit PNG/TIFF get a robust percentile window; DICOM
  gets the modality LUT (rescale slope/intercept), then the VOI LUT (explicit LUT or
  WindowCenter/WindowWidth) or, without one, the percentile window, then MONOCHROME1 inversion.

Untrusted input is bounded: the pixel count is checked from the header (Pillow's lazy ``open`` /
DICOM ``Rows x Columns``) before any pixel is decoded, Pillow only tries the PNG, JPEG and TIFF
decoders, and identifying DICOM attributes are kept apart from the safe metadata.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

__all__ = [
    "DICOM_IDENTIFIER_KEYWORDS",
    "DecodedImage",
    "ImageDecodeError",
    "decode_image",
    "make_display_png",
    "make_thumbnail_png",
    "percentile_window",
    "sha256_hex",
]

ImageFormat = Literal["png", "jpeg", "tiff", "dicom"]
SpacingSource = Literal["dicom_pixel_spacing", "dicom_imager_pixel_spacing", "none"]
ErrorCode = Literal[
    "empty", "not_an_image", "truncated", "too_many_pixels", "unsupported_image", "unsupported_dicom"
]

#: Percentiles of the robust display window used when no VOI window is available.
WINDOW_PERCENTILES: tuple[float, float] = (0.5, 99.5)
_PERCENTILE_SAMPLE = 4_000_000  # enough values for stable percentiles, bounded cost
_PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "TIFF": "tiff", "MPO": "jpeg"}

#: DICOM attributes that may identify a patient, study or site. They are returned in
#: ``DecodedImage.dicom_identifiers`` (for pseudonymisation) and never in the safe metadata.
DICOM_IDENTIFIER_KEYWORDS: tuple[str, ...] = (
    "PatientName", "PatientID", "IssuerOfPatientID", "OtherPatientIDs", "OtherPatientNames",
    "PatientBirthDate", "PatientBirthTime", "PatientSex", "PatientAge", "PatientSize",
    "PatientWeight", "PatientAddress", "PatientTelephoneNumbers", "EthnicGroup",
    "AccessionNumber", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
    "FrameOfReferenceUID", "StudyID", "StudyDate", "StudyTime", "SeriesDate", "SeriesTime",
    "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime", "ContentDate", "ContentTime",
    "InstanceCreationDate", "InstanceCreationTime", "StudyDescription", "SeriesDescription",
    "ImageComments", "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
    "StationName", "DeviceSerialNumber", "ReferringPhysicianName", "PerformingPhysicianName",
    "OperatorsName", "PhysiciansOfRecord", "RequestingPhysician",
)

# Whitelist of non-identifying attributes reported in ``dicom_safe_metadata`` (keyword -> key).
_SAFE_KEYWORDS: dict[str, str] = {
    "Modality": "modality",
    "BodyPartExamined": "body_part_examined",
    "ViewPosition": "view_position",
    "Laterality": "laterality",
    "ImageLaterality": "image_laterality",
    "PatientOrientation": "patient_orientation",
    "SOPClassUID": "sop_class_uid",
    "Rows": "rows",
    "Columns": "columns",
    "SamplesPerPixel": "samples_per_pixel",
    "NumberOfFrames": "number_of_frames",
    "BitsAllocated": "bits_allocated",
    "BitsStored": "bits_stored",
    "HighBit": "high_bit",
    "PixelRepresentation": "pixel_representation",
    "PhotometricInterpretation": "photometric_interpretation",
    "RescaleSlope": "rescale_slope",
    "RescaleIntercept": "rescale_intercept",
    "RescaleType": "rescale_type",
    "WindowCenter": "window_center",
    "WindowWidth": "window_width",
    "VOILUTFunction": "voi_lut_function",
    "PixelSpacing": "pixel_spacing",
    "ImagerPixelSpacing": "imager_pixel_spacing",
    "PixelSpacingCalibrationType": "pixel_spacing_calibration_type",
    "EstimatedRadiographicMagnificationFactor": "estimated_radiographic_magnification_factor",
    "LossyImageCompression": "lossy_image_compression",
}


class ImageDecodeError(ValueError):
    """An upload cannot be decoded.

    Parameters
    ----------
    message : str
        What is wrong, in words.
    code : str
        Machine-readable reason: ``"empty"``, ``"not_an_image"`` (not PNG/JPEG/TIFF/DICOM),
        ``"truncated"`` (incomplete or corrupt pixel data), ``"too_many_pixels"``,
        ``"unsupported_image"`` (e.g. float or multi-page TIFF), ``"unsupported_dicom"``
        (multi-frame, colour, no pixel data, compressed syntax without a decoder).
    """

    def __init__(self, message: str, code: ErrorCode) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class DecodedImage:
    """A decoded grey radiograph.

    Attributes
    ----------
    pixels : (H, W) uint8 or uint16 ndarray
        Stored grey values (read-only).
    display : (H, W) uint8 ndarray
        Bone-bright 8-bit rendering (read-only).
    width, height : int
    bit_depth : int
        Bits per stored sample (DICOM BitsStored; 8 or 16 for Pillow images, 1 for bilevel).
    photometric : str
        DICOM PhotometricInterpretation (``"MONOCHROME1"``/``"MONOCHROME2"``) or the Pillow mode
        of the file (``"L"``, ``"RGB"``, ``"I;16"``, ...).
    format : {"png", "jpeg", "tiff", "dicom"}
    pixel_spacing_mm : float or None
        Isotropic spacing in mm per pixel, from DICOM only.
    spacing_source : {"dicom_pixel_spacing", "dicom_imager_pixel_spacing", "none"}
    dicom_safe_metadata : dict
        Non-identifying DICOM attributes (JSON-compatible), plus ``transfer_syntax_uid`` /
        ``transfer_syntax_name`` and ``display_window`` (how ``display`` was made). Empty for
        non-DICOM images.
    dicom_identifiers : dict of str to str
        Identifying DICOM attributes present in the file (keyword -> text) so that the caller can
        pseudonymise; never stored with the image as is.
    """

    pixels: NDArray[np.uint8] | NDArray[np.uint16] = field(repr=False)
    display: NDArray[np.uint8] = field(repr=False)
    width: int
    height: int
    bit_depth: int
    photometric: str
    format: ImageFormat
    pixel_spacing_mm: float | None = None
    spacing_source: SpacingSource = "none"
    dicom_safe_metadata: dict[str, Any] = field(default_factory=dict)
    dicom_identifiers: dict[str, str] = field(default_factory=dict, repr=False)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _readonly(arr: NDArray[Any]) -> NDArray[Any]:
    arr = np.ascontiguousarray(arr)
    arr.flags.writeable = False
    return arr


def _to_uint8(values: NDArray[np.floating]) -> NDArray[np.uint8]:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def percentile_window(
    values: NDArray[Any], *, percentiles: tuple[float, float] = WINDOW_PERCENTILES
) -> tuple[float, float]:
    """Robust display window ``(low, high)``: the given percentiles of ``values``.

    For large arrays the percentiles are taken on an evenly strided sample of at most four
    million values (deterministic). ``high > low`` is guaranteed (``low + 1`` for flat images).
    """
    flat = np.asarray(values).ravel()
    if flat.size == 0:
        raise ValueError("cannot window an empty array")
    step = max(1, flat.size // _PERCENTILE_SAMPLE)
    low, high = np.percentile(flat[::step], percentiles)
    low, high = float(low), float(high)
    if not high > low:
        high = low + 1.0
    return low, high


def _linear_window(values: NDArray[np.floating], low: float, high: float) -> NDArray[np.uint8]:
    return _to_uint8((values - low) * (255.0 / (high - low)))


def _check_pixel_count(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"image has no pixels ({width} x {height})", "empty")
    if width * height > max_pixels:
        raise ImageDecodeError(
            f"image is {width} x {height} = {width * height} pixels, more than {max_pixels}",
            "too_many_pixels",
        )


# --------------------------------------------------------------------------------------------
# Pillow (PNG, JPEG, TIFF)
# --------------------------------------------------------------------------------------------
def _decode_pillow(data: bytes, *, max_pixels: int) -> DecodedImage:
    try:
        im = Image.open(io.BytesIO(data), formats=["PNG", "JPEG", "TIFF"])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard (Image.MAX_IMAGE_PIXELS; the warning only when warnings are errors).
        raise ImageDecodeError(
            f"image refused by Pillow's size guard: {exc}", "too_many_pixels"
        ) from exc
    except (UnidentifiedImageError, SyntaxError, ValueError, EOFError, ImportError) as exc:
        # ImportError: in worker processes ultralytics replaces Image.open with a wrapper that, on an
        # unidentified file, tries to import an optional HEIF plugin; the file is still not an image.
        raise ImageDecodeError("not a PNG, JPEG, TIFF or DICOM image", "not_an_image") from exc
    except OSError as exc:
        raise ImageDecodeError(f"unreadable image header: {exc}", "truncated") from exc
    with im:
        fmt = _PIL_FORMATS.get(im.format or "", "")
        if not fmt:
            raise ImageDecodeError(f"unsupported image format {im.format!r}", "not_an_image")
        _check_pixel_count(im.width, im.height, max_pixels)
        if getattr(im, "n_frames", 1) > 1 and fmt == "tiff":
            raise ImageDecodeError(
                f"multi-page TIFF ({im.n_frames} pages) is not supported", "unsupported_image"
            )
        mode = im.mode
        try:
            im.load()
            im = ImageOps.exif_transpose(im)
        except Image.DecompressionBombError as exc:
            raise ImageDecodeError(str(exc), "too_many_pixels") from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageDecodeError(f"image data is truncated or corrupt: {exc}", "truncated") from exc
        pixels, bit_depth = _pillow_grey(im, mode)
    if bit_depth > 8:
        low, high = percentile_window(pixels)
        display = _linear_window(pixels.astype(np.float32), low, high)
    else:
        display = pixels
    return DecodedImage(
        pixels=_readonly(pixels),
        display=_readonly(display),
        width=int(pixels.shape[1]),
        height=int(pixels.shape[0]),
        bit_depth=bit_depth,
        photometric=mode,
        format=fmt,  # type: ignore[arg-type]
    )


def _pillow_grey(im: Image.Image, mode: str) -> tuple[NDArray[Any], int]:
    """Grey pixels of a loaded Pillow image and their bit depth."""
    if im.mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16), 16
    if im.mode == "I":
        arr = np.asarray(im)
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        if lo < 0 or hi > 65535:
            raise ImageDecodeError(
                f"32-bit integer image with values {lo}..{hi} does not fit 16 bits",
                "unsupported_image",
            )
        return arr.astype(np.uint16), 16
    if im.mode == "F":
        raise ImageDecodeError("floating-point images are not supported", "unsupported_image")
    if im.mode == "L":
        return np.asarray(im, dtype=np.uint8), 8
    if im.mode == "1":
        return np.asarray(im.convert("L"), dtype=np.uint8), 1
    if im.mode in ("LA", "La"):
        return np.asarray(im.getchannel(0), dtype=np.uint8), 8
    # RGB, RGBA, P, CMYK, YCbCr, ...: ITU-R 601-2 luma (through RGB for palette images).
    if im.mode in ("P", "PA"):
        im = im.convert("RGB")
    return np.asarray(im.convert("L"), dtype=np.uint8), 8


# --------------------------------------------------------------------------------------------
# DICOM
# --------------------------------------------------------------------------------------------
def _looks_like_dicom(data: bytes, filename: str | None) -> bool:
    if len(data) >= 132 and data[128:132] == b"DICM":
        return True
    return filename is not None and filename.lower().endswith((".dcm", ".dicom"))


def _jsonable(value: Any) -> Any:
    from pydicom.multival import MultiValue
    from pydicom.valuerep import DSfloat, IS, PersonName

    if isinstance(value, (MultiValue, list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, (IS, int)):
        return int(value)
    if isinstance(value, (DSfloat, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, PersonName):
        return str(value)
    if isinstance(value, bytes):
        return None
    return str(value)


def _as_list(value: Any) -> list[Any]:
    from pydicom.multival import MultiValue

    return list(value) if isinstance(value, (MultiValue, list, tuple)) else [value]


def _first_number(value: Any) -> float | None:
    from pydicom.multival import MultiValue

    if isinstance(value, (MultiValue, list, tuple)):
        if not value:
            return None
        value = value[0]
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _spacing(ds: Any) -> tuple[float | None, SpacingSource, str | None]:
    """Isotropic spacing and its source; a note when a tag is present but unusable."""
    for keyword, source in (
        ("PixelSpacing", "dicom_pixel_spacing"),
        ("ImagerPixelSpacing", "dicom_imager_pixel_spacing"),
    ):
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        try:
            rc = [float(v) for v in _as_list(value)]
        except (TypeError, ValueError):
            return None, "none", f"{keyword} is not numeric"
        if len(rc) != 2 or not all(math.isfinite(v) and v > 0 for v in rc):
            return None, "none", f"{keyword} {rc} is invalid"
        row_mm, col_mm = rc
        # A single scale for anisotropic pixels would bias every length and angle; refuse it.
        if abs(row_mm - col_mm) > 0.01 * max(row_mm, col_mm):
            return None, "none", f"{keyword} {rc} is anisotropic"
        return (row_mm + col_mm) / 2.0, source, None  # type: ignore[return-value]
    return None, "none", None


def _transfer_syntax(ds: Any) -> Any:
    """The dataset's transfer syntax UID; inferred from its encoding when the file has no meta."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import (
        UID,
        ExplicitVRBigEndian,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
    )

    file_meta = getattr(ds, "file_meta", None)
    tsyntax = getattr(file_meta, "TransferSyntaxUID", None) if file_meta is not None else None
    if tsyntax is not None:
        return UID(str(tsyntax))
    encoding = getattr(ds, "original_encoding", (None, None))
    implicit, little = encoding if encoding is not None else (None, None)
    if implicit is None or little is None:
        return None
    inferred = (
        ImplicitVRLittleEndian if implicit and little
        else ExplicitVRLittleEndian if little
        else ExplicitVRBigEndian
    )
    if file_meta is None:
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = inferred  # pixel_array needs it
    return inferred


def _dicom_display(raw: NDArray[Any], ds: Any) -> tuple[NDArray[np.uint8], dict[str, Any]]:
    """Modality LUT, VOI LUT/window (or percentile window), MONOCHROME1 inversion."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    if "ModalityLUTSequence" in ds:
        values = np.asarray(apply_modality_lut(raw, ds), dtype=np.float32)
    else:
        slope = _first_number(ds.get("RescaleSlope", 1.0))
        intercept = _first_number(ds.get("RescaleIntercept", 0.0))
        slope = 1.0 if slope is None or slope == 0 else slope
        intercept = 0.0 if intercept is None else intercept
        values = raw.astype(np.float32)
        if slope != 1.0 or intercept != 0.0:
            values = values * np.float32(slope) + np.float32(intercept)

    info: dict[str, Any]
    display: NDArray[np.uint8] | None = None
    if ds.get("VOILUTSequence"):
        try:
            lut_out = np.asarray(
                apply_voi_lut(values, ds, index=0, prefer_lut=True), dtype=np.float32
            )
            bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
            display = _to_uint8(lut_out * (255.0 / (2.0**bits - 1.0)))
            info = {"method": "voi_lut_sequence"}
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
            logger.warning("ignoring unusable VOI LUT sequence: %s", exc)
    if display is None:
        center = _first_number(ds.get("WindowCenter"))
        width = _first_number(ds.get("WindowWidth"))
        function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
        if center is not None and width is not None and width >= 1.0:
            if function == "SIGMOID":
                out = 255.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
            elif function == "LINEAR_EXACT":
                out = ((values - center) / width + 0.5) * 255.0
            else:
                # DICOM PS3.3 C.11.2.1.2.1 (LINEAR): ((x - (c - 0.5)) / (w - 1) + 0.5) * 255,
                # clipped; w = 1 is a hard threshold at c - 0.5.
                if width > 1.0:
                    out = ((values - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
                else:
                    out = np.where(values > center - 0.5, 255.0, 0.0)
            display = _to_uint8(out)
            info = {
                "method": "dicom_window", "center": center, "width": width, "function": function
            }
        else:
            low, high = percentile_window(values)
            display = _linear_window(values, low, high)
            info = {"method": "percentile", "low": low, "high": high,
                    "percentiles": list(WINDOW_PERCENTILES)}
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        display = 255 - display
        info["inverted"] = True
    else:
        info["inverted"] = False
    return display, info


def _decode_dicom(data: bytes, *, max_pixels: int) -> DecodedImage:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import get_decoder

    force = not (len(data) >= 132 and data[128:132] == b"DICM")
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=force)
    except InvalidDicomError as exc:
        raise ImageDecodeError(f"not a DICOM file: {exc}", "not_an_image") from exc
    except (
        EOFError, OSError, ValueError, KeyError, TypeError, AttributeError, NotImplementedError
    ) as exc:
        raise ImageDecodeError(f"DICOM file is truncated or corrupt: {exc}", "truncated") from exc

    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        if force and "Rows" not in ds:
            raise ImageDecodeError("not a PNG, JPEG, TIFF or DICOM image", "not_an_image")
        raise ImageDecodeError("DICOM file has no pixel data", "unsupported_dicom")
    if "PixelData" not in ds:
        raise ImageDecodeError("floating-point DICOM pixel data is not supported", "unsupported_dicom")
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        bits_allocated = int(ds.BitsAllocated)
        bits_stored = int(ds.get("BitsStored", bits_allocated) or bits_allocated)
        signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    except (AttributeError, TypeError, ValueError) as exc:
        raise ImageDecodeError(
            f"DICOM image attributes are missing or invalid: {exc}", "unsupported_dicom"
        ) from exc
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()

    # Everything below is decided from the header, before the pixel data is decoded.
    _check_pixel_count(cols, rows, max_pixels)
    if frames * rows * cols > max_pixels:
        raise ImageDecodeError(
            f"{frames} frames of {cols} x {rows} exceed {max_pixels} pixels", "too_many_pixels"
        )
    if frames != 1:
        raise ImageDecodeError(
            f"multi-frame DICOM ({frames} frames) is not supported", "unsupported_dicom"
        )
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ImageDecodeError(
            f"only grey (MONOCHROME1/2) DICOM is supported, got {photometric or 'no'} "
            f"photometric interpretation with {samples} sample(s) per pixel",
            "unsupported_dicom",
        )
    if bits_allocated not in (8, 16) or not 1 <= bits_stored <= bits_allocated:
        raise ImageDecodeError(
            f"unsupported DICOM bit depth (allocated {bits_allocated}, stored {bits_stored})",
            "unsupported_dicom",
        )
    tsyntax = _transfer_syntax(ds)
    if tsyntax is None:
        raise ImageDecodeError("DICOM file has no transfer syntax", "unsupported_dicom")
    if not tsyntax.is_compressed:
        expected = rows * cols * bits_allocated // 8
        if len(ds.PixelData) < expected:
            raise ImageDecodeError(
                f"pixel data has {len(ds.PixelData)} bytes, {expected} expected", "truncated"
            )
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError as exc:
        raise ImageDecodeError(f"unsupported transfer syntax {tsyntax}", "unsupported_dicom") from exc
    if not decoder.is_available:
        raise ImageDecodeError(
            f"no decoder installed for transfer syntax {getattr(tsyntax, 'name', tsyntax)}",
            "unsupported_dicom",
        )
    try:
        raw = np.asarray(ds.pixel_array)
    except NotImplementedError as exc:
        raise ImageDecodeError(
            f"cannot decode DICOM pixel data: {exc}", "unsupported_dicom"
        ) from exc
    except (
        RuntimeError, ValueError, EOFError, OSError, AttributeError, KeyError, TypeError
    ) as exc:
        raise ImageDecodeError(
            f"DICOM pixel data is truncated or corrupt: {exc}", "truncated"
        ) from exc
    if raw.shape != (rows, cols):
        raise ImageDecodeError(
            f"decoded pixel array has shape {raw.shape}, expected {(rows, cols)}",
            "unsupported_dicom",
        )
    if signed and raw.size and int(raw.min()) < 0:
        raise ImageDecodeError(
            "signed DICOM pixel data with negative values is not supported", "unsupported_dicom"
        )
    pixels = raw.astype(np.uint8 if bits_allocated == 8 else np.uint16)

    display, window = _dicom_display(raw, ds)
    spacing, source, spacing_note = _spacing(ds)

    safe: dict[str, Any] = {}
    for keyword, key in _SAFE_KEYWORDS.items():
        if keyword in ds:
            value = ds.get(keyword)
            if value is not None and value != "":
                safe[key] = _jsonable(value)
    safe["transfer_syntax_uid"] = str(tsyntax)
    safe["transfer_syntax_name"] = tsyntax.name
    safe["display_window"] = window
    if spacing_note is not None:
        safe["pixel_spacing_note"] = spacing_note
        logger.warning("DICOM pixel spacing not used: %s", spacing_note)

    identifiers: dict[str, str] = {}
    for keyword in DICOM_IDENTIFIER_KEYWORDS:
        if keyword in ds:
            value = ds.get(keyword)
            text = "\\".join(str(v) for v in _as_list(value))
            if text.strip():
                identifiers[keyword] = text
    file_meta = getattr(ds, "file_meta", None)
    if file_meta is not None and "MediaStorageSOPInstanceUID" in file_meta:
        identifiers.setdefault("SOPInstanceUID", str(file_meta.MediaStorageSOPInstanceUID))

    return DecodedImage(
        pixels=_readonly(pixels),
        display=_readonly(display),
        width=cols,
        height=rows,
        bit_depth=bits_stored,
        photometric=photometric,
        format="dicom",
        pixel_spacing_mm=spacing,
        spacing_source=source,
        dicom_safe_metadata=safe,
        dicom_identifiers=identifiers,
    )


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------
def decode_image(
    data: bytes, *, filename: str | None = None, max_pixels: int = 80_000_000
) -> DecodedImage:
    """Decode an uploaded PNG, JPEG, TIFF or DICOM file into grey pixels and a display image.

    Parameters
    ----------
    data : bytes
        The file's bytes.
    filename : str, optional
        Original file name; only used to recognise DICOM files without the ``DICM`` preamble
        (``.dcm``/``.dicom``).
    max_pixels : int
        Largest accepted ``width * height``, checked from the header before decoding.

    Returns
    -------
    DecodedImage

    Raises
    ------
    ImageDecodeError
        ``code`` is ``"empty"``, ``"not_an_image"``, ``"truncated"``, ``"too_many_pixels"``,
        ``"unsupported_image"`` or ``"unsupported_dicom"``.
    """
    if not data:
        raise ImageDecodeError("the file is empty", "empty")
    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    data = bytes(data)
    if _looks_like_dicom(data, filename):
        return _decode_dicom(data, max_pixels=max_pixels)
    return _decode_pillow(data, max_pixels=max_pixels)


def make_display_png(decoded: DecodedImage, *, max_side: int | None = None) -> bytes:
    """Encode ``decoded.display`` as an 8-bit grey PNG.

    Parameters
    ----------
    decoded : DecodedImage
    max_side : int, optional
        Downscale (Lanczos, aspect kept) so that the longer side is at most this many pixels;
        never upscales.

    Returns
    -------
    bytes
        PNG file bytes.
    """
    im = Image.fromarray(np.ascontiguousarray(decoded.display), mode="L")
    if max_side is not None:
        if max_side < 1:
            raise ValueError(f"max_side must be >= 1, got {max_side}")
        longest = max(im.width, im.height)
        if longest > max_side:
            scale = max_side / longest
            size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
            im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def make_thumbnail_png(decoded: DecodedImage, *, size: int = 256) -> bytes:
    """PNG thumbnail of the display image whose longer side is ``size`` pixels (at most)."""
    return make_display_png(decoded, max_side=size)
