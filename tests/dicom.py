"""Synthetic DICOM files for the tests (decoding, privacy, hostile input): never patient data."""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def build_dicom(
    arr: np.ndarray,
    *,
    identifiers: Mapping[str, str],
    photometric: str = "MONOCHROME2",
    bits_stored: int = 12,
    window: tuple[float, float] | None = None,
    rescale: tuple[float, float] | None = None,
    pixel_spacing: list[float] | None = None,
    imager_pixel_spacing: list[float] | None = None,
    frames: int = 1,
    samples: int = 1,
    syntax=ExplicitVRLittleEndian,
    pixel_data: bytes | None = None,
    preamble: bool = True,
    **attributes: object,
) -> bytes:
    """A synthetic DX image of ``arr`` carrying ``identifiers``; ``attributes`` set (or override) any element last."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    for key, value in identifiers.items():
        setattr(ds, key, value)
    ds.Modality = "DX"
    ds.BodyPartExamined = "LEG"
    ds.ViewPosition = "AP"
    ds.Rows, ds.Columns = arr.shape[-2:] if samples == 1 else arr.shape[-3:-1]
    ds.SamplesPerPixel = samples
    if samples > 1:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16 if arr.dtype == np.uint16 else 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if pixel_spacing is not None:
        ds.PixelSpacing = pixel_spacing
    if imager_pixel_spacing is not None:
        ds.ImagerPixelSpacing = imager_pixel_spacing
    for key, value in attributes.items():
        setattr(ds, key, value)
    ds.PixelData = arr.tobytes() if pixel_data is None else pixel_data
    buf = io.BytesIO()
    if preamble:
        ds.preamble = b"\x00" * 128
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    else:
        del ds.file_meta  # a bare data set, as some old archives store them
        pydicom.dcmwrite(buf, ds, enforce_file_format=False, implicit_vr=True, little_endian=True)
    return buf.getvalue()
