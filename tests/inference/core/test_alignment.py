"""Alignment metrics on hand-built masks with known angles, degenerate inputs and the JSON contract."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from annotations.core.raster import rasterize_polygon
from inference.core.alignment import (
    METRIC_NAMES,
    AlignmentOptions,
    align_label_map,
    hka_deviation_deg,
)
from inference.core.labelme_alignment import (
    align_labelme_document,
    labelme_joints,
    rasterize_labelme_bones,
    rasterize_polygons,
)
from inference.core.legs import FEMUR, TIBIA, LegJoints

REPO = Path(__file__).resolve().parents[3]


def _joints(h, n, a, **kw) -> LegJoints:
    return LegJoints.from_array(np.array([h, n, a], float), **kw)


def _tan(deg: float) -> float:
    return math.tan(math.radians(deg))


def block_leg(*, phi: float = 4.0, tau: float = 5.0, sigma: float = 3.0, mirror: bool = False, width: int = 300):
    """A single leg of straight blocks with tilted joint surfaces (medial is +x unless mirrored).

    Femur: a shaft (x 120-160, y 40-460) on a distal block (x 80-200) whose condylar edge is
    ``y = 480 + (x - 140) tan(phi)`` (lowest medially). Tibia (x 60-220): plateau
    ``y = 500 - (x - 140) tan(tau)`` (highest medially), plafond ``y = 900 + (x - 140) tan(sigma)``.
    Joints H (140, 80), N (140, 500), A (140, 900). Expected: mLDFA = aLDFA = 90 - phi,
    MPTA = 90 + tau, mLDTA = 90 - sigma, JLCA = phi + tau, AMA = 0, both CORA angles 0.
    """
    def fy(x):
        return 480 + (x - 140) * _tan(phi)

    def ty(x):
        return 500 - (x - 140) * _tan(tau)

    def by(x):
        return 900 + (x - 140) * _tan(sigma)

    shaft = np.array([[120, 40], [160, 40], [160, 460], [120, 460]], float)
    block = np.array([[80, 440], [200, 440], [200, fy(200)], [80, fy(80)]], float)
    tibia = np.array([[60, ty(60)], [220, ty(220)], [220, by(220)], [60, by(60)]], float)
    joints = np.array([[140, 80], [140, 500], [140, 900]], float)
    if mirror:
        for arr in (shaft, block, tibia, joints):
            arr[:, 0] = width - arr[:, 0]
    lm = rasterize_polygons([(shaft, FEMUR), (block, FEMUR), (tibia, TIBIA)], height=960, width=width)
    return lm, joints


# -- joints-only metrics ---------------------------------------------------------------------------


def test_straight_leg_has_zero_deviation_and_mad() -> None:
    lm = np.zeros((300, 200), np.uint8)
    res = align_label_map(lm, [_joints((100, 20), (100, 140), (100, 260), anatomical_side="right")])
    (leg,) = res.legs
    assert leg.metrics["hka_deviation_deg"].value == pytest.approx(0.0, abs=1e-9)
    assert leg.metrics["HKA"].value == pytest.approx(180.0)
    assert leg.metrics["MAD"].value == pytest.approx(0.0, abs=1e-9)
    assert leg.metrics["HKA"].sd == 0.0 and leg.metrics["HKA"].n == 1


@pytest.mark.parametrize("theta", [3.0, 7.5])
def test_known_bend_gives_that_angle_with_varus_negative(theta: float) -> None:
    """Ankle displaced medially (+x for a right leg): the knee lies lateral to H-A, i.e. varus."""
    h, n = np.array([100.0, 50.0]), np.array([100.0, 250.0])
    a = n + 200.0 * np.array([math.sin(math.radians(theta)), math.cos(math.radians(theta))])
    lm = np.zeros((500, 200), np.uint8)
    (leg,) = align_label_map(lm, [_joints(h, n, a, anatomical_side="right")]).legs
    mad_expected = abs((a - h)[0] * (n - h)[1] - (a - h)[1] * (n - h)[0]) / np.linalg.norm(a - h)
    assert leg.metrics["hka_deviation_deg"].value == pytest.approx(-theta, abs=1e-9)
    assert leg.metrics["HKA"].value == pytest.approx(180.0 - theta, abs=1e-9)
    assert leg.metrics["MAD"].value == pytest.approx(mad_expected, rel=1e-9)  # positive: varus
    # The same geometry on a left leg (medial -x) is valgus: the sign flips, the magnitude stays.
    (left,) = align_label_map(lm, [_joints(h, n, a, anatomical_side="left")]).legs
    assert left.metrics["hka_deviation_deg"].value == pytest.approx(theta, abs=1e-9)
    assert left.metrics["MAD"].value == pytest.approx(-mad_expected, rel=1e-9)
    # Mirrored leg (x -> W - x) with the mirrored side: same values, sides swapped.
    mirror = np.array([-1.0, 1.0])
    off = np.array([200.0, 0.0])
    (m,) = align_label_map(lm, [_joints(h * mirror + off, n * mirror + off, a * mirror + off, anatomical_side="left")]).legs
    assert m.metrics["hka_deviation_deg"].value == pytest.approx(-theta, abs=1e-9)


def test_hka_function_broadcasts_and_signs() -> None:
    h = np.array([[0.0, 0.0], [0.0, 0.0]])
    n = np.array([[-10.0, 100.0], [10.0, 100.0]])
    a = np.array([[0.0, 200.0], [0.0, 200.0]])
    dev, mad = hka_deviation_deg(h, n, a, medial_sign=1)
    # knee at -x is lateral for medial=+x: varus (negative); at +x: valgus.
    assert dev[0] < 0 < dev[1]
    assert dev[0] == pytest.approx(-dev[1])
    np.testing.assert_allclose(mad, [10.0, -10.0])


def test_two_legs_sides_and_split() -> None:
    lm = np.zeros((300, 400), np.uint8)
    legs = [_joints((300, 20), (310, 150), (300, 280)), _joints((100, 20), (90, 150), (100, 280))]
    res = align_label_map(lm, legs)
    assert res.x_mid == pytest.approx(0.5 * ((100 + 90 + 100) / 3 + (300 + 310 + 300) / 3))
    left, right = res.legs
    assert (left.image_side, left.anatomical_side, left.medial_sign) == ("left", "right", 1)
    assert (right.image_side, right.anatomical_side, right.medial_sign) == ("right", "left", -1)
    # Both knees bow laterally (away from the other leg): both varus with the same magnitude.
    assert left.metrics["hka_deviation_deg"].value < 0 and right.metrics["hka_deviation_deg"].value < 0
    assert left.metrics["hka_deviation_deg"].value == pytest.approx(right.metrics["hka_deviation_deg"].value)


def test_pixels_exactly_on_the_split_belong_to_no_leg() -> None:
    lm = np.zeros((60, 20), np.uint8)
    lm[:, 9] = FEMUR  # pixel centres at x = 9.5
    legs = [_joints((5, 5), (5, 30), (5, 55)), _joints((14, 5), (14, 30), (14, 55))]
    res = align_label_map(lm, legs)  # x_mid = 9.5 exactly
    assert res.x_mid == pytest.approx(9.5)
    assert all(any(f.startswith("femur: 0 pixels") for f in leg.flags) for leg in res.legs)


# -- landmark and Monte-Carlo metrics on straight blocks ---------------------------------------------


@pytest.fixture(scope="module")
def blocks():
    lm, joints = block_leg()
    res = align_label_map(lm, [_joints(*joints, anatomical_side="right")], n_draws=20, n_samples=2000)
    return lm, joints, res


def test_block_leg_joint_surface_angles(blocks) -> None:
    _, _, res = blocks
    m = res.legs[0].metrics
    assert m["mLDFA"].value == pytest.approx(90 - 4.0, abs=0.4)
    assert m["MPTA"].value == pytest.approx(90 + 5.0, abs=0.3)
    assert m["mLDTA"].value == pytest.approx(90 - 3.0, abs=0.3)
    assert m["JLCA"].value == pytest.approx(9.0, abs=0.5)
    # The tilted condylar edge makes the distal block a slight wedge: the anatomic axis leans < 1.5°.
    assert m["AMA"].value < 1.5
    assert m["aLDFA"].value == pytest.approx(90 - 4.0, abs=1.5)
    # Straight shaft: the femoral CORA angle is near 0 (sampling noise of 2000-point draws on 40 px).
    assert m["femoral_cora_deg"].value < 2.5
    # Landmark metrics are exact (sd 0); Monte-Carlo ones report their draws.
    assert m["MPTA"].sd == 0.0 and m["MPTA"].method == "landmark"
    assert m["AMA"].n == 20 and m["AMA"].method == "monte_carlo"


def test_known_anatomic_mechanical_angle() -> None:
    """Square condylar edge, hip moved 6° medially off the (vertical) shaft axis."""
    lm, joints = block_leg(phi=0.0)
    joints[0, 0] = 140 + 420 * _tan(6.0)
    (leg,) = align_label_map(lm, [_joints(*joints, anatomical_side="right")], n_draws=20, n_samples=2000).legs
    m = leg.metrics
    assert m["AMA"].value == pytest.approx(6.0, abs=0.3)
    assert m["aLDFA"].value == pytest.approx(90.0, abs=0.3)
    assert m["mLDFA"].value == pytest.approx(96.0, abs=0.3)
    assert 0 < m["AMA"].sd < 1.0 and m["AMA"].p2_5 <= m["AMA"].value <= m["AMA"].p97_5


def test_block_leg_without_trochanter_flags_mlpfa(blocks) -> None:
    _, _, res = blocks
    leg = res.legs[0]
    assert leg.metrics["mLPFA"] is None
    assert any(f.startswith("mLPFA: greater trochanter not found") for f in leg.flags)


def test_mirrored_blocks_swap_sides_and_keep_magnitudes(blocks) -> None:
    _, _, res = blocks
    lm, joints = block_leg(mirror=True)
    (mir,) = align_label_map(lm, [_joints(*joints, anatomical_side="left")], n_draws=20, n_samples=2000).legs
    (orig,) = res.legs
    for name in ("mLDFA", "MPTA", "mLDTA", "JLCA", "hka_deviation_deg", "HKA"):
        assert mir.metrics[name].value == pytest.approx(orig.metrics[name].value, abs=0.05), name
    assert (orig.image_side, mir.image_side) == ("left", "right")


def test_joint_line_too_oblique_is_null_with_reason() -> None:
    lm, joints = block_leg(tau=40.0, phi=2.0)
    (leg,) = align_label_map(lm, [_joints(*joints, anatomical_side="right")], n_draws=5, n_samples=500).legs
    assert leg.metrics["MPTA"] is None and leg.metrics["JLCA"] is None
    assert any(f.startswith("MPTA: tibial plateau line invalid (angle 40° from perpendicular)") for f in leg.flags)


def test_bent_femur_gives_its_cora_angle() -> None:
    """Two straight bars bent by 10 degrees at the 55th mass percentile from the knee."""
    theta = math.radians(10.0)
    w = 14.0
    knee = np.array([150.0, 560.0])
    bend = knee - np.array([0.0, 0.55 * 480.0])
    top = bend + 0.45 * 480.0 * np.array([-math.sin(theta), -math.cos(theta)])
    distal = np.array([[knee[0] - w, knee[1] - 10], [knee[0] + w, knee[1] - 10], [bend[0] + w, bend[1]], [bend[0] - w, bend[1]]])
    d = (top - bend) / np.linalg.norm(top - bend)
    p = np.array([-d[1], d[0]]) * w
    proximal = np.array([bend + p, bend - p, top - p, top + p])
    lm = rasterize_polygons([(distal, FEMUR), (proximal, FEMUR)], height=620, width=300)
    joints = _joints(top, knee, knee + [0, 50], anatomical_side="right")
    (leg,) = align_label_map(lm, [joints], n_draws=20, n_samples=3000).legs
    cora = leg.metrics["femoral_cora_deg"]
    assert cora.value == pytest.approx(10.0, abs=1.0)
    assert cora.point_xy is not None and np.hypot(*(np.array(cora.point_xy) - bend)) < 25


# -- degenerate input --------------------------------------------------------------------------------


def test_empty_and_tiny_masks_give_nulls_with_flags_not_numbers() -> None:
    lm = np.zeros((200, 100), np.uint8)
    lm[10:12, 10:13] = FEMUR  # 6 pixels
    res = align_label_map(lm, [_joints((50, 20), (50, 100), (52, 180))])
    (leg,) = res.legs
    for name in ("NSA", "mLDFA", "aLDFA", "mLPFA", "MPTA", "mLDTA", "JLCA", "AMA", "femoral_cora_deg", "tibial_cora_deg"):
        assert leg.metrics[name] is None
        assert any(f.startswith(f"{name}: ") for f in leg.flags), name
    assert leg.metrics["HKA"] is not None  # joints alone still give HKA
    # No anatomical side and no femur to infer it from: signed metrics are null.
    assert leg.metrics["hka_deviation_deg"] is None and leg.metrics["MAD"] is None
    assert "medial_direction_unknown" in leg.flags
    assert any(f.startswith("femur: 6 pixels (< 10)") for f in leg.flags)
    text = json.dumps(res.to_json(), allow_nan=False)
    assert "NaN" not in text and "Infinity" not in text


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="label_map"):
        align_label_map(np.zeros((10,), np.uint8), [])
    with pytest.raises(ValueError, match="0 \\(background\\)"):
        align_label_map(np.full((10, 10), 3, np.uint8), [])
    with pytest.raises(ValueError, match="at most two"):
        align_label_map(np.zeros((10, 10), np.uint8), [_joints((1, 1), (1, 5), (1, 9))] * 3)
    with pytest.raises(ValueError):
        AlignmentOptions(upper_frac=1.5)
    with pytest.raises(ValueError):
        AlignmentOptions(shaft_fit="spline")
    assert align_label_map(np.zeros((10, 10), np.uint8), []).legs == ()


# -- Monte Carlo -------------------------------------------------------------------------------------


def test_monte_carlo_statistics_seeds_and_small_sets(blocks) -> None:
    lm, joints, _ = blocks
    legs = [_joints(*joints, anatomical_side="right")]
    a = align_label_map(lm, legs, n_draws=30, n_samples=300, seed=1).legs[0].metrics["AMA"]
    b = align_label_map(lm, legs, n_draws=30, n_samples=300, seed=1).legs[0].metrics["AMA"]
    c = align_label_map(lm, legs, n_draws=30, n_samples=300, seed=2).legs[0].metrics["AMA"]
    d = align_label_map(lm, legs, n_draws=30, n_samples=300, seed=1, image_id="other").legs[0].metrics["AMA"]
    assert a == b  # deterministic
    assert a.value != c.value and a.value != d.value  # seed and image id both enter the draws
    assert a.n == 30 and a.sd > 0 and a.p2_5 <= a.value <= a.p97_5
    # |S| <= n_samples: every draw is the whole set, so the spread is exactly zero.
    full = align_label_map(lm, legs, n_draws=30, n_samples=10**7).legs[0].metrics["AMA"]
    assert full.sd == 0.0 and full.n == 30 and full.p2_5 == full.value == full.p97_5


def test_joint_variance_spreads_joint_metrics(blocks) -> None:
    lm, joints, _ = blocks
    leg = _joints(*joints, anatomical_side="right", variance_xy=np.full((3, 2), 4.0))
    m = align_label_map(lm, [leg], n_draws=50, n_samples=500).legs[0].metrics
    assert m["HKA"].sd > 0 and m["hka_deviation_deg"].sd > 0 and m["MPTA"].sd > 0
    assert m["HKA"].value == pytest.approx(180.0)  # the value is the point estimate
    assert m["HKA"].method == "joints+joint_variance"


def test_reference_mode_runs_one_draw(blocks) -> None:
    lm, joints, _ = blocks
    res = align_label_map(lm, [_joints(*joints, anatomical_side="right")], reference_mode=True)
    m = res.legs[0].metrics
    assert m["AMA"].n == 1 and m["AMA"].sd == 0.0
    assert m["NSA"].method == "reference_fixed_15pct_obtuse" and 90.0 <= m["NSA"].value <= 180.0


# -- JSON contract -----------------------------------------------------------------------------------


def test_json_contract_keys_units_and_spacing(blocks) -> None:
    lm, joints, _ = blocks
    res = align_label_map(lm, [_joints(*joints, anatomical_side="right")], n_draws=10, n_samples=500,
                          pixel_spacing_mm=0.5, image_name="x.png")
    doc = json.loads(json.dumps(res.to_json(), allow_nan=False))
    assert list(doc) == ["image", "width", "height", "pixel_spacing_mm", "legs", "lld"]
    assert (doc["image"], doc["width"], doc["height"], doc["pixel_spacing_mm"]) == ("x.png", 300, 960, 0.5)
    (leg,) = doc["legs"]
    assert list(leg) == ["image_side", "anatomical_side", "joints", "metrics", "landmarks", "flags"]
    assert doc["lld"] is None  # one leg
    assert list(leg["joints"]) == ["hip", "knee", "ankle"] and leg["joints"]["knee"] == [140.0, 500.0]
    assert list(leg["metrics"]) == list(METRIC_NAMES)
    for name, value in leg["metrics"].items():
        if value is None:
            continue
        assert {"value", "sd", "p2_5", "p97_5"} <= set(value), name
        assert ("point" in value) == name.endswith("cora_deg"), name
    mad = leg["metrics"]["MAD"]
    assert mad["unit"] == "mm" and mad["value"] == pytest.approx(0.5 * mad["value_px"])


# -- LabelMe reading -----------------------------------------------------------------------------------


def test_polygon_fill_uses_pixel_centres() -> None:
    # The square [0, 4] x [0, 4] holds the 16 pixel centres 0.5 ... 3.5; [0.6, 4] x [0, 4] only 12.
    rr, cc = np.nonzero(rasterize_polygon(np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float), 10, 10))
    assert len(rr) == 16 and rr.max() == 3 and cc.max() == 3
    rr, cc = np.nonzero(rasterize_polygon(np.array([[0.6, 0], [4, 0], [4, 4], [0.6, 4]], float), 10, 10))
    assert len(rr) == 12 and cc.min() == 1


def test_polygon_fill_equals_skimage() -> None:
    from skimage.draw import polygon

    rng = np.random.default_rng(0)
    for t in range(90):
        n = int(rng.integers(3, 25))
        h, w = (int(v) for v in rng.integers(5, 50, 2))
        pts = [rng.integers(-5, 55, (n, 2)).astype(float), rng.integers(-10, 110, (n, 2)) / 2.0, rng.uniform(-5, 55, (n, 2))][t % 3]
        ref = np.zeros((h, w), bool)
        rr, cc = polygon(pts[:, 1] - 0.5, pts[:, 0] - 0.5, shape=(h, w))
        ref[rr, cc] = True
        np.testing.assert_array_equal(rasterize_polygon(pts, h, w), ref)
        # The label-map filler uses the same fill, window by window.
        label_map = rasterize_polygons([(pts, TIBIA)], height=h, width=w)
        np.testing.assert_array_equal(label_map == TIBIA, ref)


def _shape(label, points, shape_type="polygon", group_id=None):
    return {"label": label, "points": points, "group_id": group_id, "description": "", "shape_type": shape_type, "flags": {}}


def test_labelme_reading_groups_labels_and_tibia_wins() -> None:
    doc = {
        "imageWidth": 40,
        "imageHeight": 60,
        "imagePath": "a.png",
        "shapes": [
            _shape("Tibia", [[5, 20], [15, 20], [15, 50], [5, 50]]),
            _shape("FEMUR", [[5, 2], [15, 2], [15, 25], [5, 25]]),
            _shape("hip", [[10, 4]], "point"),
            _shape("knee", [[10, 22]], "point"),
            _shape("ANKLE", [[10, 48]], "point"),
            _shape("hip", [[30, 4]], "point"),  # an incomplete right leg: skipped
        ],
    }
    lm = rasterize_labelme_bones(doc, height=60, width=40)
    assert lm[21, 10] == TIBIA and lm[10, 10] == FEMUR and lm[30, 10] == TIBIA
    legs = labelme_joints(doc, width=40)
    assert len(legs) == 1 and legs[0].knee_xy.tolist() == [10.0, 22.0]
    # The reference code's names: the upper tibial point is the knee whatever its label says.
    ref = {"shapes": [_shape("Femoral_head_center", [[10, 4]], "point"),
                      _shape("Tibial_spine_center", [[10, 48]], "point"),
                      _shape("Tibial_plafond_center", [[10, 22]], "point")]}
    (leg,) = labelme_joints(ref, width=40)
    assert leg.knee_xy.tolist() == [10.0, 22.0] and leg.ankle_xy.tolist() == [10.0, 48.0]


def test_align_labelme_document_size_from_argument_and_errors() -> None:
    doc = {"shapes": [_shape("hip", [[10, 4]], "point"), _shape("knee", [[10, 30]], "point"),
                      _shape("ankle", [[10, 55]], "point")]}
    with pytest.raises(ValueError, match="image size unknown"):
        align_labelme_document(doc)
    res = align_labelme_document(doc, image_size=(40, 60))
    assert (res.width, res.height) == (40, 60)
    with pytest.raises(ValueError, match="no leg"):
        align_labelme_document({"shapes": [], "imageWidth": 4, "imageHeight": 4})


# -- import hygiene ----------------------------------------------------------------------------------


def test_core_modules_import_without_django_celery_torch() -> None:
    code = (
        "import sys\n"
        "import inference.core.geometry, inference.core.alignment, inference.core.phantom, "
        "inference.core.labelme_alignment\n"
        "bad = [m for m in ('django', 'rest_framework', 'celery', 'torch') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env=env)


def test_sliver_bones_give_nulls_with_flags_not_a_crash():
    """A bad segmentation (a bone a few pixels high) must never crash the alignment (seen with tiny models)."""
    from inference.core.alignment import align_label_map
    from inference.core.legs import LegJoints

    label_map = np.zeros((200, 60), dtype=np.uint8)
    label_map[40:43, 28:31] = 1  # femur: a 3 x 3 speck
    label_map[120:122, 29:31] = 2  # tibia: a 2 x 2 speck
    legs = [LegJoints.from_array(np.array([[30.0, 20.0], [30.0, 100.0], [30.0, 180.0]]), anatomical_side="right")]
    result = align_label_map(label_map, legs, n_draws=5, n_samples=50).to_json()
    leg = result["legs"][0]
    assert leg["metrics"]["hka_deviation_deg"]["value"] == 0.0  # from the joints alone
    for name in ("mLDFA", "MPTA", "mLDTA"):
        assert leg["metrics"][name] is None
        assert any(flag.startswith(name) for flag in leg["flags"]), leg["flags"]
