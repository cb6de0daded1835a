"""Synthetic phantoms: files and contracts, exact construction truth, and alignment accuracy on them."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference.core.alignment import METRIC_NAMES
from inference.core.leg_lengths import LENGTH_METRICS
from inference.core.labelme_alignment import align_labelme_document, rasterize_labelme_bones
from inference.core.phantom import generate_phantom, random_phantom_params, write_phantom_set


@lru_cache(maxsize=None)
def _phantom(seed: int, legs: int, low_snr: bool = False):
    return generate_phantom(seed=seed, legs=legs, low_snr=low_snr)


@pytest.mark.parametrize(("legs", "size"), [(2, (1024, 2048)), (1, (512, 1024))])
def test_phantom_outputs_follow_the_contracts(legs: int, size: tuple[int, int]) -> None:
    ph = _phantom(11, legs)
    width, height = size
    assert ph.image.shape == (height, width) and ph.image.dtype == np.uint8
    doc = ph.labelme
    assert doc["version"] == "5.2.1" and doc["flags"] == {} and doc["imageData"] is None
    assert (doc["imageWidth"], doc["imageHeight"], doc["imagePath"]) == (width, height, f"{ph.stem}.png")
    labels = [(s["label"], s["shape_type"], s["group_id"]) for s in doc["shapes"]]
    expected = [(lab, kind, i) for i in range(legs) for lab, kind in
                (("femur", "polygon"), ("tibia", "polygon"), ("hip", "point"), ("knee", "point"), ("ankle", "point"))]
    assert labels == expected
    assert all(s["description"] == "" and s["flags"] == {} for s in doc["shapes"])
    # The label map is exactly the LabelMe polygons filled with the pixel-centre rule.
    np.testing.assert_array_equal(rasterize_labelme_bones(doc, height=height, width=width), ph.label_map)
    truth = ph.truth
    assert list(truth) == ["image", "width", "height", "pixel_spacing_mm", "legs", "lld"] and len(truth["legs"]) == legs
    for i, leg in enumerate(truth["legs"]):
        assert list(leg["metrics"]) == list(METRIC_NAMES) and leg["flags"] == []
        for name, m in leg["metrics"].items():
            if name in LENGTH_METRICS:  # the construction has no leg-length truth
                assert m is None
                continue
            assert m["sd"] == 0.0 and m["p2_5"] == m["value"] == m["p97_5"], name
        points = {s["label"]: s["points"][0] for s in doc["shapes"] if s["group_id"] == i and s["shape_type"] == "point"}
        assert [points[j] for j in ("hip", "knee", "ankle")] == [leg["joints"][j] for j in ("hip", "knee", "ankle")]
        assert leg["metrics"]["HKA"]["value"] == pytest.approx(180 - abs(leg["metrics"]["hka_deviation_deg"]["value"]))
    if legs == 2:
        assert [leg["image_side"] for leg in truth["legs"]] == ["left", "right"]
        assert [leg["anatomical_side"] for leg in truth["legs"]] == ["right", "left"]
    json.dumps(truth, allow_nan=False)


def test_phantom_is_deterministic_and_low_snr_keeps_geometry() -> None:
    a, b = _phantom(11, 1), generate_phantom(seed=11, legs=1)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.truth == b.truth
    noisy = _phantom(11, 1, True)
    np.testing.assert_array_equal(noisy.label_map, a.label_map)
    assert noisy.truth == a.truth
    bone = a.label_map > 0
    contrast = float(a.image[bone].mean() - a.image[~bone].mean())
    contrast_noisy = float(noisy.image[bone].mean() - noisy.image[~bone].mean())
    assert contrast_noisy < 0.7 * contrast
    assert np.std(np.diff(noisy.image[:, 10].astype(float))) > np.std(np.diff(a.image[:, 10].astype(float)))


def test_explicit_parameters_are_the_truth() -> None:
    params = random_phantom_params(np.random.default_rng(5), legs=1)
    leg = replace(params.legs[0], nsa_deg=128.0, mldfa_deg=88.0, mpta_deg=86.0, mldta_deg=90.0, jlca_deg=1.5,
                  femoral_cora_deg=8.0, tibial_cora_deg=-6.0)
    ph = generate_phantom(seed=1, legs=1, params=replace(params, legs=(leg,)))
    m = ph.truth["legs"][0]["metrics"]
    assert (m["NSA"]["value"], m["mLDFA"]["value"], m["MPTA"]["value"], m["mLDTA"]["value"]) == pytest.approx((128, 88, 86, 90))
    assert (m["JLCA"]["value"], m["femoral_cora_deg"]["value"], m["tibial_cora_deg"]["value"]) == pytest.approx((1.5, 8, 6))
    assert m["femoral_cora_deg"]["point"] is not None and m["tibial_cora_deg"]["point"] is not None
    with pytest.raises(ValueError, match="expected 2"):
        generate_phantom(seed=1, legs=2, params=replace(params, legs=(leg,)))
    with pytest.raises(ValueError):
        generate_phantom(seed=1, legs=3)


def test_write_phantom_set(tmp_path: Path) -> None:
    paths = write_phantom_set(tmp_path, n=2, seed=4, legs=1)
    assert [p.name for p in paths] == ["phantom_s4_1leg_0000.json", "phantom_s4_1leg_0001.json"]
    for p in paths:
        doc = json.loads(p.read_text())
        with Image.open(tmp_path / doc["imagePath"]) as im:
            assert im.mode == "L" and im.size == (512, 1024)
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert sorted(truth) == ["phantom_s4_1leg_0000", "phantom_s4_1leg_0001"]
    write_phantom_set(tmp_path, n=1, seed=9, legs=1)  # a second set merges into truth.json
    assert len(json.loads((tmp_path / "truth.json").read_text())) == 3


def test_alignment_recovers_the_construction_on_phantoms() -> None:
    """A small version of benchmarks/phantom_accuracy.py with the acceptance tolerances."""
    compared = [name for name in METRIC_NAMES if name not in LENGTH_METRICS]  # no length truth
    errors: dict[str, list[float]] = {name: [] for name in compared}
    sides_ok = []
    for seed, legs in [(101, 2), (102, 1), (103, 2), (104, 1), (105, 1), (106, 2)]:
        ph = _phantom(seed, legs)
        res = align_labelme_document(ph.labelme, seed=0).to_json()
        for t_leg, m_leg in zip(ph.truth["legs"], res["legs"]):
            assert t_leg["image_side"] == m_leg["image_side"]
            sides_ok.append(t_leg["anatomical_side"] == m_leg["anatomical_side"])
            for name in compared:
                assert m_leg["metrics"][name] is not None, (seed, name, m_leg["flags"])
                errors[name].append(abs(m_leg["metrics"][name]["value"] - t_leg["metrics"][name]["value"]))
    assert all(sides_ok)  # single legs: the side inferred from the anatomy is the built side
    for name, errs in errors.items():
        e = np.array(errs)
        if name == "MAD":
            assert np.median(e) < 0.5 and e.max() < 1.0, (name, e)
        elif name in ("hka_deviation_deg", "HKA"):
            assert np.median(e) <= 0.1 and np.percentile(e, 95) <= 0.3, (name, e)
        else:
            assert np.median(e) <= 1.0 and np.percentile(e, 95) <= 2.5, (name, e)
