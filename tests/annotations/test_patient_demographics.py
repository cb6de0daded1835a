"""Patient age and sex (issue 27, item 6): taken at case creation and from DICOM, so that children's films are
judged against their age's normal ranges instead of "age unknown (adult ranges)"."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from annotations.core.demographics import Demographics, dicom_demographics
from annotations.models import Patient
from annotations.services import case_create, image_upload, patient_create
from clinical.selectors.measurements import normal_ranges_for_image
from tests.dicom import build_dicom

TODAY = date(2026, 12, 7)


@pytest.mark.parametrize(("identifiers", "expected"), [
    ({"PatientBirthDate": "20140312", "PatientSex": "F"}, Demographics(2014, "F")),
    ({"PatientAge": "012Y", "StudyDate": "20260105", "PatientSex": "m"}, Demographics(2014, "M")),
    ({"PatientAge": "018M", "AcquisitionDate": "20250601"}, Demographics(2024, None)),
    ({"PatientAge": "012Y"}, Demographics(None, None)),  # no date to count back from
    ({"PatientAge": "12 years", "StudyDate": "20260105"}, Demographics(None, None)),  # not a DICOM age string
    ({"PatientBirthDate": "20301301", "PatientSex": "X"}, Demographics(None, None)),  # no such date or sex
    ({"PatientBirthDate": "18000101"}, Demographics(None, None)),  # more than 120 years back
])
def test_dicom_demographics(identifiers, expected) -> None:  # noqa: ANN001
    assert dicom_demographics(identifiers, today=TODAY) == expected


def test_an_age_counts_back_from_the_case_date_when_the_header_has_none() -> None:
    assert dicom_demographics({"PatientAge": "007Y"}, acquired=date(2026, 3, 1), today=TODAY).birth_year == 2019


@pytest.mark.django_db
def test_the_new_case_form_takes_birth_year_or_age_and_sex(annotator_client) -> None:
    response = annotator_client.post("/api/cases/create/", {"patient_code": "CHILD-1", "acquisition_date": "2026-05-02",
                                                            "birth_year": 2016, "sex": "F"}, format="json")
    assert response.status_code == 201, response.content
    patient = Patient.objects.get(code="CHILD-1")
    assert (patient.birth_year, patient.sex, patient.cohort) == (2016, "F", "unknown")
    by_age = annotator_client.post("/api/cases/create/", {"patient_code": "CHILD-2", "acquisition_date": "2026-05-02",
                                                          "age_years": 9}, format="json")
    assert by_age.status_code == 201 and Patient.objects.get(code="CHILD-2").birth_year == 2017
    # A later case of a known patient fills in what was unknown and refuses to contradict what is known.
    assert annotator_client.post("/api/cases/create/", {"patient_code": "CHILD-2", "sex": "M"},
                                 format="json").status_code == 201
    assert Patient.objects.get(code="CHILD-2").sex == "M"
    conflict = annotator_client.post("/api/cases/create/", {"patient_code": "CHILD-2", "birth_year": 2010},
                                     format="json")
    assert conflict.status_code == 409 and conflict.json()["extra"]["code"] == "demographics_conflict"
    assert annotator_client.post("/api/cases/create/", {"patient_code": "X", "age_years": 9},
                                 format="json").status_code == 400  # an age needs the acquisition date


@pytest.mark.django_db
def test_a_dicom_upload_fills_in_age_and_sex_and_the_child_ranges_apply() -> None:
    case = case_create(patient=patient_create(code="EOS-1"), acquisition_date=date(2026, 4, 20))
    pixels = (np.random.default_rng(0).random((64, 32)) * 4000).astype(np.uint16)
    data = build_dicom(pixels, identifiers={"PatientID": "H123", "PatientAge": "010Y", "PatientSex": "M",
                                            "StudyDate": "20260420"})
    image = image_upload(case=case, data=data, filename="eos.dcm", uploaded_by=None)
    case.patient.refresh_from_db()
    assert (case.patient.birth_year, case.patient.sex) == (2016, "M")
    assert "20260420" not in str(image.dicom_metadata) and "010Y" not in str(image.dicom_metadata)
    ranges = normal_ranges_for_image(image)
    assert ranges["age_years"] == 10.0
    # A value someone entered is never overwritten by a header.
    other = case_create(patient=patient_create(code="EOS-2", birth_year=2015, sex="F"))
    image_upload(case=other, data=build_dicom(pixels, identifiers={"PatientAge": "010Y", "PatientSex": "M",
                                                                   "StudyDate": "20260420"}),
                 filename="eos2.dcm", uploaded_by=None)
    other.patient.refresh_from_db()
    assert (other.patient.birth_year, other.patient.sex) == (2015, "F")
