"""A SAM click is labelled by where it falls relative to the knee of its leg (issue 26, item 2)."""

from __future__ import annotations

from inference.core.click_labels import bone_at

LEGS = [  # a child's film: knees well below mid-height, the right leg tilted
    {"joints": {"hip": [150.0, 120.0], "knee": [170.0, 620.0], "ankle": [160.0, 980.0]}},
    {"joints": {"hip": [350.0, 120.0], "knee": [330.0, 640.0], "ankle": [340.0, 990.0]}},
]


def test_a_click_above_its_legs_knee_is_the_femur_below_it_the_tibia() -> None:
    assert bone_at([352.0, 560.0], LEGS) == "femur"  # below mid-height (512 of 1024), still above the knee
    assert bone_at([168.0, 630.0], LEGS) == "tibia"  # the right knee is at 620
    assert bone_at([332.0, 630.0], LEGS) == "femur"  # the same height on the left leg, whose knee is at 640


def test_a_leg_cut_at_the_ankle_still_labels_clicks_and_no_leg_gives_none() -> None:
    cut = [{"joints": {"hip": [150.0, 120.0], "knee": [170.0, 620.0]}}]
    assert bone_at([171.0, 700.0], cut) == "tibia"
    assert bone_at([171.0, 700.0], []) is None
    assert bone_at([171.0, 700.0], [{"joints": {"hip": [1.0, 2.0]}}]) is None
