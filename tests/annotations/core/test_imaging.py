"""Image decoding and display derivatives (annotations.core.imaging)."""

from __future__ import annotations

import io
import json
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
)

from annotations.core.imaging import (
    DecodedImage,
    ImageDecodeError,
    decode_image,
    make_display_png,
    make_thumbnail_png,
    percentile_window,
    sha256_hex,
)
from tests.dicom import build_dicom

REPO = Path(__file__).resolve().parents[3]


def shared_data() -> Path:
    env = os.environ.get("ENLLASD_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def _encode(arr_or_image, fmt: str, **kw) -> bytes:
    im = arr_or_image if isinstance(arr_or_image, Image.Image) else Image.fromarray(arr_or_image)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _gradient(h: int = 40, w: int = 30) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) % 256).astype(np.uint8)


def _expected_percentile_display(values: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(values.astype(np.float64).ravel(), [0.5, 99.5])
    return np.clip(np.rint((values.astype(np.float32) - np.float32(lo))
                           * np.float32(255.0 / (hi - lo))), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------
# Pillow formats
# ------------------------------------------------------------------------------------------
def test_png_8bit_grey_is_its_own_display():
    arr = _gradient()
    d = decode_image(_encode(arr, "PNG"))
    assert isinstance(d, DecodedImage)
    assert (d.format, d.width, d.height, d.bit_depth, d.photometric) == ("png", 30, 40, 8, "L")
    np.testing.assert_array_equal(d.pixels, arr)
    np.testing.assert_array_equal(d.display, arr)
    assert d.pixels.dtype == np.uint8 and not d.pixels.flags.writeable
    assert (d.pixel_spacing_mm, d.spacing_source) == (None, "none")
    assert d.dicom_safe_metadata == {} and d.dicom_identifiers == {}


def test_rgb_png_converted_to_luma():
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 255, 0)
    rgb[0, 2] = (0, 0, 255)
    rgb[1, :] = (200, 200, 200)
    d = decode_image(_encode(rgb, "PNG"))
    assert d.photometric == "RGB" and d.bit_depth == 8
    # ITU-R 601-2: L = 0.299 R + 0.587 G + 0.114 B (Pillow rounds).
    np.testing.assert_array_equal(d.pixels, [[76, 150, 29], [200, 200, 200]])


def test_palette_and_rgba_png():
    p = Image.fromarray(_gradient()).convert("P")
    np.testing.assert_array_equal(decode_image(_encode(p, "PNG")).pixels, _gradient())
    rgba = np.dstack([_gradient()] * 3 + [np.full((40, 30), 9, np.uint8)])
    d = decode_image(_encode(rgba, "PNG"))
    assert d.photometric == "RGBA"
    np.testing.assert_array_equal(d.pixels, _gradient())


def test_jpeg_grey_and_colour():
    flat = np.full((16, 24), 100, np.uint8)
    d = decode_image(_encode(flat, "JPEG", quality=95))
    assert (d.format, d.width, d.height, d.photometric) == ("jpeg", 24, 16, "L")
    assert np.abs(d.pixels.astype(int) - 100).max() <= 1
    colour = np.dstack([flat, flat, flat])
    d = decode_image(_encode(colour, "JPEG", quality=95))
    assert d.photometric == "RGB" and d.pixels.shape == (16, 24)
    assert np.abs(d.pixels.astype(int) - 100).max() <= 1


def test_jpeg_exif_orientation_applied_like_labelme():
    arr = np.zeros((10, 20), np.uint8)
    arr[0, 0] = 255  # top-left marker
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    d = decode_image(_encode(Image.fromarray(arr), "JPEG", quality=100, exif=exif))
    assert (d.width, d.height) == (10, 20)
    # After a 90 degree clockwise turn the marker is at the top-right.
    assert d.pixels[0, -1] > 128 and d.pixels[0, 0] < 64


def test_tiff_8_and_16_bit():
    arr8 = _gradient()
    d8 = decode_image(_encode(arr8, "TIFF"))
    assert (d8.format, d8.bit_depth, d8.photometric) == ("tiff", 8, "L")
    np.testing.assert_array_equal(d8.pixels, arr8)

    rng = np.random.default_rng(1)
    arr16 = rng.integers(1000, 60000, size=(50, 40), dtype=np.uint16)
    d16 = decode_image(_encode(Image.fromarray(arr16), "TIFF"))
    assert d16.pixels.dtype == np.uint16 and d16.bit_depth == 16
    assert d16.photometric.startswith("I;16")
    np.testing.assert_array_equal(d16.pixels, arr16)
    np.testing.assert_array_equal(d16.display, _expected_percentile_display(arr16))
    assert d16.display.min() == 0 and d16.display.max() == 255


def test_png_16_bit():
    arr16 = (np.arange(64 * 32).reshape(64, 32) * 31 % 65536).astype(np.uint16)
    d = decode_image(_encode(Image.fromarray(arr16), "PNG"))
    assert (d.format, d.bit_depth) == ("png", 16)
    np.testing.assert_array_equal(d.pixels, arr16)
    np.testing.assert_array_equal(d.display, _expected_percentile_display(arr16))


def test_32bit_integer_tiff_within_16_bits():
    arr = np.arange(12, dtype=np.int32).reshape(3, 4) * 5000
    d = decode_image(_encode(Image.fromarray(arr, mode="I"), "TIFF"))
    assert d.pixels.dtype == np.uint16 and d.photometric == "I"
    np.testing.assert_array_equal(d.pixels, arr)
    neg = np.array([[-1, 2]], np.int32)
    with pytest.raises(ImageDecodeError) as err:
        decode_image(_encode(Image.fromarray(neg, mode="I"), "TIFF"))
    assert err.value.code == "unsupported_image"


def test_float_and_multipage_tiff_unsupported():
    with pytest.raises(ImageDecodeError) as err:
        decode_image(_encode(Image.fromarray(np.zeros((4, 4), np.float32)), "TIFF"))
    assert err.value.code == "unsupported_image"
    buf = io.BytesIO()
    pages = [Image.fromarray(_gradient()), Image.fromarray(_gradient())]
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:])
    with pytest.raises(ImageDecodeError) as err:
        decode_image(buf.getvalue())
    assert err.value.code == "unsupported_image"


def test_percentile_window_flat_and_empty():
    assert percentile_window(np.full((5, 5), 7)) == (7.0, 8.0)
    lo, hi = percentile_window(np.arange(1001))
    assert (lo, hi) == (5.0, 995.0)
    with pytest.raises(ValueError):
        percentile_window(np.array([]))


# ------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------
def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"hello, this is not an image at all", "not_an_image"),
        (_encode(_gradient(), "GIF"), "not_an_image"),
        (_encode(_gradient(), "BMP"), "not_an_image"),
        (b"\x89PNG\r\n\x1a\n", "not_an_image"),
    ],
)
def test_decode_errors(data, code):
    with pytest.raises(ImageDecodeError) as err:
        decode_image(data)
    assert err.value.code == code
    assert isinstance(err.value, ValueError) and str(err.value) == err.value.message


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF"])
def test_truncated_files(fmt):
    rng = np.random.default_rng(0)
    data = _encode(rng.integers(0, 255, (200, 200), dtype=np.uint8), fmt)
    with pytest.raises(ImageDecodeError) as err:
        decode_image(data[: len(data) * 2 // 3])
    assert err.value.code == "truncated"


def test_pixel_limit_checked_from_header_before_decoding():
    bomb = _png_header_only(100_000, 100_000)  # 10^10 pixels claimed in a 100-byte file
    t0 = time.perf_counter()
    with pytest.raises(ImageDecodeError) as err:
        decode_image(bomb)
    assert err.value.code == "too_many_pixels"
    assert time.perf_counter() - t0 < 1.0
    small = _encode(_gradient(40, 30), "PNG")
    with pytest.raises(ImageDecodeError) as err:
        decode_image(small, max_pixels=1199)
    assert err.value.code == "too_many_pixels"
    assert decode_image(small, max_pixels=1200).width == 30


def test_pillow_decompression_bomb_error_becomes_too_many_pixels(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ImageDecodeError) as err:
        decode_image(_encode(_gradient(40, 30), "PNG"))  # 1200 > 2 * 100 -> Pillow refuses
    assert err.value.code == "too_many_pixels"


# ------------------------------------------------------------------------------------------
# DICOM (generated)
# ------------------------------------------------------------------------------------------
IDENTIFIERS = {
    "PatientName": "Doe^Jane", "PatientID": "PID-12345", "PatientBirthDate": "19600102",
    "AccessionNumber": "ACC-999", "InstitutionName": "St Example Hospital",
}


def _dicom(arr: np.ndarray, **options) -> bytes:  # noqa: ANN003
    return build_dicom(arr, identifiers=IDENTIFIERS, **options)


def _raw12(seed: int = 0, shape=(48, 36)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4096, size=shape, dtype=np.uint16)


def _linear_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    out = ((values.astype(np.float32) - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def test_dicom_monochrome2_12bit_with_window():
    raw = _raw12()
    d = decode_image(_dicom(raw, window=(2048, 1000)))
    assert (d.format, d.photometric, d.bit_depth, d.width, d.height) == (
        "dicom", "MONOCHROME2", 12, 36, 48)
    assert d.pixels.dtype == np.uint16
    np.testing.assert_array_equal(d.pixels, raw)
    np.testing.assert_array_equal(d.display, _linear_window(raw, 2048, 1000))
    # Hand values of the DICOM LINEAR function with c = 2048.5, w = 1001:
    # ((x - 2048) / 1000 + 0.5) * 255 -> 1548: 0, 1798: 63.75, 2048: 127.5, 2548: 255.
    probe = np.array([[1548, 1798, 2048, 2548, 0, 4095]], np.uint16)
    np.testing.assert_array_equal(decode_image(_dicom(probe, window=(2048.5, 1001))).display,
                                  [[0, 64, 128, 255, 0, 255]])
    assert d.dicom_safe_metadata["display_window"] == {
        "method": "dicom_window", "center": 2048.0, "width": 1000.0, "function": "LINEAR",
        "inverted": False}


def test_dicom_monochrome1_is_inverted_window():
    raw = _raw12(3)
    mono2 = decode_image(_dicom(raw, window=(1500, 2000)))
    mono1 = decode_image(_dicom(raw, window=(1500, 2000), photometric="MONOCHROME1"))
    assert mono1.photometric == "MONOCHROME1"
    np.testing.assert_array_equal(mono1.pixels, mono2.pixels)
    np.testing.assert_array_equal(mono1.display, 255 - mono2.display)
    assert mono1.dicom_safe_metadata["display_window"]["inverted"] is True


def test_dicom_without_window_uses_percentiles():
    raw = _raw12(5)
    d = decode_image(_dicom(raw))
    np.testing.assert_array_equal(d.display, _expected_percentile_display(raw))
    assert d.dicom_safe_metadata["display_window"]["method"] == "percentile"


def test_dicom_rescale_applied_before_window():
    raw = _raw12(7)
    d = decode_image(_dicom(raw, rescale=(2.0, -1000.0), window=(3000, 4000)))
    np.testing.assert_array_equal(d.pixels, raw)  # stored values, untouched
    modality = raw.astype(np.float32) * 2.0 - 1000.0
    np.testing.assert_array_equal(d.display, _linear_window(modality, 3000, 4000))
    assert d.dicom_safe_metadata["rescale_slope"] == 2.0
    assert d.dicom_safe_metadata["rescale_intercept"] == -1000.0


def test_dicom_8bit():
    raw = _gradient(20, 10)
    d = decode_image(_dicom(raw, bits_stored=8))
    assert d.pixels.dtype == np.uint8 and d.bit_depth == 8
    np.testing.assert_array_equal(d.pixels, raw)


@pytest.mark.parametrize(
    ("pixel_spacing", "imager", "expected", "source"),
    [
        ([0.2, 0.2], None, 0.2, "dicom_pixel_spacing"),
        ([0.2, 0.2], [0.15, 0.15], 0.2, "dicom_pixel_spacing"),
        (None, [0.15, 0.15], 0.15, "dicom_imager_pixel_spacing"),
        (None, None, None, "none"),
        ([0.2, 0.3], None, None, "none"),  # anisotropic: no single scale
        ([0.0, 0.0], None, None, "none"),
    ],
)
def test_dicom_pixel_spacing_sources(pixel_spacing, imager, expected, source):
    d = decode_image(_dicom(_raw12(), pixel_spacing=pixel_spacing, imager_pixel_spacing=imager))
    assert d.spacing_source == source
    if expected is None:
        assert d.pixel_spacing_mm is None
    else:
        assert d.pixel_spacing_mm == pytest.approx(expected, abs=1e-12)


def test_dicom_identifiers_kept_apart_from_safe_metadata():
    d = decode_image(_dicom(_raw12(), window=(2048, 4096), pixel_spacing=[0.14, 0.14]))
    for key, value in IDENTIFIERS.items():
        assert d.dicom_identifiers[key] == value
    for key in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        assert d.dicom_identifiers[key]
    safe = d.dicom_safe_metadata
    assert safe["modality"] == "DX" and safe["body_part_examined"] == "LEG"
    assert (safe["rows"], safe["columns"], safe["bits_stored"]) == (48, 36, 12)
    assert safe["transfer_syntax_uid"] == ExplicitVRLittleEndian
    assert safe["pixel_spacing"] == [0.14, 0.14]
    text = json.dumps(safe)  # JSON-compatible
    for value in list(IDENTIFIERS.values()) + [d.dicom_identifiers["StudyInstanceUID"],
                                               d.dicom_identifiers["SOPInstanceUID"]]:
        assert value not in text


def test_dicom_without_preamble_needs_dcm_name():
    raw = _raw12()
    data = _dicom(raw, preamble=False)
    d = decode_image(data, filename="scan.DCM")
    np.testing.assert_array_equal(d.pixels, raw)
    with pytest.raises(ImageDecodeError) as err:
        decode_image(data)  # no preamble, no name: not recognised
    assert err.value.code == "not_an_image"


def test_dicom_jpeg2000_roundtrip():
    pytest.importorskip("openjpeg")
    raw = _raw12(11, (32, 32))
    ds_bytes = _dicom(raw)
    ds = pydicom.dcmread(io.BytesIO(ds_bytes))
    ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg")
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    d = decode_image(buf.getvalue())
    np.testing.assert_array_equal(d.pixels, raw)
    assert d.dicom_safe_metadata["transfer_syntax_uid"] == JPEG2000Lossless


@pytest.mark.parametrize(
    ("kwargs", "code", "fragment"),
    [
        ({"arr": np.zeros((2, 8, 8), np.uint16), "frames": 2}, "unsupported_dicom", "multi-frame"),
        ({"arr": np.zeros((8, 8, 3), np.uint8), "samples": 3, "photometric": "RGB",
          "bits_stored": 8}, "unsupported_dicom", "MONOCHROME"),
        ({"arr": np.zeros((8, 8), np.uint16), "syntax": JPEGLSLossless,
          "pixel_data": encapsulate([b"\xff\xd8" + b"\x00" * 20])}, "unsupported_dicom", "decoder"),
        ({"arr": np.zeros((8, 8), np.uint16), "pixel_data": b"\x00" * 60}, "truncated", "bytes"),
        ({"arr": np.zeros((8, 8), np.uint16), "syntax": JPEG2000Lossless,
          "pixel_data": encapsulate([b"\x00" * 40])}, "truncated", "corrupt"),
    ],
)
def test_dicom_unsupported_and_broken(kwargs, code, fragment):
    with pytest.raises(ImageDecodeError) as err:
        decode_image(_dicom(**kwargs))
    assert err.value.code == code
    assert fragment in err.value.message


def test_dicom_pixel_limit_checked_before_pixel_data():
    # Rows x Columns claim 4e8 pixels with only 8 bytes of pixel data: refused from the header.
    arr = np.zeros((2, 2), np.uint16)
    data = _dicom(arr)
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.Rows, ds.Columns = 20000, 20000
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    with pytest.raises(ImageDecodeError) as err:
        decode_image(buf.getvalue())
    assert err.value.code == "too_many_pixels"


def test_dicom_without_pixel_data():
    ds = pydicom.dcmread(io.BytesIO(_dicom(_raw12())))
    del ds.PixelData
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    with pytest.raises(ImageDecodeError) as err:
        decode_image(buf.getvalue())
    assert err.value.code == "unsupported_dicom"


# ------------------------------------------------------------------------------------------
# Derivatives
# ------------------------------------------------------------------------------------------
def test_display_png_roundtrip_and_downscale():
    arr = _gradient(300, 600)
    d = decode_image(_encode(arr, "PNG"))
    full = Image.open(io.BytesIO(make_display_png(d)))
    assert full.format == "PNG" and full.mode == "L" and full.size == (600, 300)
    np.testing.assert_array_equal(np.asarray(full), arr)
    small = Image.open(io.BytesIO(make_display_png(d, max_side=150)))
    assert small.size == (150, 75)
    same = Image.open(io.BytesIO(make_display_png(d, max_side=10_000)))
    assert same.size == (600, 300)  # never upscaled
    thumb = Image.open(io.BytesIO(make_thumbnail_png(d)))
    assert thumb.size == (256, 128)
    assert Image.open(io.BytesIO(make_thumbnail_png(d, size=64))).size == (64, 32)
    with pytest.raises(ValueError):
        make_display_png(d, max_side=0)


def test_sha256_hex():
    assert sha256_hex(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


# ------------------------------------------------------------------------------------------
# Real DICOMs (NEMA WG04 RG3: CR, 1760 x 1760, 10-bit, MONOCHROME1)
# ------------------------------------------------------------------------------------------
def _rg3(name: str) -> bytes:
    path = shared_data() / "dicom" / name
    if not path.is_file():
        pytest.skip("shared DICOM data not available")
    return path.read_bytes()


@pytest.fixture(scope="module")
def rg3_pair():
    return decode_image(_rg3("RG3_UNCR.dcm")), decode_image(_rg3("RG3_J2KR.dcm"))


def test_real_dicoms_decode_identically(rg3_pair):
    unc, j2k = rg3_pair
    for d in (unc, j2k):
        assert (d.width, d.height, d.bit_depth, d.photometric) == (1760, 1760, 10, "MONOCHROME1")
        assert (d.pixel_spacing_mm, d.spacing_source) == (None, "none")
        assert d.dicom_safe_metadata["modality"] == "CR"
        assert d.dicom_safe_metadata["body_part_examined"] == "EXTREMITY"
        assert "PatientName" in d.dicom_identifiers
        assert d.dicom_identifiers["PatientName"] not in json.dumps(d.dicom_safe_metadata)
    assert unc.dicom_safe_metadata["transfer_syntax_uid"] == "1.2.840.10008.1.2.1"
    assert j2k.dicom_safe_metadata["transfer_syntax_uid"] == "1.2.840.10008.1.2.4.90"
    np.testing.assert_array_equal(unc.pixels, j2k.pixels)
    np.testing.assert_array_equal(unc.display, j2k.display)


def test_real_dicom_display_is_inverted_window_and_bone_bright(rg3_pair):
    unc, _ = rg3_pair
    # WindowCenter 550, WindowWidth 1024 (LINEAR), then MONOCHROME1 inversion.
    np.testing.assert_array_equal(unc.display, 255 - _linear_window(unc.pixels, 550, 1024))
    # Tibial shaft (bone) versus air beside the leg, same rows.
    bone = unc.display[400:480, 800:870].mean()
    air = unc.display[400:480, 500:560].mean()
    assert bone > 150 > 50 > air
    thumb = Image.open(io.BytesIO(make_thumbnail_png(unc)))
    assert thumb.size == (256, 256)
