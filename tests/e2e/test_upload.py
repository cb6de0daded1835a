"""Issue 16, item 1 in headless chromium: create a case and add radiographs from the browser only.

An annotator creates a patient/case on the case list, lands on the case page, picks a phantom PNG, a
DICOM file without an extension (as DICOM folders have them) and a broken "PNG": each file has its own
row with progress; the two images are stored and appear in the case's table, the broken one shows the
server's message. Then a .zip of a DICOM folder is unpacked in the browser. An admin imports a LabelMe
.zip from the case list.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from tests.e2e.conftest import create_case_in_browser, phantom_png

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]
SHOTS = os.environ.get("ENLLASD_SCREENSHOTS")


def _phantom(seed: int = 21):  # noqa: ANN202
    from inference.core.phantom import generate_phantom

    return generate_phantom(seed=seed, legs=1)


def test_create_a_case_and_upload_png_and_dicom(page, live_server, login, annotator, tmp_path):
    from annotations.models import Case, Image
    from tests.reliability.dicom import dicom_bytes

    png = tmp_path / "leg.png"
    png.write_bytes(phantom_png(_phantom()))
    dicom = tmp_path / "IM000001"  # no extension, as in a DICOM folder
    dicom.write_bytes(dicom_bytes(rows=96, columns=48))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not an image")

    login("anna", "pw-anna")
    create_case_in_browser(page, live_server.url, patient_code="P-BROWSER-1", acquisition_date="2026-03-04",
                           cohort="sd")
    case = Case.objects.get(patient__code="P-BROWSER-1")
    assert str(case.acquisition_date) == "2026-03-04" and case.view == "AP" and case.patient.cohort == "sd"
    assert page.url.endswith(f"/cases/{case.pk}/")

    page.set_input_files("#upload-files", [str(png), str(dicom), str(broken)])
    page.wait_for_function("document.querySelectorAll('.upload-item.done, .upload-item.failed').length === 3",
                           timeout=60_000)
    done = page.eval_on_selector_all(".upload-item.done", "rows => rows.map(r => r.dataset.name)")
    assert sorted(done) == ["IM000001", "leg.png"]
    failed = page.inner_text(".upload-item.failed")
    assert "broken.png" in failed
    message = page.inner_text(".upload-item.failed .upload-state")
    assert message and "server answered" not in message  # the API's own message
    assert page.locator("#image-table tr.image-row.new").count() == 2
    assert Image.objects.filter(case=case).count() == 2

    # The worker's prediction (made here directly) turns the new row's badge from "uploaded" to "predicted".
    from inference.models import EnsembleVersion, JobStatus, Prediction

    uploaded = Image.objects.get(case=case, original_name="leg.png")
    ensemble, _ = EnsembleVersion.objects.get_or_create(name="e2e-upload", view="AP")
    leg = {"image_side": "left", "anatomical_side": "right", "joints": {"hip": [30, 10], "knee": [32, 60]},
           "metrics": {"hka_deviation_deg": {"value": -2.0}}, "flags": []}
    Prediction.objects.create(image=uploaded, ensemble_version=ensemble, status=JobStatus.SUCCEEDED,
                              document={"shapes": []}, alignment={"legs": [leg], "lld": None})
    page.wait_for_selector(f"#image-table tr.image-row.new .badge[data-image='{uploaded.pk}']:text-is('predicted')",
                           timeout=30_000)
    # ... and its row shows the prediction's numbers (issue 27, item 8: the case page showed none).
    row = page.locator(f"#image-table tr.image-row.new:has(.badge[data-image='{uploaded.pk}']) td.measurements")
    assert "Right leg: HKA 178.0° (2.0° varus)" in row.inner_text()

    # A .zip of a DICOM folder (deflated) is unpacked in the browser; DICOMDIR is skipped.
    archive = tmp_path / "scans.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("study/IM000002", dicom_bytes(rows=64, columns=40, seed=3))
        z.writestr("study/DICOMDIR", b"index")
        z.writestr("study/series/leg2.png", phantom_png(_phantom(22)))  # the same bytes again would be a 409
    page.set_input_files("#upload-files", [str(archive)])
    page.wait_for_function("document.querySelectorAll('.upload-item.done').length === 4", timeout=60_000)
    done = page.eval_on_selector_all(".upload-item.done", "rows => rows.map(r => r.dataset.name)")
    assert {"scans.zip/study/IM000002", "scans.zip/study/series/leg2.png"} <= set(done)
    assert "1 file skipped" in page.inner_text("#upload-list")
    assert Image.objects.filter(case=case).count() == 4
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / "case-upload.png"), full_page=True)
    # The new images open in the editor.
    page.click("#image-table tr.image-row.new a >> nth=1")
    page.wait_for_selector("body[data-editor-ready='1']", timeout=30_000)


def test_admin_imports_a_labelme_zip_from_the_case_list(page, live_server, login, admin_user_role):
    from annotations.models import AnnotationRevision, Image

    ph = _phantom()
    document = json.loads(json.dumps(ph.labelme))
    document["imagePath"] = "ZIP1_leg.png"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("export/ZIP1_leg.png", phantom_png(ph))
        archive.writestr("export/ZIP1_leg.json", json.dumps(document))
    login("adam", "pw-adam")
    page.goto(f"{live_server.url}/")
    page.click("#case-actions summary:has-text('Import a LabelMe')")
    page.set_input_files("#labelme-zip", files=[{"name": "export.zip", "mimeType": "application/zip",
                                                 "buffer": buffer.getvalue()}])
    page.click("#labelme-import button[type=submit]")
    page.wait_for_function("document.querySelector('#labelme-import-state').textContent.startsWith('Imported')",
                           timeout=60_000)
    assert "images created: 1" in page.inner_text("#labelme-import-state")
    assert Image.objects.count() == 1 and AnnotationRevision.objects.count() == 1
