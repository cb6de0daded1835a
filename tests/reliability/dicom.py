"""Small synthetic DICOM files that carry identifying tags, for the privacy and hostile-input tests."""

from __future__ import annotations

import numpy as np

from tests.dicom import build_dicom

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
    pixels = np.random.default_rng(seed).integers(0, 4096, size=(rows, columns), dtype=np.uint16)
    return build_dicom(pixels, identifiers=IDENTIFIERS, pixel_spacing=[0.15, 0.15], pixel_data=pixel_data,
                       **overrides)


def identifying_values() -> list[str]:
    """The strings whose presence anywhere outside the stored original is a leak."""
    values = list(IDENTIFIERS.values())
    values += [part for value in IDENTIFIERS.values() for part in value.split("^") if len(part) > 3]
    return values
