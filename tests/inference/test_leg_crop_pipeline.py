"""The per-leg pipeline (leg_crops mode) maps crops back exactly: a phantom padded, scaled or mirrored
gives the same angles as the original (within 0.1 degrees, every angle) and the same lengths.

The members here are oracles in the canonical crop: they return the phantom's truth label map and
joints cut into the crop (chosen by the crop's patient side), and the localiser returns the truth
landmarks of the image it is given. Everything between them is the production code: localisation
result -> crop -> members -> key-point ensemble, stacking, pruning, knee update -> alignment on the
crop's grid -> back onto the original pixels -> lengths.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from inference.backends.base import KeypointPrediction
from inference.core.leg_crops import leg_crop_from_landmarks
from inference.core.leg_localisation import Localisation, LocalisedLeg, leg_box
from inference.core.phantom import generate_phantom
from inference.pipeline import OUTSIDE_INTENDED_USE, FoldMembers, LoadedEnsemble, run_ensemble
from training.core.leg_samples import phantom_leg_truths

ANGLES = ("hka_deviation_deg", "HKA", "NSA", "mLDFA", "aLDFA", "mLPFA", "MPTA", "mLDTA", "JLCA", "AMA",
          "femoral_cora_deg", "tibial_cora_deg")
#: Every angle, joint- or mask-based, within 0.1 degrees: each leg is aligned on its crop's own grid
#: (inference/core/crop_alignment.py), which is the same at any size, position and orientation.
TOLERANCE_DEG = 0.1
#: Lengths scale with the image; in units of the original phantom they agree to 0.1 %.
LENGTHS = ("leg_length", "femur_length", "tibia_length", "MAD")


class _TruthLocaliser:
    def __init__(self, legs: list[LocalisedLeg]) -> None:
        self.legs = legs

    def localise(self, image: np.ndarray, *, dicom: object = None) -> Localisation:
        return Localisation(tuple(self.legs), ("side_from_display_convention",) if len(self.legs) == 2 else ())


class _Oracle:
    """Returns the canonical truth of the leg whose crop it is shown (matched by pixels)."""

    def __init__(self, crops: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], kind: str) -> None:
        self.crops, self.kind = crops, kind

    def info(self) -> dict:
        return {"name": f"oracle-{self.kind}"}

    def _nearest(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return min(self.crops.values(), key=lambda c: float(np.abs(c[0].astype(int) - image).mean()))

    def predict(self, image: np.ndarray):  # noqa: ANN201
        _crop, labels, joints = self._nearest(image)
        if self.kind == "segmentation":
            return labels.copy()
        return KeypointPrediction(joints_xy=joints[np.newaxis].copy(), scores=np.ones((1, 3)))


def _ensemble(phantom, localiser_legs) -> LoadedEnsemble:  # noqa: ANN001
    from inference.core.leg_crops import clahe

    truths = phantom_leg_truths(phantom)
    crops = {}
    width = phantom.image.shape[1]
    hips = sorted(leg["joints"]["hip"][0] for leg in phantom.truth["legs"])
    x_mid = 0.5 * (hips[0] + hips[1]) if len(hips) == 2 else None
    for truth, leg in zip(truths, phantom.truth["legs"], strict=True):
        crop = leg_crop_from_landmarks(np.array(truth.apex_xy), np.array(truth.ankle_xy),
                                       mirrored=truth.anatomical_side == "left")
        own = phantom.label_map.copy()
        if x_mid is not None:
            columns = np.arange(width) + 0.5
            own[:, (columns < x_mid) != (leg["image_side"] == "left")] = 0
        joints = np.array([leg["joints"][n] for n in ("hip", "knee", "ankle")], dtype=float)
        crops[truth.anatomical_side] = (clahe(crop.cut(phantom.image)), crop.cut_labels(own), crop.to_crop(joints))
    any_vote = np.array([[[False, True, True, True]]])  # one fold, one part: bone if either member says so
    return LoadedEnsemble(
        view="AP", folds=[FoldMembers(keypoint=[_Oracle(crops, "keypoint")],
                                      segmentation=[_Oracle(crops, "segmentation"), _Oracle(crops, "segmentation")])],
        keypoint_names=["oracle"], segmentation_names=["a", "b"], femur_tables=any_vote, tibia_tables=any_vote,
        options={"mc_draws": 40, "mc_samples": 3000}, input_mode="leg_crops", localiser=_TruthLocaliser(localiser_legs),
    )


def _legs(phantom, transform) -> list[LocalisedLeg]:  # noqa: ANN001
    legs = []
    for truth in phantom_leg_truths(phantom):
        apex, ankle = transform(np.array(truth.apex_xy)), transform(np.array(truth.ankle_xy))
        legs.append(LocalisedLeg(truth.anatomical_side, "left", tuple(apex), tuple(ankle), leg_box(apex, ankle), 1.0))
    legs.sort(key=lambda leg: leg.apex_xy[0])
    if len(legs) == 2:
        legs = [LocalisedLeg(leg.anatomical_side, side, leg.apex_xy, leg.ankle_xy, leg.box_xyxy, 1.0,
                             appearance="right" if side == "left" else "left")  # a mirrored image: a PA display
                for leg, side in zip(legs, ("left", "right"), strict=True)]
    return legs


def _angles(result) -> dict[str, dict[str, float | None]]:  # noqa: ANN001
    return {leg.anatomical_side: {name: None if leg.metrics[name] is None else leg.metrics[name].value
                                  for name in ANGLES} for leg in result.alignment.legs}


def _lengths(result, scale: float) -> dict[str, dict[str, float]]:  # noqa: ANN001
    return {leg.anatomical_side: {name: leg.metrics[name].value / scale for name in LENGTHS}
            for leg in result.alignment.legs}


@pytest.fixture(scope="module")
def phantom():  # noqa: ANN201
    return generate_phantom(seed=31, legs=2)


@pytest.fixture(scope="module")
def reference(phantom):  # noqa: ANN001, ANN201
    result = run_ensemble(phantom.image, _ensemble(phantom, _legs(phantom, lambda p: p)))
    assert len(result.alignment.legs) == 2
    return result


def test_original_matches_the_truth(phantom, reference) -> None:  # noqa: ANN001
    truth = {leg["anatomical_side"]: leg["metrics"]["hka_deviation_deg"]["value"] for leg in phantom.truth["legs"]}
    measured = {side: values["hka_deviation_deg"] for side, values in _angles(reference).items()}
    for side in ("right", "left"):
        assert measured[side] == pytest.approx(truth[side], abs=0.1)
    out = reference.alignment.to_json()
    assert out["lld"] is not None and all(leg["landmarks"]["femoral_head_apex"] for leg in out["legs"])


@pytest.mark.parametrize("variant", ["padded", "scaled", "mirrored"])
def test_padded_scaled_mirrored_give_the_same_angles(phantom, reference, variant: str) -> None:  # noqa: ANN001
    image = phantom.image
    h, w = image.shape
    scale = 1.0
    if variant == "padded":
        moved = np.zeros((h + 400, w + 600), dtype=np.uint8)
        moved[300:300 + h, 100:100 + w] = image
        transform = lambda p: p + np.array([100.0, 300.0])  # noqa: E731
    elif variant == "scaled":
        moved = np.asarray(Image.fromarray(image).resize((int(w * 1.5), int(h * 1.5)), Image.Resampling.BILINEAR))
        transform = lambda p: p * 1.5  # noqa: E731
        scale = 1.5
    else:
        moved = np.ascontiguousarray(image[:, ::-1])
        transform = lambda p: np.array([w - p[0], p[1]])  # noqa: E731
    result = run_ensemble(moved, _ensemble(phantom, _legs(phantom, transform)))
    expected, got = _angles(reference), _angles(result)
    assert set(got) == {"right", "left"}
    for side in ("right", "left"):
        for name in ANGLES:
            if expected[side][name] is None:
                assert got[side][name] is None, (variant, side, name)
            else:
                assert got[side][name] == pytest.approx(expected[side][name], abs=TOLERANCE_DEG), (variant, side, name)
        for name, value in _lengths(reference, 1.0)[side].items():
            assert _lengths(result, scale)[side][name] == pytest.approx(value, rel=1e-3, abs=0.05), (variant, side, name)


def test_no_leg_found_is_outside_intended_use(phantom) -> None:  # noqa: ANN001
    result = run_ensemble(phantom.image, _ensemble(phantom, []))
    assert result.alignment.legs == () and OUTSIDE_INTENDED_USE in result.flags
    assert result.alignment.to_json()["lld"] is None


class _ShiftingRefiner:
    """Moves every leg's ankle by a known offset, as a landmark refiner would."""

    SHIFT = np.array([3.0, 5.0])

    def refine(self, image: np.ndarray, localisation: Localisation) -> Localisation:
        legs = tuple(replace(leg, ankle_xy=tuple(np.add(leg.ankle_xy, self.SHIFT))) for leg in localisation.legs)
        return replace(localisation, legs=legs)


def test_the_ankle_joint_moves_toward_the_refined_ankle_by_the_ensemble_option(phantom) -> None:  # noqa: ANN001
    """``ankle_from_landmarks``: 0 keeps the ankle from the masks, 1 takes the refined plafond centre, 0.5 halfway."""
    base = replace(_ensemble(phantom, _legs(phantom, lambda p: p)), landmark_refiner=_ShiftingRefiner())
    ankles = {}
    for weight in (0.0, 0.5, 1.0):
        result = run_ensemble(phantom.image, replace(base, options={**base.options, "ankle_from_landmarks": weight}))
        assert "landmark_refinement" in result.timings
        ankles[weight] = {leg.anatomical_side: np.array(leg.joints.ankle_xy) for leg in result.alignment.legs}
    refined = {t.anatomical_side: np.array(t.ankle_xy) + _ShiftingRefiner.SHIFT for t in phantom_leg_truths(phantom)}
    for side in ("right", "left"):
        assert np.linalg.norm(ankles[0.0][side] - refined[side]) > 1.0  # the masks' ankle is elsewhere
        # The joints are measured as the prediction's document stores them: to 0.01 px.
        np.testing.assert_allclose(ankles[1.0][side], refined[side], atol=0.005)
        np.testing.assert_allclose(ankles[0.5][side], 0.5 * (ankles[0.0][side] + refined[side]), atol=0.01)
