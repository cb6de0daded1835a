"""Reader study: admin creates it, readers read blind, results match the reference computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from annotations.services import case_create, patient_create
from clinical.core.agreement import icc
from clinical.models import ReaderStudy, ReaderStudyReading, ReaderStudyStatus
from tests.clinical.factories import phantom_image, predict, varus_phantom, with_hka
from tests.conftest import _user_with_role, api_client_for

pytestmark = pytest.mark.django_db

# Shrout & Fleiss (1979) Table 2, judges 1-3, as HKA deviations (score - 5 degrees) of six images.
SCORES = np.array([[9, 2, 5], [6, 1, 3], [8, 4, 6], [7, 1, 2], [10, 5, 6], [6, 2, 4]], dtype=float)
PHANTOM_MPTA = 86.0


@pytest.fixture
def readers(db, django_user_model):
    return [_user_with_role(django_user_model, name, role)
            for name, role in (("r1", "annotator"), ("r2", "annotator"), ("r3", "reviewer"))]


@pytest.fixture
def study_images(db):
    patient = patient_create(code="P-STUDY")
    return [phantom_image(case_create(patient=patient), varus_phantom(PHANTOM_MPTA), name=f"s{i}.png")
            for i in range(len(SCORES))]


def _create(admin_client_api, images, readers, **extra):  # noqa: ANN001, ANN202
    return admin_client_api.post("/api/reader-studies/create/", {
        "name": "HKA agreement", "image_ids": [i.pk for i in images], "readers": [r.username for r in readers],
        **extra,
    }, format="json")


def test_admin_creates_a_study_with_two_or_three_readers(admin_client_api, annotator_client, study_images,
                                                         readers) -> None:
    response = _create(admin_client_api, study_images, readers)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["readers"], body["image_count"], body["status"]) == (["r1", "r2", "r3"], 6, "open")
    too_few = _create(admin_client_api, study_images, readers[:1])
    assert too_few.status_code == 400
    assert _create(annotator_client, study_images, readers).status_code == 403
    unknown = admin_client_api.post("/api/reader-studies/create/", {"name": "x", "image_ids": [999999],
                                                                    "readers": ["r1", "r2"]}, format="json")
    assert unknown.status_code == 400 and unknown.json()["extra"]["image_ids"] == [999999]


def test_readers_are_blind_and_readings_are_final(admin_client_api, study_images, readers, annotator_client) -> None:
    study_id = _create(admin_client_api, study_images, readers[:2]).json()["id"]
    r1 = api_client_for(readers[0])
    tasks = r1.get(f"/api/reader-studies/{study_id}/tasks/").json()
    assert [t["image"] for t in tasks] == [i.pk for i in study_images]
    assert set(tasks[0]) == {"image", "width", "height", "display_url"}  # no annotation, no prediction
    document = varus_phantom(PHANTOM_MPTA).labelme
    reading = r1.post(f"/api/reader-studies/{study_id}/readings/", {"image": study_images[0].pk,
                                                                    "document": document}, format="json")
    assert reading.status_code == 201 and reading.json()["aligned"] is True
    again = r1.post(f"/api/reader-studies/{study_id}/readings/", {"image": study_images[0].pk,
                                                                  "document": document}, format="json")
    assert again.status_code == 409 and again.json()["extra"]["code"] == "already_read"
    assert len(r1.get(f"/api/reader-studies/{study_id}/tasks/").json()) == 5
    assert len(api_client_for(readers[1]).get(f"/api/reader-studies/{study_id}/tasks/").json()) == 6
    # Not a reader: no tasks, no readings. Readings never become revisions.
    assert annotator_client.get(f"/api/reader-studies/{study_id}/tasks/").status_code == 403
    assert study_images[0].revisions.count() == 0
    # A reader who is also an admin cannot see the results of an open study.
    admin_reader = _user_with_role(type(readers[0]), "ra", "admin")
    ReaderStudy.objects.get(pk=study_id).readers.add(admin_reader)
    assert api_client_for(admin_reader).get(f"/api/reader-studies/{study_id}/results/").status_code == 403
    assert admin_client_api.get(f"/api/reader-studies/{study_id}/results/").status_code == 200
    listed = r1.get("/api/reader-studies/").json()
    assert [s["id"] for s in listed] == [study_id]
    assert annotator_client.get("/api/reader-studies/").json() == []


def test_results_match_the_reference_computation(admin_client_api, study_images, readers) -> None:
    study_id = _create(admin_client_api, study_images, readers, include_model=True).json()["id"]
    phantom = varus_phantom(PHANTOM_MPTA)
    for image in study_images[:4]:  # the model predicted four of the six images
        predict(image, phantom.labelme)
    for column, reader in enumerate(readers):
        client = api_client_for(reader)
        for row, image in enumerate(study_images):
            document = with_hka(phantom, SCORES[row, column] - 5.0)
            response = client.post(f"/api/reader-studies/{study_id}/readings/", {"image": image.pk,
                                                                                 "document": document},
                                   format="json")
            assert response.status_code == 201, response.content
    assert ReaderStudyReading.objects.filter(study_id=study_id).count() == 18

    body = admin_client_api.get(f"/api/reader-studies/{study_id}/results/").json()
    assert body["raters"] == ["r1", "r2", "r3", "model"] and body["length_unit"] == "px"
    [hka] = [m for m in body["metrics"] if m["metric"] == "hka_deviation_deg"]
    reference = icc(SCORES)
    overall = hka["readers"]
    assert overall["n_targets"] == 6 and overall["n_raters"] == 3
    assert overall["icc2_1"] == pytest.approx(reference.icc2_1, abs=1e-4)
    assert overall["icc3_1"] == pytest.approx(reference.icc3_1, abs=1e-4)
    # By hand for judges 1-3: SST 122.5, SSR 34.5, SSC 82.33 -> BMS 6.9, JMS 41.17, EMS 0.5667;
    # ICC(2,1) = 6.333 / (6.9 + 2 * 0.5667 + 3 * 40.6 / 6) = 0.2235, ICC(3,1) = 6.333 / 8.033 = 0.7884.
    assert overall["icc2_1"] == pytest.approx(0.2235, abs=1e-3)
    assert overall["icc3_1"] == pytest.approx(0.7884, abs=1e-3)
    assert overall["sem"] == pytest.approx(math.sqrt(reference.anova.ms_error), abs=1e-4)

    [r1_r2] = [p for p in hka["reader_pairs"] if (p["rater_a"], p["rater_b"]) == ("r1", "r2")]
    ba = r1_r2["agreement"]["bland_altman"]
    # Judges 1 - 2: differences 7, 5, 4, 6, 5, 4 -> bias 31/6, SD sqrt(41/30).
    assert ba["bias"] == pytest.approx(31 / 6, abs=1e-4)
    assert ba["sd_difference"] == pytest.approx(math.sqrt(41 / 30), abs=1e-4)
    assert ba["loa_low"] == pytest.approx(31 / 6 - 1.959964 * math.sqrt(41 / 30), abs=1e-3)
    assert ba["loa_high"] == pytest.approx(31 / 6 + 1.959964 * math.sqrt(41 / 30), abs=1e-3)

    [r1_model] = [p for p in hka["reader_vs_model"] if p["rater_a"] == "r1"]
    model_hka = float(phantom.truth["legs"][0]["metrics"]["hka_deviation_deg"]["value"])
    expected = SCORES[:4, 0] - 5.0 - model_hka
    assert r1_model["rater_b"] == "model" and r1_model["agreement"]["n_targets"] == 4
    assert r1_model["agreement"]["bland_altman"]["bias"] == pytest.approx(expected.mean(), abs=1e-3)


def test_results_page_shows_bland_altman_plots(client, admin_client_api, admin_user_role, study_images,
                                               readers) -> None:
    study_id = _create(admin_client_api, study_images, readers[:2], include_model=False).json()["id"]
    phantom = varus_phantom(PHANTOM_MPTA)
    for column, reader in enumerate(readers[:2]):
        for row, image in enumerate(study_images[:3]):
            api_client_for(reader).post(f"/api/reader-studies/{study_id}/readings/", {
                "image": image.pk, "document": with_hka(phantom, SCORES[row, column] - 5.0)}, format="json")
    ReaderStudy.objects.filter(pk=study_id).update(status=ReaderStudyStatus.CLOSED)
    client.force_login(admin_user_role)
    html = client.get(f"/reader-studies/{study_id}/").content.decode()
    assert 'id="metric-hka_deviation_deg"' in html and 'class="bland-altman"' in html
    assert "ICC(2,1)" in html and "r1 vs r2" in html
    client.force_login(readers[0])
    reader_page = client.get(f"/reader-studies/{study_id}/").content.decode()
    assert "class=\"bland-altman\"" not in reader_page and "3 images left" in reader_page
    closed = api_client_for(readers[0]).post(f"/api/reader-studies/{study_id}/readings/", {
        "image": study_images[4].pk, "document": phantom.labelme}, format="json")
    assert closed.status_code == 409 and closed.json()["extra"]["code"] == "study_closed"


def test_reader_reads_the_next_image_blind_in_the_editor(client, admin_client_api, study_images, readers,
                                                         annotator) -> None:
    import json as json_module

    study_id = _create(admin_client_api, study_images[:2], readers[:2]).json()["id"]
    client.force_login(readers[0])
    study_page = client.get(f"/reader-studies/{study_id}/").content.decode()
    assert f'href="/reader-studies/{study_id}/read/"' in study_page and "2 images left" in study_page

    def page_context(response) -> dict:  # noqa: ANN001
        html = response.content.decode()
        start = html.index('id="page-context" type="application/json">') + len('id="page-context" type="application/json">')
        return json_module.loads(html[start:html.index("</script>", start)])

    first = client.get(f"/reader-studies/{study_id}/read/")
    assert first.status_code == 200
    context = page_context(first)
    assert (context["mode"], context["image_id"], context["study"]) == (
        "read", study_images[0].pk, {"id": study_id, "name": "HKA agreement", "remaining": 2})
    chosen = client.get(f"/reader-studies/{study_id}/read/?image={study_images[1].pk}")
    assert page_context(chosen)["image_id"] == study_images[1].pk

    for image in study_images[:2]:
        api_client_for(readers[0]).post(f"/api/reader-studies/{study_id}/readings/", {
            "image": image.pk, "document": varus_phantom(PHANTOM_MPTA).labelme}, format="json")
    done = client.get(f"/reader-studies/{study_id}/read/")
    assert done.status_code == 302 and done["Location"] == f"/reader-studies/{study_id}/"

    client.force_login(readers[1])  # still has both images; a closed study sends them back too
    ReaderStudy.objects.filter(pk=study_id).update(status=ReaderStudyStatus.CLOSED)
    assert client.get(f"/reader-studies/{study_id}/read/").status_code == 302
    client.force_login(annotator)  # not a reader
    assert client.get(f"/reader-studies/{study_id}/read/").status_code == 403
