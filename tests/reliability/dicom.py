"""Small synthetic DICOM files that carry identifying tags, for the privacy and hostile-input tests."""

from __future__ import annotations

import io

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

#: Identifying values written into every generated file; none may ever leave the server.
IDENTIFIERS: dict[str, str] = {
    "PatientName": "Doe^Jane^Quentina",
    "PatientID": "PID-7349-XQ",
    "PatientBirthDate": "19590317",
    "AccessionNumber": "ACC-55821-ZZ",
    "InstitutionName": "St Quixote Infirmary",
    "ReferringPhysicianName": "Smith^Wolfgang",
    "StudyDescription": "Doe Jane long leg follow-up",
}


def dicom_bytes(*, rows: int = 48, columns: int = 32, seed: int = 0, pixel_data: bytes | None = None,
                **overrides: object) -> bytes:
    """A 12-bit MONOCHROME2 DICOM with :data:`IDENTIFIERS` set; ``overrides`` replace any attribute."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    for keyword, value in IDENTIFIERS.items():
        setattr(ds, keyword, value)
    ds.Modality = "DX"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelSpacing = [0.15, 0.15]
    for keyword, value in overrides.items():
        setattr(ds, keyword, value)
    pixels = np.random.default_rng(seed).integers(0, 4096, size=(rows, columns), dtype=np.uint16)
    ds.PixelData = pixels.tobytes() if pixel_data is None else pixel_data
    ds.preamble = b"\x00" * 128
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def identifying_values() -> list[str]:
    """The strings whose presence anywhere outside the stored original is a leak."""
    values = list(IDENTIFIERS.values())
    values += [part for value in IDENTIFIERS.values() for part in value.split("^") if len(part) > 3]
    return values
