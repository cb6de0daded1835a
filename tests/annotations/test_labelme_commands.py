"""import_labelme / export_labelme commands and the zip import API, on generated and real data."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from annotations.models import AnnotationRevision, Image, Patient
from tests.conftest import labelme_document, png_bytes, require_shared

pytestmark = pytest.mark.django_db


def _bundle(folder, count: int = 3) -> None:
    for index in range(count):
        (folder / f"PAT{index}_scan.png").write_bytes(png_bytes(seed=index))
        document = labelme_document()
        document["imagePath"] = f"PAT{index}_scan.png"
        (folder / f"PAT{index}_scan.json").write_text(json.dumps(document))
    (folder / "LONE_unlabelled.png").write_bytes(png_bytes(seed=99))


def test_import_folder_then_export_round_trip(tmp_path, capsys):
    source = tmp_path / "in"
    source.mkdir()
    _bundle(source)
    call_command("import_labelme", str(source), "--cohort", "sd")
    assert "4 images imported" in capsys.readouterr().out
    assert Image.objects.count() == 4 and AnnotationRevision.objects.count() == 3
    assert set(Patient.objects.values_list("code", flat=True)) == {"PAT0", "PAT1", "PAT2", "LONE"}
    assert set(Patient.objects.values_list("cohort", flat=True)) == {"sd"}

    call_command("import_labelme", str(source))  # idempotent
    assert Image.objects.count() == 4 and AnnotationRevision.objects.count() == 3

    out = tmp_path / "out"
    call_command("export_labelme", "--out", str(out))
    exported = sorted(p.name for p in out.glob("*.json"))
    assert exported == ["PAT0_scan.json", "PAT1_scan.json", "PAT2_scan.json"]
    document = json.loads((out / "PAT1_scan.json").read_text())
    assert document["imageData"] is None and document["imagePath"] == "PAT1_scan.png"
    assert (out / "PAT1_scan.png").read_bytes() == png_bytes(seed=1)
    assert [s["points"] for s in document["shapes"]] == [s["points"] for s in labelme_document()["shapes"]]


def test_zip_import_api_rejects_path_traversal_and_writes_nothing(admin_client_api):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok.png", png_bytes())
        archive.writestr("../../evil.png", png_bytes(seed=4))
    response = admin_client_api.post(
        "/api/imports/labelme/", {"file": SimpleUploadedFile("b.zip", buffer.getvalue())}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["extra"]["code"] == "invalid_bundle"
    assert Image.objects.count() == 0


def test_zip_import_api_imports_and_reports(admin_client_api):
    buffer = io.BytesIO()
    document = labelme_document()
    document["imagePath"] = "A1_x.png"
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("nested/A1_x.png", png_bytes(seed=5))
        archive.writestr("nested/A1_x.json", json.dumps(document))
        archive.writestr("nested/B2_y.json", "{not json")
    response = admin_client_api.post(
        "/api/imports/labelme/", {"file": SimpleUploadedFile("b.zip", buffer.getvalue())}, format="multipart"
    )
    assert response.status_code == 201
    report = response.json()
    assert report["images_created"] == 1 and report["revisions_created"] == 1 and report["shapes_imported"] == 3
    assert any("B2_y.json" in error for error in report["errors"])


@pytest.mark.shared_data
def test_real_oai_folder_imports_242_images_484_polygons_and_labelme_reopens_export(tmp_path):
    source = require_shared("oai-longleg-seg")
    call_command("import_labelme", str(source))
    assert Image.objects.count() == 242
    polygons = sum(
        sum(1 for shape in revision.document["shapes"] if shape["shape_type"] == "polygon")
        for revision in AnnotationRevision.objects.all()
    )
    assert polygons == 484

    out = tmp_path / "export"
    call_command("export_labelme", "--out", str(out))
    exported = sorted(out.glob("*.json"))
    assert len(exported) == 242

    from labelme.label_file import LabelFile

    for path in exported:
        original = json.loads((source / path.name).read_text())
        loaded = LabelFile(str(path))
        assert [s["label"] for s in loaded.shapes] == [s["label"] for s in original["shapes"]]
        for mine, theirs in zip(loaded.shapes, original["shapes"], strict=True):
            assert mine["shape_type"] == theirs["shape_type"]
            np.testing.assert_array_equal(np.asarray(mine["points"]), np.asarray(theirs["points"]))
        assert loaded.imageData is not None  # labelme found and read the exported image file
