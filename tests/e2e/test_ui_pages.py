"""The server-rendered pages in a real headless chromium: log in, list cases, see an image's shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotations.services import annotation_revision_submit
from tests.conftest import labelme_document

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def _login(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-button")


def test_login_case_list_and_image_overlay(page, live_server, annotator, image):
    annotation_revision_submit(image=image, document=labelme_document(), base_revision_id=None,
                               source="manual", author=annotator)
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url  # anonymous users are sent to the login page
    _login(page, live_server, "anna", "pw-anna")
    page.wait_for_selector("#case-table")
    assert page.locator(".case-row").count() == 1
    assert "P-0001" in page.inner_text("#case-table")

    page.click(f"a[href='/images/{image.pk}/']")
    page.wait_for_selector("#overlay")
    page.wait_for_function("document.getElementById('radiograph').naturalWidth > 0")
    assert page.locator("polygon.shape-polygon").count() == 2
    assert page.locator("circle.shape-point").count() == 1
    assert page.get_attribute("polygon[data-label='femur']", "points").startswith("10.00,5.00")
    assert page.evaluate("document.getElementById('radiograph').naturalHeight") == 128
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "image-page.png"))


def test_wrong_password_stays_on_login(page, live_server, annotator):
    _login(page, live_server, "anna", "wrong")
    assert page.locator(".error").count() == 1


def test_user_without_role_is_refused(page, live_server, no_role_user):
    _login(page, live_server, "nobody", "pw-nobody")
    assert page.locator("#case-table").count() == 0


def test_new_case_form_takes_birth_year_and_sex_and_leaves_the_cohort_unknown(page, live_server, login, annotator):
    """Issue 27, items 6 and 8: the form had no age or sex (children judged against adult ranges) and its cohort
    defaulted to "Skeletal dysplasia"."""
    from annotations.models import Patient

    login("anna", "pw-anna")
    page.goto(f"{live_server.url}/")
    page.click("#case-actions summary:has-text('New case')")
    assert page.eval_on_selector("#new-case select[name=cohort]", "el => el.value") == "unknown"
    page.fill("#new-case input[name=patient_code]", "P-CHILD-FORM")
    page.fill("#new-case input[name=acquisition_date]", "2026-05-02")
    page.fill("#new-case input[name=birth_year]", "2016")
    page.select_option("#new-case select[name=sex]", "F")
    page.click("#new-case button[type=submit]")
    page.wait_for_url("**/cases/*/")
    patient = Patient.objects.get(code="P-CHILD-FORM")
    assert (patient.birth_year, patient.sex, patient.cohort) == (2016, "F", "unknown")
