"""manage.py clinical_demo: the synthetic follow-up patient used for the docs' screenshots."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from annotations.models import Patient

pytestmark = pytest.mark.django_db


def test_demo_patient_has_the_documented_visits(annotator_client) -> None:
    call_command("clinical_demo", "--code", "DEMO-T")
    patient = Patient.objects.get(code="DEMO-T")
    body = annotator_client.get(f"/api/patients/{patient.pk}/timeline/?metric=hka_deviation_deg,MAD").json()
    assert [v["source"] for v in body["visits"]] == ["approved"] * 3 + ["predicted"]
    assert [v["calibration"]["status"] for v in body["visits"]] == ["uncalibrated"] * 2 + ["calibrated",
                                                                                         "uncalibrated"]
    [right] = [s for s in body["series"] if s["metric"] == "hka_deviation_deg" and s["leg"] == "right"]
    assert [p["value"] for p in right["points"]] == pytest.approx([-1.0, -3.5, -6.0, -8.5], abs=0.05)
    assert {s["unit"] for s in body["series"] if s["metric"] == "MAD"} == {"mm", "px"}
    with pytest.raises(CommandError):
        call_command("clinical_demo", "--code", "DEMO-T")


def test_the_demo_seeds_dated_cases_and_a_follow_up_timeline(annotator_client, settings, tmp_path) -> None:
    """Issue 16, item 10: after ``demo`` (what scripts/run seeds) a patient timeline has points."""
    from annotations.models import Case

    settings.MEDIA_ROOT = str(tmp_path / "media")
    call_command("demo", "--n", "1")
    assert not Case.objects.filter(patient__code__startswith="DEMO-", acquisition_date__isnull=True).exists()
    patient = Patient.objects.get(code="DEMO-SD-007")
    body = annotator_client.get(f"/api/patients/{patient.pk}/timeline/?metric=hka_deviation_deg").json()
    assert len(body["visits"]) == 4 and body["series"]
    imported = Patient.objects.filter(code__startswith="DEMO-2LEG-").first()
    assert annotator_client.get(f"/api/patients/{imported.pk}/timeline/").json()["visits"]
    # Phantoms to review: images without outlines (their predictions go to the review queue), truth kept aside.
    from annotations.models import Image

    from inference.core.phantom import DEMO_REVIEW_PER_KIND

    incoming = Image.objects.filter(case__patient__code__startswith="DEMO-NEW-")
    assert incoming.count() == 2 * DEMO_REVIEW_PER_KIND and not incoming.filter(head_revision__isnull=False).exists()
    assert not Image.objects.filter(case__patient__code__startswith="DEMO-2LEG-", head_revision__isnull=True).exists()
    truth = tmp_path / "demo-phantoms" / "incoming2" / "truth.json"
    assert truth.is_file() and len(json.loads(truth.read_text())) == DEMO_REVIEW_PER_KIND
    call_command("demo", "--n", "1")  # again: nothing added
    assert Patient.objects.filter(code="DEMO-SD-007").count() == 1
    assert Image.objects.filter(case__patient__code__startswith="DEMO-NEW-").count() == 2 * DEMO_REVIEW_PER_KIND
    assert Image.objects.filter(case__patient__code__startswith="DEMO-2LEG-").count() == 1
