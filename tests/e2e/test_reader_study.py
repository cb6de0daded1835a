"""A reader reads a study's images blind in the editor and submits readings (issue #8), in headless chromium.

Synthetic phantoms only. The images already carry a revision and a prediction-free history; the reader
must not see that revision, and each submitted reading opens the next image until none is left.
"""

from __future__ import annotations

import pytest

from annotations.services import annotation_revision_submit, case_create, image_upload, patient_create
from clinical.models import ReaderStudy, ReaderStudyReading
from inference.core.phantom import generate_phantom
from tests.e2e.conftest import SCREENSHOT_DIR, click_image, phantom_png

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def _joints(document: dict) -> dict[str, tuple[float, float]]:
    return {s["label"]: tuple(s["points"][0]) for s in document["shapes"] if s["shape_type"] == "point"}


def test_reader_reads_each_image_blind_and_the_next_one_opens(page, live_server, login, annotator, reviewer):
    phantoms = [generate_phantom(seed=seed, legs=1) for seed in (21, 22)]
    case = case_create(patient=patient_create(code="P-READ"))
    images = []
    for index, ph in enumerate(phantoms):
        image = image_upload(case=case, data=phantom_png(ph), filename=f"read{index}.png", uploaded_by=reviewer)
        annotation_revision_submit(image=image, document=ph.labelme, base_revision_id=None, source="manual",
                                   author=reviewer)  # someone else's annotation: must stay hidden
        images.append(image)
    study = ReaderStudy.objects.create(name="Blind HKA", created_by=reviewer)
    study.images.set(images)
    study.readers.set([annotator, reviewer])

    login("anna", "pw-anna")
    page.goto(f"{live_server.url}/reader-studies/{study.pk}/")
    page.click("#start-reading")
    for index, ph in enumerate(phantoms):
        page.wait_for_selector("body[data-editor-ready='1']", timeout=30_000)
        if index == 0:
            page.evaluate("localStorage.clear()")
        left = len(phantoms) - index
        assert f"{left} image{'s' if left > 1 else ''} left" in page.inner_text("#save-state")
        assert page.locator("polygon.shape-polygon").count() == 0  # blind: the existing revision is not shown
        assert page.locator("#history-panel").count() == 0
        assert "Reading blind" in page.inner_text("#layers-panel")
        page.keyboard.press("j")
        page.keyboard.press("h")
        for name in ("hip", "knee", "ankle"):
            click_image(page, *_joints(ph.labelme)[name])
        assert page.locator("circle.shape-point").count() == 3
        if index == 0:
            SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT_DIR / "reader-reading.png"))
        with page.expect_navigation(timeout=20_000):
            page.click("#save-button")  # submitted: the next image opens (the last one: the study page)

    assert page.url.endswith(f"/reader-studies/{study.pk}/")
    assert "0 images left" in page.inner_text("main")
    readings = ReaderStudyReading.objects.filter(study=study, reader=annotator).order_by("image_id")
    assert [r.image_id for r in readings] == [i.pk for i in images]
    for reading, ph in zip(readings, phantoms, strict=True):
        assert reading.alignment is not None, reading.alignment_error
        # Joints only: the unsigned HKA is measured (the signed deviation needs the bones' anatomy).
        hka = reading.alignment["legs"][0]["metrics"]["HKA"]["value"]
        assert hka == pytest.approx(ph.truth["legs"][0]["metrics"]["HKA"]["value"], abs=0.5)
    assert all(image.revisions.count() == 1 for image in images)  # readings never become revisions
