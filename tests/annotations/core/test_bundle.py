"""Safe reading of folder / zip bundles of images + LabelMe JSON (annotations.core.labelme)."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotations.core.labelme import BundleError, BundleLimits, LabelMeError, iter_bundle

REPO = Path(__file__).resolve().parents[3]


def shared_data() -> Path:
    env = os.environ.get("ENLLASD_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def _png(width: int = 4, height: int = 6, value: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((height, width), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _doc(image_path: str | None, *, image_data: bytes | None = None) -> bytes:
    return json.dumps({
        "version": "5.2.1", "flags": {},
        "shapes": [{"label": "femur", "points": [[0, 0], [3, 0], [3, 5]], "group_id": None,
                    "description": "", "shape_type": "polygon", "flags": {}}],
        "imagePath": image_path,
        "imageData": None if image_data is None else base64.b64encode(image_data).decode(),
        "imageHeight": 6, "imageWidth": 4,
    }).encode()


def _make_zip(path: Path, members: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _tree(root: Path, members: dict[str, bytes]) -> Path:
    for name, data in members.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


EMBEDDED = _png(4, 6, value=7)
MEMBERS = {
    "a.png": _png(value=1),
    "a.json": _doc("a.png"),
    "b.jpg": _png(value=2),  # an image without JSON (suffix decides, content is irrelevant)
    "sub/scan_c.png": _png(value=3),
    "sub/c.json": _doc("images/scan_c.png"),  # imagePath folder ignored: base name in same folder
    "d.json": _doc("gone.png", image_data=EMBEDDED),  # image missing -> embedded data
    "e.json": _doc("nowhere.png"),  # image missing, no data
    "f.json": b"{broken",  # invalid JSON, paired by stem
    "f.tif": _png(value=4),
    "notes.txt": b"ignored",
    "__MACOSX/._a.png": b"resource fork",
}


def _check_items(items):
    by_name = {it.name: it for it in items}
    assert sorted(by_name) == ["a.png", "b.jpg", "d.json", "e.json", "f.tif", "sub/scan_c.png"]
    a = by_name["a.png"]
    assert (a.image_name, a.json_name, a.image_source) == ("a.png", "a.json", "file")
    assert a.image_bytes == MEMBERS["a.png"] and a.doc is not None and a.error is None
    assert a.doc.shapes[0].label == "femur"
    b = by_name["b.jpg"]
    assert (b.json_name, b.doc, b.image_source) == (None, None, "file")
    assert b.image_bytes == MEMBERS["b.jpg"]
    c = by_name["sub/scan_c.png"]
    assert c.json_name == "sub/c.json" and c.image_bytes == MEMBERS["sub/scan_c.png"]
    d = by_name["d.json"]
    assert (d.image_name, d.image_source, d.image_bytes) == (None, "embedded", EMBEDDED)
    e = by_name["e.json"]
    assert (e.image_name, e.image_source, e.image_bytes) == (None, "missing", None)
    assert e.doc is not None
    f = by_name["f.tif"]
    assert f.json_name == "f.json" and f.doc is None and isinstance(f.error, LabelMeError)
    assert f.image_bytes == MEMBERS["f.tif"]


def test_folder_bundle_pairs_and_keeps_unannotated_images(tmp_path):
    root = _tree(tmp_path / "bundle", MEMBERS)
    items = list(iter_bundle(root))
    assert [it.name for it in items] == sorted(it.name for it in items)
    _check_items(items)


def test_zip_bundle_same_result_as_folder(tmp_path):
    items = list(iter_bundle(_make_zip(tmp_path / "b.zip", MEMBERS)))
    _check_items(items)


def test_zip_with_nested_folders(tmp_path):
    members = {f"export/study 1/{k}": v for k, v in MEMBERS.items() if not k.startswith("__")}
    members["export/"] = b""  # explicit directory entry
    items = list(iter_bundle(_make_zip(tmp_path / "nested.zip", members)))
    names = {it.name for it in items}
    assert "export/study 1/a.png" in names and "export/study 1/sub/scan_c.png" in names
    a = next(it for it in items if it.name == "export/study 1/a.png")
    assert a.json_name == "export/study 1/a.json" and a.image_bytes == MEMBERS["a.png"]


def test_pairing_by_unique_basename_elsewhere_in_bundle(tmp_path):
    members = {"ann/x.json": _doc("x.png"), "img/x.png": _png(value=9)}
    (item,) = list(iter_bundle(_make_zip(tmp_path / "z.zip", members)))
    assert (item.json_name, item.image_name) == ("ann/x.json", "img/x.png")


@pytest.mark.parametrize(
    "bad_name",
    ["../evil.png", "ok/../../evil.json", "a/..\\..\\evil.png", "/etc/passwd.png",
     "\\abs.json", "C:/windows/x.png", "c:x.png"],
)
def test_zip_traversal_and_absolute_entries_rejected(tmp_path, bad_name):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("fine.png", _png())
        info = zipfile.ZipInfo("placeholder")
        info.filename = bad_name  # bypass ZipInfo's own name sanitising
        zf.writestr(info, b"x")
    with pytest.raises(BundleError) as err:
        list(iter_bundle(path))
    assert err.value.member == bad_name
    assert "traversal" in err.value.message or "absolute" in err.value.message


def test_zip_symlink_entry_rejected(tmp_path):
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("evil.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(BundleError, match="symbolic link"):
        list(iter_bundle(path))


def test_zip_bomb_ratio_rejected_before_reading(tmp_path):
    path = _make_zip(tmp_path / "bomb.zip", {"a.png": _png(), "bomb.png": bytes(4 * 1024**2)})
    info = zipfile.ZipFile(path).getinfo("bomb.png")
    assert info.file_size / info.compress_size > 100  # deflate packs zeros ~1000:1
    with pytest.raises(BundleError, match="zip bomb") as err:
        next(iter_bundle(path))
    assert err.value.member == "bomb.png"
    # A generous ratio limit lets the same file through.
    items = list(iter_bundle(path, limits=BundleLimits(max_ratio=1e6)))
    assert {it.name for it in items} == {"a.png", "bomb.png"}


def test_zip_total_and_member_size_limits(tmp_path):
    members = {f"{i}.png": os.urandom(1000) for i in range(5)}
    path = _make_zip(tmp_path / "big.zip", members, compression=zipfile.ZIP_STORED)
    with pytest.raises(BundleError, match="more than 4000 bytes"):
        list(iter_bundle(path, limits=BundleLimits(max_total_bytes=4000)))
    with pytest.raises(BundleError, match="more than 999"):
        list(iter_bundle(path, limits=BundleLimits(max_member_bytes=999)))
    with pytest.raises(BundleError, match="entries"):
        list(iter_bundle(path, limits=BundleLimits(max_members=4)))
    assert len(list(iter_bundle(path))) == 5


def test_small_highly_compressible_members_are_fine(tmp_path):
    # 200 kB of JSON-like text compresses far beyond 100:1 but is under ratio_min_bytes.
    members = {"a.png": _png(), "a.json": _doc("a.png") + b" " * 200_000}
    (item,) = list(iter_bundle(_make_zip(tmp_path / "ok.zip", members)))
    assert item.doc is not None


@pytest.mark.parametrize("image_path", ["../outside/a.png", "/abs/a.png", "C:\\img\\a.png",
                                        "..\\a.png"])
def test_image_path_traversal_in_json_rejected(tmp_path, image_path):
    root = _tree(tmp_path / "b", {"a.png": _png(), "a.json": _doc(image_path)})
    with pytest.raises(BundleError, match="imagePath") as err:
        list(iter_bundle(root))
    assert err.value.member == "a.json"


def test_folder_symlink_rejected(tmp_path):
    root = _tree(tmp_path / "b", {"a.png": _png()})
    (tmp_path / "secret.png").write_bytes(_png())
    (root / "link.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(BundleError, match="symbolic link"):
        list(iter_bundle(root))


def test_folder_symlinked_directory_rejected(tmp_path):
    root = _tree(tmp_path / "b", {"a.png": _png()})
    (tmp_path / "elsewhere").mkdir()
    (root / "dir").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(BundleError, match="symbolic link"):
        list(iter_bundle(root))


def test_not_a_bundle(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"not a zip at all")
    with pytest.raises(BundleError, match="not a zip"):
        list(iter_bundle(tmp_path / "x.zip"))
    with pytest.raises(BundleError, match="neither"):
        list(iter_bundle(tmp_path / "missing"))


def test_corrupt_member_is_a_bundle_error(tmp_path):
    path = _make_zip(tmp_path / "c.zip", {"a.png": os.urandom(3000)}, compression=zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    offset = raw.index(b"a.png") + len(b"a.png") + 10  # inside the stored data
    raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="corrupt"):
        list(iter_bundle(path))


def test_nothing_is_extracted(tmp_path):
    path = _make_zip(tmp_path / "b.zip", MEMBERS)
    before = sorted(p.name for p in tmp_path.iterdir())
    list(iter_bundle(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_real_oai_folder_bundle():
    folder = shared_data() / "oai-longleg-seg"
    if not folder.is_dir():
        pytest.skip("shared OAI data not available")
    items = list(iter_bundle(folder))
    assert len(items) == 242
    assert all(it.image_source == "file" and it.doc is not None for it in items)
    assert all(it.image_name == it.json_name[:-5] + ".jpg" for it in items)
    assert all(it.image_bytes[:2] == b"\xff\xd8" for it in items)  # JPEG magic
    assert sum(len(it.doc.shapes) for it in items) == 484
