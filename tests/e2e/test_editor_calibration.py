"""The editor's calibrate tool in a real headless chromium against the live server (issue #8).

An annotator draws a ruler on a synthetic phantom radiograph (never patient data), enters its known
length, and the image gets a user calibration; invalid lengths are refused with a clear message, a
server refusal keeps the drawn segment for a retry, and Escape drops it.
"""

from __future__ import annotations

import json
import math
import re

import pytest

from annotations.models import Image
from annotations.services import annotation_revision_submit, image_upload
from clinical.models import ImageCalibration
from inference.core.phantom import generate_phantom
from tests.e2e.conftest import SCREENSHOT_DIR, click_image, image_to_client, open_editor, phantom_png

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

STATUS = "#calibration-status"
START, END = (40.0, 120.0), (40.0, 820.0)  # a 700 px vertical ruler along the phantom's left margin


def upload_phantom(case, user, *, with_truth: bool = False) -> Image:  # noqa: ANN001
    ph = generate_phantom(seed=11, legs=1)
    image = image_upload(case=case, data=phantom_png(ph), filename="phantom.png", uploaded_by=user)
    if with_truth:
        annotation_revision_submit(image=image, document=ph.labelme, base_revision_id=None, source="manual", author=user)
    return image


def status_text(page) -> str:  # noqa: ANN001
    return page.inner_text(STATUS)


def draw_segment(page, start: tuple[float, float], end: tuple[float, float]) -> None:  # noqa: ANN001
    click_image(page, *start)
    page.wait_for_selector("#calibration-hint:has-text('other end')")
    # While placing the second end, the segment follows the cursor with its length in pixels.
    cx, cy = image_to_client(page, end[0], (start[1] + end[1]) / 2)
    page.mouse.move(cx, cy)
    page.wait_for_selector(".calibration-draft line.calibration-segment", state="attached")
    assert page.text_content("#calibration-label").endswith(" px")
    click_image(page, *end)
    page.wait_for_selector("#calibration-form:not([hidden])")


def test_ruler_calibrates_the_image(page, live_server, login, annotator, case):
    image = upload_phantom(case, annotator, with_truth=True)
    page.set_viewport_size({"width": 1600, "height": 1000})
    login("anna", "pw-anna")
    open_editor(page, f"{live_server.url}/images/{image.pk}/")
    page.evaluate("localStorage.clear()")
    page.wait_for_function(f"document.querySelector('{STATUS}').textContent.startsWith('Uncalibrated')")
    assert status_text(page) == "Uncalibrated: lengths in px"
    page.wait_for_selector("table.angles-table[data-leg='0']", timeout=30_000)

    # The tool by its shortcut; the help overlay lists it.
    page.keyboard.press("?")
    assert "Calibrate the scale" in page.inner_text("#help-overlay")
    page.keyboard.press("Escape")
    page.keyboard.press("c")
    assert "active" in page.get_attribute("#tool-calibrate", "class")
    draw_segment(page, START, END)
    segment = page.inner_text("#calibration-segment")
    clicked = page.evaluate("window.enllasdEditor.store.calibration.points")
    clicked_px = math.dist(*clicked)
    assert clicked_px == pytest.approx(700, abs=2)
    assert segment == f"Segment: {clicked_px:.1f} px"
    assert page.text_content("#calibration-label") == f"{clicked_px:.1f} px"

    # The length input has the focus after the second click: type, Enter sends.
    page.keyboard.type("100")
    assert "mm/px" in page.inner_text("#calibration-preview")
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.querySelector('{STATUS}').textContent.startsWith('Scale:')", timeout=20_000)
    row = ImageCalibration.objects.get(image=image)
    spacing = 100 / math.dist(*row.points)
    assert re.fullmatch(r"Scale: 0\.14\d mm/px \(ruler, drawn by anna\)", status_text(page))
    assert status_text(page).startswith(f"Scale: {spacing:.3f} ")
    assert row.method == "ruler" and row.known_length_mm == 100 and row.user == annotator
    image.refresh_from_db()
    assert image.spacing_source == "user"
    assert image.pixel_spacing_mm == pytest.approx(100 / clicked_px, rel=0.02)
    assert image.pixel_spacing_mm == pytest.approx(spacing, rel=1e-9)
    assert page.is_hidden("#calibration-form")
    # The calibration in force stays drawn with its known length; the live angles were re-run.
    page.wait_for_selector(".calibration-current line.calibration-segment", state="attached")
    assert page.text_content("#calibration-label").startswith("100 mm · ")
    # The live angles now use the image's scale: MAD in mm.
    page.wait_for_selector("#angles-length-note:has-text('Lengths in mm')", timeout=20_000)
    page.wait_for_function("document.querySelector('td.value[data-metric=MAD]').textContent.endsWith(' mm')",
                           timeout=20_000)

    page.wait_for_function("document.getElementById('angles-state').textContent === ''", timeout=20_000)
    page.evaluate("document.getElementById('side').scrollTop = 0")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "editor-calibration.png"))

    # A reload shows the stored scale from GET .../calibration/.
    open_editor(page, f"{live_server.url}/images/{image.pk}/")
    page.wait_for_function(f"document.querySelector('{STATUS}').textContent.startsWith('Scale:')", timeout=20_000)
    assert "(ruler, drawn by anna)" in status_text(page)


def test_invalid_lengths_and_server_errors_keep_the_segment(page, live_server, login, annotator, case):
    image = upload_phantom(case, annotator)
    login("anna", "pw-anna")
    open_editor(page, f"{live_server.url}/images/{image.pk}/")
    page.evaluate("localStorage.clear()")
    page.click("#tool-calibrate")
    draw_segment(page, START, END)
    page.check("#calibration-method-calibration_object")

    # 0 and negative lengths: a clear message, no request, the segment stays.
    for text in ("0", "-5"):
        page.fill("#calibration-length", text)
        page.click("#calibration-submit")
        page.wait_for_selector("#calibration-error:not([hidden])")
        assert page.inner_text("#calibration-error") == "The known length must be greater than 0 mm."
        assert page.locator(".calibration-draft line.calibration-segment").count() == 1
    assert not ImageCalibration.objects.filter(image=image).exists()

    # A refusal by the server: its message is shown, the segment and the typed length stay.
    def refuse(route) -> None:  # noqa: ANN001
        if route.request.method != "POST":
            route.continue_()
            return
        route.fulfill(status=400, content_type="application/json",
                      body=json.dumps({"message": "Refused by the test server.", "extra": {"code": "test"}}))

    page.route("**/api/images/*/calibration/", refuse)
    page.fill("#calibration-length", "50")
    page.click("#calibration-submit")
    page.wait_for_selector("#calibration-error:has-text('Refused by the test server.')")
    assert page.input_value("#calibration-length") == "50"
    assert page.locator(".calibration-draft line.calibration-segment").count() == 1
    assert not ImageCalibration.objects.filter(image=image).exists()

    # Retry once the server accepts: a calibration-object calibration.
    page.unroute("**/api/images/*/calibration/")
    page.click("#calibration-submit")
    page.wait_for_function(f"document.querySelector('{STATUS}').textContent.startsWith('Scale:')", timeout=20_000)
    assert "(calibration object, drawn by anna)" in status_text(page)
    row = ImageCalibration.objects.get(image=image)
    assert row.method == "calibration_object"
    assert row.pixel_spacing_mm == pytest.approx(50 / 700, rel=0.02)

    # Escape drops a new segment (from the length field too).
    draw_segment(page, (100, 200), (300, 200))
    page.focus("#calibration-length")
    page.keyboard.press("Escape")
    assert page.is_hidden("#calibration-form")
    assert page.locator(".calibration-draft").count() == 0
    assert ImageCalibration.objects.filter(image=image).count() == 1
