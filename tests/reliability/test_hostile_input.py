"""Hostile uploads, LabelMe documents and LabelMe zips through the API: a clear 4xx, never a 5xx.

What the lower layers already prove is not repeated here: the decoder's error codes and header-first pixel
limits (tests/annotations/core/test_imaging.py), the zip checks on the central directory
(tests/annotations/core/test_bundle.py), document validation paths (tests/annotations/core/test_labelme.py)
and the first API cases (tests/annotations/test_image_api.py, test_labelme_commands.py). This module fuzzes
the HTTP endpoints with hypothesis and checks, after every example, that a refused request wrote no row and
no file and that MEDIA_ROOT holds no file without a row.
"""

from __future__ import annotations

import io
import json
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from annotations.models import AnnotationRevision, Case, Image, Patient
from tests.conftest import labelme_document, png_bytes
from tests.reliability.dicom import dicom_bytes
from tests.reliability.media import media_files, orphan_files

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
UPLOAD_STATUSES = {201, 400, 409, 413, 415}


def _snapshot() -> dict[str, Any]:
    """Row counts and the files on disk, to prove a refused request changed nothing."""
    return {
        "patients": Patient.objects.count(), "cases": Case.objects.count(), "images": Image.objects.count(),
        "revisions": AnnotationRevision.objects.count(), "files": media_files(),
    }


def _assert_error_shape(response) -> None:  # noqa: ANN001
    body = response.json()
    assert set(body) == {"message", "extra"} and isinstance(body["message"], str) and body["message"]


# ------------------------------------------------------------------------------------------------
# Radiograph uploads
# ------------------------------------------------------------------------------------------------
def _encoded(fmt: str, seed: int) -> bytes:
    if fmt == "dicom":
        return dicom_bytes(rows=24, columns=16, seed=seed)
    mode = "I;16" if fmt == "png16" else "L"
    pixels = png_bytes(16, 24, seed=seed, mode=mode)
    if fmt in {"png", "png16"}:
        return pixels
    buffer = io.BytesIO()
    PILImage.open(io.BytesIO(pixels)).convert("L").save(buffer, format={"jpeg": "JPEG", "tiff": "TIFF"}[fmt])
    return buffer.getvalue()


def _truncate(data: bytes, where: float) -> bytes:
    return data[: int(len(data) * where)]


def _flip(data: bytes, where: float, value: int) -> bytes:
    index = min(int(len(data) * where), len(data) - 1)
    return data[:index] + bytes([data[index] ^ value]) + data[index + 1:]


def _splice(data: bytes, where: float, junk: bytes) -> bytes:
    index = int(len(data) * where)
    return data[:index] + junk + data[index:]


mutations: st.SearchStrategy[Callable[[bytes], bytes]] = st.one_of(
    st.just(lambda data: data),
    st.floats(0, 1).map(lambda where: lambda data: _truncate(data, where)),
    st.tuples(st.floats(0, 1), st.integers(1, 255)).map(lambda a: lambda data: _flip(data, *a)),
    st.tuples(st.floats(0, 1), st.binary(max_size=64)).map(lambda a: lambda data: _splice(data, *a)),
    st.binary(max_size=256).map(lambda junk: lambda data: junk),
)
hostile_names = st.one_of(
    st.sampled_from(["leg.png", "../../../etc/passwd.png", "..\\..\\windows\\x.dcm", "/abs/leg.tif", "C:\\x.jpg",
                     "a/../../b.png", ".png", "..", "x" * 400 + ".png", "leg\u202egnp.exe", "ľeg ž.png",
                     "nul\x00byte.png", "   ", "leg.PNG.dcm"]),
    st.text(min_size=1, max_size=40).filter(lambda name: "\x00" not in name),
)


@FUZZ
@given(fmt=st.sampled_from(["png", "png16", "jpeg", "tiff", "dicom"]), seed=st.integers(0, 3), mutate=mutations,
       name=hostile_names)
@example(fmt="png", seed=0, mutate=lambda data: data[:-1], name="leg.png")
@example(fmt="dicom", seed=0, mutate=lambda data: data[:200], name="leg.dcm")
def test_fuzzed_uploads_are_4xx_or_stored_whole(annotator_client, case, fmt, seed, mutate, name):
    data = mutate(_encoded(fmt, seed))
    before = _snapshot()
    response = annotator_client.post("/api/images/upload/", {"case": case.pk, "file": SimpleUploadedFile(name, data)},
                                     format="multipart")
    event(f"status {response.status_code}")
    assert response.status_code in UPLOAD_STATUSES, (response.status_code, response.content[:300])
    if response.status_code == 201:
        image = Image.objects.get(pk=response.json()["id"])
        assert "/" not in image.original_name and "\\" not in image.original_name
        assert image.original_name not in {"", ".", ".."}
        assert image.original.name.startswith("originals/")
        with image.original.open("rb") as handle:
            assert handle.read() == data  # stored whole, byte for byte
        assert media_files() == before["files"] | {image.original.name}
    else:
        _assert_error_shape(response)
        assert _snapshot() == before
    assert not orphan_files()


@pytest.mark.parametrize("case_value", ["abc", "-1", "1.5", "99999999999999999999999", "", "[]"])
def test_upload_with_a_malformed_case_id_is_a_4xx(annotator_client, case_value):
    response = annotator_client.post(
        "/api/images/upload/", {"case": case_value, "file": SimpleUploadedFile("x.png", png_bytes())},
        format="multipart")
    assert response.status_code in {400, 404}
    _assert_error_shape(response)
    assert not media_files()


def test_upload_without_a_file_or_with_text_instead_is_a_400(annotator_client, case):
    for data in ({"case": case.pk}, {"case": case.pk, "file": "not a file"}):
        response = annotator_client.post("/api/images/upload/", data, format="multipart")
        assert response.status_code == 400
        _assert_error_shape(response)
    response = annotator_client.post("/api/images/upload/", {"case": case.pk}, format="json")
    assert response.status_code == 415
    assert not media_files()


def test_upload_with_a_non_utf8_file_name_is_stored_under_a_safe_name(annotator_client, case):
    boundary = "hostileboundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"case\"\r\n\r\n{case.pk}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"".encode()
        + b"\xff\xfe../\xc3(leg.png"
        + b"\"\r\nContent-Type: image/png\r\n\r\n" + png_bytes() + f"\r\n--{boundary}--\r\n".encode()
    )
    response = annotator_client.generic("POST", "/api/images/upload/", body,
                                        content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code in {201, 400}, response.content
    if response.status_code == 201:
        assert "/" not in response.json()["name"]
    assert not orphan_files()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(width: int, height: int) -> bytes:
    """A valid all-black 8-bit grey PNG of ``width`` × ``height``: a few hundred kB that inflate to w·h bytes."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def jpeg_header_claiming(width: int, height: int) -> bytes:
    """A JPEG whose frame header claims ``width`` × ``height`` and carries no scan data."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes(range(1, 65))
    return b"\xff\xd8" + dqt + sof + b"\xff\xd9"


def tiff_header_claiming(width: int, height: int) -> bytes:
    """A little-endian TIFF whose first directory claims ``width`` × ``height`` 8-bit grey pixels."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, width * height)]
    directory = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI", tag, kind, count) + (struct.pack("<HH", value, 0) if kind == 3 else
                                                  struct.pack("<I", value))
        for tag, kind, count, value in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8 + 16) + b"\x00" * 16 + directory


@pytest.mark.parametrize(("name", "make"), [
    ("bomb.png", lambda: png_bomb(9000, 9000)),  # 81 Mpx from ~80 kB
    ("huge.jpg", lambda: jpeg_header_claiming(65500, 65500)),
    ("huge.tif", lambda: tiff_header_claiming(60_000, 60_000)),
    ("huge.dcm", lambda: dicom_bytes(rows=2, columns=2, pixel_data=b"\x00" * 8, Rows=60000, Columns=60000)),
])
def test_decompression_bombs_and_huge_dimensions_are_413_before_decoding(annotator_client, case, name, make):
    data = make()
    assert len(data) < 2_000_000
    response = annotator_client.post("/api/images/upload/", {"case": case.pk, "file": SimpleUploadedFile(name, data)},
                                     format="multipart")
    assert response.status_code == 413, response.content
    assert response.json()["extra"]["code"] == "too_many_pixels"
    assert not media_files() and not Image.objects.exists()


def test_upload_over_the_byte_limit_is_413(annotator_client, case, settings):
    settings.ENLLASD_MAX_UPLOAD_BYTES = 1000
    response = annotator_client.post(
        "/api/images/upload/", {"case": case.pk, "file": SimpleUploadedFile("big.png", png_bytes(64, 128))},
        format="multipart")
    assert response.status_code == 413 and response.json()["extra"]["code"] == "too_large"
    assert not media_files()


# ------------------------------------------------------------------------------------------------
# LabelMe documents posted as revisions (JSON)
# ------------------------------------------------------------------------------------------------
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=False),
                         st.text(max_size=8))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                 st.dictionaries(st.text(max_size=5), inner,
                                                                                 max_size=3)), max_leaves=8)
coordinates = st.one_of(st.floats(-1e6, 1e6), st.integers(-(10**6), 10**6), st.floats(), json_scalars)
points = st.one_of(st.lists(st.lists(coordinates, min_size=0, max_size=3), max_size=6),
                   st.lists(st.tuples(st.floats(0, 60), st.floats(0, 120)).map(list), min_size=1, max_size=6),
                   json_values)
shapes = st.fixed_dictionaries(
    {"label": st.one_of(st.sampled_from(["femur", "tibia", "hip", "knee", "ankle", "Femoral_head_center"]),
                        json_scalars),
     "points": points},
    optional={"shape_type": st.one_of(st.sampled_from(["polygon", "point", "rectangle", "circle", "line",
                                                       "linestrip", "points", "mask", "ellipse"]), json_scalars),
              "group_id": st.one_of(st.none(), st.integers(-3, 3), json_scalars),
              "flags": st.one_of(st.dictionaries(st.text(max_size=4), st.booleans(), max_size=2), json_values),
              "description": json_scalars, "mask": st.one_of(st.none(), st.text(max_size=12)),
              "line_color": json_values},
)
documents = st.one_of(
    st.fixed_dictionaries(
        {"shapes": st.one_of(st.lists(shapes, max_size=4), json_values)},
        optional={"imageHeight": st.one_of(st.just(128), st.just(128.0), json_scalars),
                  "imageWidth": st.one_of(st.just(64), json_scalars),
                  "imagePath": json_scalars, "imageData": st.one_of(st.none(), st.text(max_size=12)),
                  "version": json_scalars, "flags": json_values, "lineColor": json_values},
    ),
    json_values,
)


def _as_json_text(value: Any, *, non_finite: str | None) -> str:
    """``value`` as JSON text; ``non_finite`` puts a bare NaN/Infinity token into the first coordinate."""
    text = json.dumps(value)
    if non_finite is not None:
        text = text.replace('"points": [[', f'"points": [[{non_finite}, ', 1)
    return text


@FUZZ
@given(document=documents, base_kind=st.sampled_from(["head", "null", "junk"]),
       non_finite=st.sampled_from([None, None, "NaN", "Infinity", "-Infinity", "1e999"]))
@example(document=labelme_document(), base_kind="head", non_finite="NaN")
@example(document={"shapes": [{"label": "knee", "points": [[1e308, 1e308]], "shape_type": "point"}]},
         base_kind="head", non_finite=None)
def test_fuzzed_labelme_revisions_are_201_or_400(annotator_client, image, document, base_kind, non_finite):
    image.refresh_from_db()
    base = {"head": image.head_revision_id, "null": None, "junk": "latest"}[base_kind]
    body = '{"base_revision": %s, "document": %s}' % (json.dumps(base), _as_json_text(document, non_finite=non_finite))
    before = AnnotationRevision.objects.count()
    response = annotator_client.generic("POST", f"/api/images/{image.pk}/revisions/create/", body,
                                        content_type="application/json")
    event(f"status {response.status_code}")
    assert response.status_code in {201, 400, 409}, (response.status_code, response.content[:300])
    if response.status_code == 201:
        stored = AnnotationRevision.objects.get(pk=response.json()["id"]).document
        json.dumps(stored, allow_nan=False)  # only finite, plain JSON is ever stored
        assert AnnotationRevision.objects.count() == before + 1
    else:
        _assert_error_shape(response)
        assert AnnotationRevision.objects.count() == before
    if response.status_code == 409:
        assert base_kind == "null" and image.head_revision_id is not None


# ------------------------------------------------------------------------------------------------
# LabelMe zip bundles
# ------------------------------------------------------------------------------------------------
member_names = st.one_of(
    st.sampled_from(["A1_leg.png", "A1_leg.json", "B2_scan.png", "B2_scan.json", "sub/C3_x.png", "sub/C3_x.json",
                     "../escape.png", "ok/../../escape.json", "/etc/passwd.png", "C:/x.png", "a\\..\\..\\b.json",
                     "__MACOSX/._A1_leg.png", "ľúbica_ž.png", "dir/", "x" * 300 + ".json"]),
    st.text(min_size=1, max_size=20).map(lambda stem: stem + ".json"),
)


def _document_bytes(document: Any, encoding: str) -> bytes:
    text = json.dumps(document, allow_nan=True)
    return text.encode(encoding, errors="replace")


member_contents = st.one_of(
    st.integers(0, 5).map(lambda seed: png_bytes(16, 24, seed=seed)),
    st.integers(0, 5).map(lambda seed: png_bytes(16, 24, seed=seed)[:100]),
    st.tuples(documents, st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"])).map(
        lambda pair: _document_bytes(*pair)),
    st.just(_document_bytes(labelme_document(16, 24), "utf-8")),
    st.binary(max_size=200),
)


def _paired_document(shapes_: list[Any], size: str) -> dict[str, Any]:
    document: dict[str, Any] = {"version": "5.2.1", "shapes": shapes_, "imageData": None}
    if size == "match":
        document.update(imageHeight=24, imageWidth=16)
    return document


#: An image and a LabelMe JSON with the same stem (so the import pairs them), with fuzzed shapes.
paired_members = st.tuples(
    st.sampled_from(["P1_leg", "sub/P2_leg", "P3 x"]), st.integers(0, 5),
    st.lists(shapes, max_size=3), st.sampled_from(["match", "absent"]),
).map(lambda a: [(f"{a[0]}.png", png_bytes(16, 24, seed=a[1])),
                 (f"{a[0]}.json", json.dumps(_paired_document(a[2], a[3]), allow_nan=True).encode())])
bundle_members = st.lists(st.one_of(st.tuples(member_names, member_contents).map(lambda pair: [pair]), paired_members),
                          min_size=1, max_size=4).map(lambda groups: [m for group in groups for m in group])


def _zip(members: list[tuple[str, bytes]], *, compression: int) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        warnings.simplefilter("ignore")  # duplicate member names are part of the fuzzing
        for name, data in members:
            info = zipfile.ZipInfo("placeholder")
            info.filename = name  # as given, bypassing ZipInfo's own clean-up of the name
            info.compress_type = compression
            archive.writestr(info, data)
    return buffer.getvalue()


def _import(client, data: bytes):  # noqa: ANN001, ANN202
    return client.post("/api/imports/labelme/", {"file": SimpleUploadedFile("bundle.zip", data)}, format="multipart")


@FUZZ
@given(members=bundle_members,
       compression=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
       damage=st.one_of(st.none(), st.floats(0.05, 0.95)))
def test_fuzzed_labelme_zips_are_4xx_or_imported_without_orphans(admin_client_api, members, compression, damage):
    data = _zip(members, compression=compression)
    if damage is not None:
        data = _truncate(data, damage)
    before = _snapshot()
    response = _import(admin_client_api, data)
    event(f"status {response.status_code}")
    assert response.status_code in {201, 400, 413}, (response.status_code, response.content[:300])
    if response.status_code == 201:
        report = response.json()
        event(f"revisions imported: {bool(report['revisions_created'])}")
        assert Image.objects.count() == before["images"] + report["images_created"]
        assert AnnotationRevision.objects.count() == before["revisions"] + report["revisions_created"]
    else:
        _assert_error_shape(response)
        assert _snapshot() == before
    assert not orphan_files(), orphan_files()


def _bomb_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("A1_leg.png", png_bytes(16, 24))
        archive.writestr("A1_leg.json", json.dumps(labelme_document(16, 24)))
        archive.writestr("B2_bomb.png", bytes(64 * 1024**2))  # 64 MiB of zeros in ~64 kB
    return buffer.getvalue()


def _nested_bomb_zip() -> bytes:
    inner = _bomb_zip()
    return _zip([("A1_leg.png", png_bytes(16, 24)), ("inner.zip", inner), ("more/inner2.zip", inner)],
                compression=zipfile.ZIP_STORED)


@pytest.mark.parametrize(("make", "statuses"), [
    (_bomb_zip, {400}),
    (_nested_bomb_zip, {201}),  # inner zips are not images: ignored, never opened
    (lambda: b"PK\x03\x04" + b"\x00" * 100, {400}),
    (lambda: b"this is not a zip", {400}),
    (lambda: b"", {400}),
])
def test_zip_bombs_and_broken_archives(admin_client_api, make, statuses):
    before = _snapshot()
    response = _import(admin_client_api, make())
    assert response.status_code in statuses, response.content[:300]
    if response.status_code != 201:
        _assert_error_shape(response)
        assert _snapshot() == before
    assert not orphan_files()


def test_import_is_admin_only_and_needs_a_file(annotator_client, admin_client_api):
    assert _import(annotator_client, _zip([("a.png", png_bytes())], compression=zipfile.ZIP_STORED)).status_code == 403
    response = admin_client_api.post("/api/imports/labelme/", {"cohort": "sd"}, format="multipart")
    assert response.status_code == 400
    response = admin_client_api.post("/api/imports/labelme/", {"file": SimpleUploadedFile("a.zip", b"PK"),
                                                               "cohort": "martian"}, format="multipart")
    assert response.status_code == 400
    assert not media_files()


# ------------------------------------------------------------------------------------------------
# Regression tests for the defects this suite found (docs/reliability.md): integers too large for a
# float, bodies and documents nested too deep, and a bundle document for an image of another size.
# ------------------------------------------------------------------------------------------------
def _zip_with_document(document_text: str) -> bytes:
    return _zip([("A1_leg.png", png_bytes(16, 24)), ("A1_leg.json", document_text.encode())],
                compression=zipfile.ZIP_DEFLATED)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


HUGE_INTEGER = "1" + "0" * 400  # valid JSON; larger than any float


def test_revision_with_an_integer_coordinate_too_large_for_a_float_is_a_400(annotator_client, image):
    body = '{"base_revision": null, "document": {"shapes": [{"label": "knee", "points": [[%s, 2]], ' \
           '"shape_type": "point"}]}}' % HUGE_INTEGER
    response = annotator_client.generic("POST", f"/api/images/{image.pk}/revisions/create/", body,
                                        content_type="application/json")
    assert response.status_code == 400


def test_zip_with_an_integer_coordinate_too_large_for_a_float_is_not_a_5xx(admin_client_api):
    document = '{"shapes": [{"label": "knee", "points": [[%s, 2]], "shape_type": "point"}]}' % HUGE_INTEGER
    assert _import(admin_client_api, _zip_with_document(document)).status_code < 500


def test_revision_body_nested_too_deep_to_parse_is_a_400(annotator_client, image):
    body = '{"base_revision": null, "document": {"shapes": [], "flags": {"x": %s}}}' % _nested(5000)
    response = annotator_client.generic("POST", f"/api/images/{image.pk}/revisions/create/", body,
                                        content_type="application/json")
    assert response.status_code == 400


def test_revision_document_nested_900_deep_is_a_400(annotator_client, image):
    body = '{"base_revision": null, "document": {"shapes": [], "flags": {"x": %s}}}' % _nested(900)
    response = annotator_client.generic("POST", f"/api/images/{image.pk}/revisions/create/", body,
                                        content_type="application/json")
    assert response.status_code == 400


def test_zip_with_a_document_nested_900_deep_is_not_a_5xx(admin_client_api):
    document = '{"shapes": [], "flags": {"x": %s}, "imagePath": "A1_leg.png"}' % _nested(900)
    assert _import(admin_client_api, _zip_with_document(document)).status_code < 500


def test_zip_document_for_another_image_size_leaves_no_orphan_and_reports_truly(admin_client_api):
    response = _import(admin_client_api, _zip_with_document(json.dumps(labelme_document(64, 128))))
    assert response.status_code == 201
    assert response.json()["images_created"] == Image.objects.count()
    assert not orphan_files()
