"""Legs cut by the film's edge: the anatomy in view is measured, the rest is "not measurable" (issue 24, item 5).

A phantom's document cut just above the ankles (the outlines clipped to the new lower edge, as a prediction's
are) loses HKA, MAD, MPTA, mLDTA, the tibial CORA and the lengths, with the reason, and keeps the angles of the
femur and the knee exactly as on the whole film; the joint outside is absent from ``joints`` (architecture.md §6).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from inference.core.labelme_alignment import align_labelme_document
from inference.core.partial_legs import DEPENDS_ON, joints_outside_image
from inference.core.phantom import generate_phantom

KEPT_WITH_THE_ANKLE_CUT = ("mLDFA", "aLDFA", "NSA", "JLCA")


def _cut(document: dict, *, bottom: float | None = None, top: float | None = None) -> dict:
    """The document of the film cut at rows ``top``..``bottom``: outlines clipped, joints kept as they were."""
    out = copy.deepcopy(document)
    shift = top or 0.0
    for shape in out["shapes"]:
        points = np.asarray(shape["points"], dtype=float)
        if shape["shape_type"] == "polygon":
            points[:, 1] = np.clip(points[:, 1], top or 0.0, bottom if bottom is not None else np.inf)
        points[:, 1] -= shift
        shape["points"] = points.tolist()
    out["imageHeight"] = int((bottom if bottom is not None else document["imageHeight"]) - shift)
    return out


@pytest.fixture(scope="module")
def phantom():  # noqa: ANN201
    return generate_phantom(seed=5, legs=2)


def test_a_film_cut_above_the_ankles_measures_the_femur_and_knee_only(phantom) -> None:  # noqa: ANN001
    whole = align_labelme_document(phantom.labelme).to_json()
    ankles = [leg["joints"]["ankle"][1] for leg in whole["legs"]]
    lengths = [leg["joints"]["ankle"][1] - leg["joints"]["hip"][1] for leg in whole["legs"]]
    cut = align_labelme_document(_cut(phantom.labelme, bottom=min(ankles) - 0.04 * np.mean(lengths))).to_json()
    assert len(cut["legs"]) == 2
    for before, after in zip(whole["legs"], cut["legs"], strict=True):
        assert set(after["joints"]) == {"hip", "knee"}  # the ankle is outside the image
        assert after["not_measurable"] == {name: "ankle outside the image" for name in DEPENDS_ON["ankle"]}
        for name in DEPENDS_ON["ankle"]:
            assert after["metrics"][name] is None
        for name in KEPT_WITH_THE_ANKLE_CUT:
            if before["metrics"][name] is not None:
                assert after["metrics"][name]["value"] == pytest.approx(before["metrics"][name]["value"], abs=0.3), name
        assert any(flag.startswith("ankle outside the image: HKA, MAD") for flag in after["flags"])
    assert cut["lld"] is None
    assert "not_measurable" not in whole["legs"][0]  # a whole film: every joint in view, nothing said


def test_a_film_cut_through_the_femoral_heads_loses_the_hip_metrics(phantom) -> None:  # noqa: ANN001
    whole = align_labelme_document(phantom.labelme).to_json()
    hips = [leg["joints"]["hip"][1] for leg in whole["legs"]]
    cut = align_labelme_document(_cut(phantom.labelme, top=max(hips) - 5.0)).to_json()
    for leg in cut["legs"]:
        assert "hip" not in leg["joints"] and leg["metrics"]["mLDFA"] is None and leg["metrics"]["MPTA"] is not None
        assert leg["not_measurable"]["NSA"] == "hip outside the image"


def test_the_rule_on_outlines_and_joints() -> None:
    hip, ankle = np.array([50.0, 100.0]), np.array([60.0, 900.0])
    femur = [np.array([[40.0, 80.0], [60.0, 80.0], [55.0, 500.0]])]
    tibia = [np.array([[50.0, 510.0], [65.0, 510.0], [60.0, 905.0]])]
    assert joints_outside_image(femur, tibia, hip_xy=hip, ankle_xy=ankle, height=1000) == ()
    assert joints_outside_image(femur, tibia, hip_xy=hip, ankle_xy=ankle, height=906) == ("ankle",)  # outline at the edge
    assert joints_outside_image(femur, tibia, hip_xy=hip, ankle_xy=np.array([60.0, 995.0]), height=1000) == ("ankle",)
    assert joints_outside_image([femur[0] - [0, 80]], tibia, hip_xy=hip, ankle_xy=ankle, height=1000) == ("hip",)
