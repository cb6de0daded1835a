"""LabelMe schema, parsing, labels, export and round trips (annotations.core.labelme)."""

from __future__ import annotations

import base64
import copy
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from annotations.core.labelme import (
    DEFAULT_LABEL_SYNONYMS,
    LABELME_EXPORT_VERSION,
    LabelMeDocument,
    LabelMeError,
    LabelMeShape,
    canonical_label,
    normalize_label,
    parse_document,
    resolve_knee_ankle_by_height,
    to_labelme5,
)

REPO = Path(__file__).resolve().parents[3]


def shared_data() -> Path:
    env = os.environ.get("ENLLASD_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def oai_dir() -> Path:
    d = shared_data() / "oai-longleg-seg"
    if not d.is_dir():
        pytest.skip("shared OAI data not available")
    return d


def _png_bytes(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((height, width), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


V5_DOC = {
    "version": "5.2.1",
    "flags": {"reviewed": True},
    "shapes": [
        {"label": "femur", "points": [[1, 2], [10.5, 2], [10.5, 20]], "group_id": 0,
         "description": "left leg", "shape_type": "polygon", "flags": {}},
        {"label": "Femoral_head_center", "points": [[5.25, 3.5]], "group_id": 0,
         "description": "", "shape_type": "point", "flags": {"occluded": False}},
    ],
    "imagePath": "img.png",
    "imageData": None,
    "imageHeight": 30,
    "imageWidth": 20,
}

V3_DOC = {
    "version": "3.16.2",
    "flags": {},
    "shapes": [
        {"label": "tibia", "line_color": None, "fill_color": None,
         "points": [[0, 0], [4, 0], [4, 4], [0, 4]], "shape_type": "polygon", "flags": {}},
    ],
    "lineColor": [0, 255, 0, 128],
    "fillColor": [255, 0, 0, 128],
    "imagePath": "x.jpg",
    "imageData": None,
    "imageHeight": 8,
    "imageWidth": 6,
}


# ------------------------------------------------------------------------------------------
# Parsing
# ------------------------------------------------------------------------------------------
def test_parse_v5_document_fields():
    doc = parse_document(V5_DOC)
    assert doc.version == "5.2.1"
    assert doc.image_path == "img.png"
    assert (doc.image_height, doc.image_width) == (30, 20)
    assert doc.image_data is None
    assert doc.flags == {"reviewed": True}
    assert doc.extra == {}
    femur, hip = doc.shapes
    assert femur.points.dtype == np.float64 and femur.points.shape == (3, 2)
    np.testing.assert_array_equal(femur.points, [[1, 2], [10.5, 2], [10.5, 20]])
    assert (femur.label, femur.shape_type, femur.group_id, femur.description) == (
        "femur", "polygon", 0, "left leg")
    assert hip.flags == {"occluded": False}
    assert hip.canonical_label() == "hip"
    assert doc.shapes_with_label("hip") == (hip,)
    with pytest.raises(ValueError):
        femur.points[0, 0] = 99.0  # points are read-only


def test_parse_text_and_bytes_equal_dict():
    text = json.dumps(V5_DOC)
    assert parse_document(text) == parse_document(V5_DOC)
    assert parse_document(text.encode("utf-8")) == parse_document(V5_DOC)
    assert parse_document(b"\xef\xbb\xbf" + text.encode("utf-8")) == parse_document(V5_DOC)


def test_parse_v3_keeps_colours_and_has_no_description():
    doc = parse_document(V3_DOC)
    assert doc.version == "3.16.2"
    assert doc.extra == {"lineColor": [0, 255, 0, 128], "fillColor": [255, 0, 0, 128]}
    (shape,) = doc.shapes
    assert shape.description is None and shape.group_id is None
    assert shape.extra == {"line_color": None, "fill_color": None}
    assert shape.canonical_label() == "tibia"


def test_every_shape_type_is_kept_with_mask_field():
    mask_b64 = base64.b64encode(_png_bytes(3, 2)).decode()
    shapes = [
        {"label": "a", "points": [[0, 0], [1, 0], [1, 1]], "shape_type": "polygon"},
        {"label": "b", "points": [[0, 0], [3, 4]], "shape_type": "rectangle"},
        {"label": "c", "points": [[5, 5], [7, 5]], "shape_type": "circle"},
        {"label": "d", "points": [[0, 0], [9, 9]], "shape_type": "line"},
        {"label": "e", "points": [[2, 3]], "shape_type": "point"},
        {"label": "f", "points": [[0, 0], [1, 2], [3, 4]], "shape_type": "linestrip"},
        {"label": "g", "points": [[1, 1], [2, 2], [3, 3], [4, 4]], "shape_type": "points"},
        {"label": "h", "points": [[1, 1], [3, 2]], "shape_type": "mask", "mask": mask_b64},
        {"label": "i", "points": [[0, 0], [1, 0], [1, 1]]},  # no shape_type -> polygon
    ]
    doc = parse_document({"shapes": shapes, "imageHeight": 10, "imageWidth": 10})
    assert [s.shape_type for s in doc.shapes] == [
        "polygon", "rectangle", "circle", "line", "point", "linestrip", "points", "mask", "polygon"]
    assert [len(s.points) for s in doc.shapes] == [3, 2, 2, 2, 1, 3, 4, 2, 3]
    assert doc.shapes[7].mask == mask_b64
    assert all(s.mask is None for i, s in enumerate(doc.shapes) if i != 7)
    assert to_labelme5(doc)["shapes"][7]["mask"] == mask_b64


def test_embedded_image_data_is_decoded():
    png = _png_bytes(6, 8)
    data = dict(V3_DOC, imageData=base64.b64encode(png).decode())
    assert parse_document(data).image_data == png


def test_unknown_labels_are_kept():
    data = copy.deepcopy(V5_DOC)
    data["shapes"].append({"label": "fibula", "points": [[0, 0], [1, 0], [0, 1]],
                           "shape_type": "polygon"})
    doc = parse_document(data)
    assert doc.shapes[-1].label == "fibula"
    assert doc.shapes[-1].canonical_label() is None
    assert len(doc.shapes) == 3


def _with_shape(**shape):
    base = {"label": "x", "points": [[0, 0], [1, 0], [0, 1]], "shape_type": "polygon"}
    base.update(shape)
    return {"shapes": [base], "imageHeight": 4, "imageWidth": 4}


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        ([1, 2], "$", "must be a JSON object"),
        ('"text"', "$", "must be a JSON object"),
        ("{not json", "$", "invalid JSON"),
        (b"{\"shapes\": [], \"a\": \"\xff\xfe\"}", "$", "UTF-8"),
        ({"shapes": {"a": 1}}, "$.shapes", "shapes must be a list"),
        ({"shapes": [3]}, "$.shapes[0]", "must be an object"),
        (_with_shape(label=None), "$.shapes[0].label", "label must be a string"),
        (_with_shape(points=[[0, 0], [1, 0], [0, 1, 2]]), "$.shapes[0].points[2]", "pair"),
        (_with_shape(points=[[0, 0], ["1", 0], [0, 1]]), "$.shapes[0].points[1][0]", "number"),
        (_with_shape(points=[[0, 0], [True, 0], [0, 1]]), "$.shapes[0].points[1][0]", "number"),
        (_with_shape(points="0,0 1,1"), "$.shapes[0].points", "list of [x, y]"),
        (_with_shape(points=[[0, float("nan")], [1, 0], [0, 1]]), "$.shapes[0].points[0][1]",
         "not finite"),
        ('{"shapes": [{"label": "x", "points": [[0, 0], [Infinity, 0], [0, 1]]}]}',
         "$.shapes[0].points[1][0]", "not finite"),
        (_with_shape(shape_type="point", points=[[0, 0], [1, 1]]), "$.shapes[0].points",
         "exactly 1"),
        (_with_shape(shape_type="point", points=[]), "$.shapes[0].points", "exactly 1"),
        (_with_shape(shape_type="rectangle", points=[[0, 0], [1, 1], [2, 2]]),
         "$.shapes[0].points", "exactly 2"),
        (_with_shape(shape_type="circle", points=[[0, 0]]), "$.shapes[0].points", "exactly 2"),
        (_with_shape(shape_type="line", points=[[0, 0], [1, 1], [2, 2]]), "$.shapes[0].points",
         "exactly 2"),
        (_with_shape(points=[[0, 0], [1, 1]]), "$.shapes[0].points", "at least 3"),
        (_with_shape(shape_type="linestrip", points=[[0, 0]]), "$.shapes[0].points",
         "at least 2"),
        (_with_shape(shape_type="ellipse"), "$.shapes[0].shape_type", "unknown shape_type"),
        (_with_shape(group_id="1"), "$.shapes[0].group_id", "group_id"),
        (_with_shape(description=5), "$.shapes[0].description", "description"),
        (_with_shape(flags=[1]), "$.shapes[0].flags", "flags must be an object"),
        (_with_shape(mask="***"), "$.shapes[0].mask", "base64"),
        (_with_shape(line_color=[float("inf")]), "$.shapes[0].line_color[0]", "non-finite"),
        ({"shapes": [], "imageHeight": 0, "imageWidth": 4}, "$.imageHeight", "positive integer"),
        ({"shapes": [], "imageHeight": 4, "imageWidth": -3}, "$.imageWidth", "positive integer"),
        ({"shapes": [], "imageHeight": "4", "imageWidth": 4}, "$.imageHeight", "positive integer"),
        ({"shapes": [], "imageHeight": 4.5, "imageWidth": 4}, "$.imageHeight", "positive integer"),
        ({"shapes": [], "imageHeight": True, "imageWidth": 4}, "$.imageHeight", "positive integer"),
        ({"shapes": [], "imageData": "@@not base64@@"}, "$.imageData", "base64"),
        ({"shapes": [], "imagePath": 3}, "$.imagePath", "imagePath"),
        ({"shapes": [], "version": 5}, "$.version", "version"),
    ],
)
def test_invalid_documents_raise_with_path(data, path, fragment):
    with pytest.raises(LabelMeError) as info:
        parse_document(data)
    assert info.value.path == path
    assert fragment in info.value.message
    assert str(info.value).startswith(path)
    assert isinstance(info.value, ValueError)


def test_float_integral_image_size_is_accepted():
    doc = parse_document({"shapes": [], "imageHeight": 1024.0, "imageWidth": 128})
    assert doc.image_height == 1024 and isinstance(doc.image_height, int)


# ------------------------------------------------------------------------------------------
# Labels
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("femur", "femur"), ("Femur", "femur"), ("FEMUR", "femur"), ("femur_mask", "femur"),
        ("Tibia", "tibia"), ("tibia-mask", "tibia"),
        ("Femoral_head_center", "hip"), ("femoral head centre", "hip"), ("hip_center", "hip"),
        ("HIP", "hip"),
        ("Tibial_plateau_center", "knee"), ("knee_center", "knee"), ("Knee centre", "knee"),
        ("Tibial_spine_center", "knee"),  # anatomical: the tibial spine is at the knee
        ("Tibial_plafond_center", "ankle"),  # anatomical: the plafond is the distal tibia
        ("ankle_center", "ankle"), ("  Ankle  ", "ankle"),
        ("fibula", None), ("patella", None), ("", None),
    ],
)
def test_canonical_label_default_table(label, expected):
    assert canonical_label(label) == expected


def test_canonical_label_custom_table_any_spelling():
    # The authors' (anatomically backwards) mapping, as a configuration.
    authors = {"Femoral_head_center": "hip", "Tibial_plafond_center": "knee",
               "Tibial_spine_center": "ankle", "Femur": "femur", "Tibia": "tibia"}
    assert canonical_label("tibial plafond center", authors) == "knee"
    assert canonical_label("TIBIAL_SPINE_CENTER", authors) == "ankle"
    assert canonical_label("knee_center", authors) is None
    with pytest.raises(ValueError, match="not one of"):
        canonical_label("bone", {"bone": "skeleton"})


def test_default_table_values_are_canonical_and_keys_normalised():
    assert set(DEFAULT_LABEL_SYNONYMS.values()) == {"femur", "tibia", "hip", "knee", "ankle"}
    assert all(normalize_label(k) == k for k in DEFAULT_LABEL_SYNONYMS)
    assert normalize_label(" Femoral head-centre ") == "femoral_head_centre"


def test_resolve_knee_ankle_by_height_labels_agree(caplog):
    with caplog.at_level(logging.WARNING, logger="annotations.core.labelme"):
        res = resolve_knee_ankle_by_height(
            [[100, 900], [110, 500]], ["Tibial_plafond_center", "Tibial_plateau_center"])
    np.testing.assert_array_equal(res.knee_xy, [110, 500])
    np.testing.assert_array_equal(res.ankle_xy, [100, 900])
    assert res.labels_agree and not res.swapped
    assert caplog.records == []


def test_resolve_knee_ankle_by_height_swapped_labels_warn(caplog):
    # The authors' files: "Tibial_plafond_center" on the knee, "Tibial_spine_center" on the ankle.
    with caplog.at_level(logging.WARNING, logger="annotations.core.labelme"):
        res = resolve_knee_ankle_by_height(
            np.array([[50.0, 400.0], [52.0, 800.0]]),
            ["Tibial_plafond_center", "Tibial_spine_center"])
    np.testing.assert_array_equal(res.knee_xy, [50, 400])
    np.testing.assert_array_equal(res.ankle_xy, [52, 800])
    assert not res.labels_agree and res.swapped
    assert len(caplog.records) == 1 and "disagree" in caplog.records[0].getMessage()


def test_resolve_knee_ankle_by_height_unlabelled_and_errors():
    res = resolve_knee_ankle_by_height([[0.0, 2.0], [0.0, 1.0]])
    np.testing.assert_array_equal(res.knee_xy, [0, 1])
    assert res.labels_agree and not res.swapped
    with pytest.raises(ValueError, match="same y"):
        resolve_knee_ankle_by_height([[0.0, 1.0], [5.0, 1.0]])
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        resolve_knee_ankle_by_height([[0.0, 1.0]])
    with pytest.raises(ValueError, match="finite"):
        resolve_knee_ankle_by_height([[0.0, np.nan], [5.0, 1.0]])


# ------------------------------------------------------------------------------------------
# Export and round trips
# ------------------------------------------------------------------------------------------
def test_to_labelme5_keys_and_values():
    doc = parse_document(V3_DOC)
    out = to_labelme5(doc)
    assert list(out)[:7] == ["version", "flags", "shapes", "imagePath", "imageData",
                             "imageHeight", "imageWidth"]
    assert out["version"] == LABELME_EXPORT_VERSION == "5.2.1"
    assert out["imageData"] is None
    assert (out["imageHeight"], out["imageWidth"], out["imagePath"]) == (8, 6, "x.jpg")
    assert out["lineColor"] == [0, 255, 0, 128]
    shape = out["shapes"][0]
    assert list(shape)[:6] == ["label", "points", "group_id", "description", "shape_type", "flags"]
    assert shape["points"] == [[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]]
    assert shape["group_id"] is None and shape["description"] is None
    plain = to_labelme5(doc, include_extra=False)
    assert "lineColor" not in plain and "line_color" not in plain["shapes"][0]
    json.dumps(out, allow_nan=False)


def test_to_labelme5_embeds_image_data():
    png = _png_bytes(6, 8)
    out = to_labelme5(parse_document(V3_DOC), image_data=png, image_path="y.png")
    assert base64.b64decode(out["imageData"]) == png
    assert out["imagePath"] == "y.png"
    assert parse_document(out).image_data == png


def _roundtrip(doc: LabelMeDocument) -> LabelMeDocument:
    return parse_document(json.dumps(to_labelme5(doc), allow_nan=False))


def test_roundtrip_v3_and_v5_lossless():
    for data in (V3_DOC, V5_DOC):
        doc = parse_document(data)
        again = _roundtrip(doc)
        assert again.shapes == doc.shapes
        assert (again.image_path, again.image_height, again.image_width) == (
            doc.image_path, doc.image_height, doc.image_width)
        assert again.flags == doc.flags and again.extra == doc.extra
        assert again.version == "5.2.1"
        # Export is idempotent after the first pass.
        assert to_labelme5(again) == to_labelme5(doc)


_finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), _finite,
                         st.text(max_size=8))


@st.composite
def _documents(draw):
    shapes = []
    for _ in range(draw(st.integers(0, 4))):
        shape_type = draw(st.sampled_from(["polygon", "point", "rectangle", "linestrip"]))
        n = {"polygon": draw(st.integers(3, 8)), "point": 1, "rectangle": 2,
             "linestrip": draw(st.integers(2, 5))}[shape_type]
        pts = draw(st.lists(st.tuples(_finite, _finite), min_size=n, max_size=n))
        shapes.append(LabelMeShape(
            label=draw(st.text(min_size=1, max_size=12)),
            points=np.array(pts, dtype=np.float64),
            shape_type=shape_type,
            group_id=draw(st.none() | st.integers(0, 3)),
            description=draw(st.none() | st.text(max_size=10)),
            flags=draw(st.dictionaries(st.text(max_size=5), st.booleans(), max_size=2)),
            extra=draw(st.dictionaries(st.sampled_from(["line_color", "other"]), _json_scalar,
                                       max_size=2)),
        ))
    return LabelMeDocument(
        shapes=tuple(shapes),
        image_path=draw(st.none() | st.text(min_size=1, max_size=10)),
        image_height=draw(st.integers(1, 5000)),
        image_width=draw(st.integers(1, 5000)),
        flags=draw(st.dictionaries(st.text(max_size=5), st.booleans(), max_size=2)),
        extra=draw(st.dictionaries(st.sampled_from(["lineColor", "fillColor", "custom"]),
                                   _json_scalar, max_size=2)),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents())
def test_roundtrip_property(doc):
    again = _roundtrip(doc)
    assert again.shapes == doc.shapes
    assert again.flags == doc.flags and again.extra == doc.extra
    assert (again.image_path, again.image_height, again.image_width) == (
        doc.image_path, doc.image_height, doc.image_width)


def _assert_labelfile_matches(json_path: Path, doc: LabelMeDocument) -> None:
    from labelme.label_file import LabelFile

    lf = LabelFile(str(json_path))
    assert len(lf.shapes) == len(doc.shapes)
    for got, want in zip(lf.shapes, doc.shapes):
        assert got["label"] == want.label
        assert got["points"] == want.points.tolist()
        assert got["shape_type"] == want.shape_type
        assert got["group_id"] == want.group_id
        assert got["description"] == want.description
        assert got["flags"] == want.flags
        expected_other = dict(want.extra)
        if want.mask is not None:
            expected_other["mask"] = want.mask
        assert got["other_data"] == expected_other


def test_labelme_program_opens_export(tmp_path):
    pytest.importorskip("labelme")
    doc = parse_document(V5_DOC)
    (tmp_path / "img.png").write_bytes(_png_bytes(20, 30))
    out = tmp_path / "img.json"
    out.write_text(json.dumps(to_labelme5(doc)), encoding="utf-8")
    _assert_labelfile_matches(out, doc)

    from labelme.label_file import LabelFile

    lf = LabelFile(str(out))
    assert lf.imagePath == "img.png" and lf.flags == {"reviewed": True}
    # Embedded image data is read back by labelme as the same bytes.
    png = _png_bytes(20, 30)
    out2 = tmp_path / "embedded.json"
    out2.write_text(json.dumps(to_labelme5(doc, image_data=png, image_path="missing.png")))
    assert LabelFile(str(out2)).imageData == png


# ------------------------------------------------------------------------------------------
# Real data: 242 OAI LabelMe 3.16.2 files
# ------------------------------------------------------------------------------------------
def test_oai_files_parse_roundtrip_and_open_in_labelme(tmp_path):
    pytest.importorskip("labelme")
    folder = oai_dir()
    files = sorted(folder.glob("*.json"))
    assert len(files) == 242
    n_polygons = 0
    for path in files:
        raw = path.read_bytes()
        doc = parse_document(raw)
        assert doc.version == "3.16.2"
        assert (doc.image_height, doc.image_width) == (1024, 128)
        assert doc.image_path == path.stem + ".jpg"
        assert [s.shape_type for s in doc.shapes] == ["polygon", "polygon"]
        assert sorted(s.canonical_label() for s in doc.shapes) == ["femur", "tibia"]
        assert all(38 <= len(s.points) <= 141 for s in doc.shapes)
        n_polygons += len(doc.shapes)
        # Points are exactly the file's numbers.
        source = json.loads(raw)
        for s, s_raw in zip(doc.shapes, source["shapes"]):
            assert s.points.tolist() == [[float(x), float(y)] for x, y in s_raw["points"]]
        exported = to_labelme5(doc, image_path=str(path.with_suffix(".jpg")))
        again = parse_document(json.dumps(exported))
        assert again.shapes == doc.shapes and again.extra == doc.extra
        out = tmp_path / path.name
        out.write_text(json.dumps(exported), encoding="utf-8")
        _assert_labelfile_matches(out, doc)
    assert n_polygons == 484


def test_core_modules_do_not_import_django_or_torch():
    code = (
        "import sys\n"
        "import annotations.core.labelme, annotations.core.raster, annotations.core.imaging\n"
        "bad = [m for m in ('django', 'rest_framework', 'celery', 'torch') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    assert res.stdout.strip() == ""
