"""A patient's birth year and sex from a DICOM file's identifying attributes (issue 27, item 6).

Normal ranges depend on age: a child's film judged against adult ranges reads "age unknown (adult
ranges)". A radiograph's DICOM header usually says how old the patient was (``PatientAge``, e.g. ``012Y``)
or when they were born (``PatientBirthDate``), and their sex (``PatientSex``). Only the birth *year* and the
sex are kept on the pseudonymous patient; the birth date itself, like every identifying attribute, never
leaves the server's decoding step.

Age at acquisition is then the acquisition year minus the birth year (±1 year, as the reports state).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

__all__ = ["Demographics", "dicom_demographics"]

_AGE = re.compile(r"^(\d{1,3})([DWMY])$")
_DAYS_PER_UNIT = {"D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}
_SEXES = {"M": "M", "F": "F", "O": "O"}
#: Attributes that date the acquisition, most specific first.
_ACQUISITION_DATES = ("AcquisitionDate", "ContentDate", "SeriesDate", "StudyDate")


@dataclass(frozen=True)
class Demographics:
    """What a header says: birth year and sex (``None`` when it does not say)."""

    birth_year: int | None = None
    sex: str | None = None


def _dicom_date(text: str | None) -> date | None:
    text = (text or "").strip()
    if not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _age_years(text: str | None) -> float | None:
    match = _AGE.match((text or "").strip().upper())
    if match is None:
        return None
    return int(match.group(1)) * _DAYS_PER_UNIT[match.group(2)] / 365.25


def dicom_demographics(identifiers: Mapping[str, str], *, acquired: date | None = None,
                       today: date | None = None) -> Demographics:
    """Birth year and sex from DICOM identifiers (``DecodedImage.dicom_identifiers``).

    The birth year comes from ``PatientBirthDate``, else from ``PatientAge`` (whole years) subtracted from the
    year of the acquisition (the header's acquisition, content, series or study date, else ``acquired``). A birth year in the
    future or more than 120 years back is ignored, as is any value DICOM does not allow.
    """
    today = today or date.today()
    birth_year = None
    born = _dicom_date(identifiers.get("PatientBirthDate"))
    if born is not None:
        birth_year = born.year
    else:
        age = _age_years(identifiers.get("PatientAge"))
        when = next((d for d in (_dicom_date(identifiers.get(k)) for k in _ACQUISITION_DATES) if d), None) or acquired
        if age is not None and when is not None:
            birth_year = when.year - math.floor(age)  # so that the reports' year difference gives the age
    if birth_year is not None and not today.year - 120 <= birth_year <= today.year:
        birth_year = None
    return Demographics(birth_year=birth_year, sex=_SEXES.get((identifiers.get("PatientSex") or "").strip().upper()))
