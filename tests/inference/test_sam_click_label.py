"""The SAM API labels a click by the knee of the image's predicted leg, not by the returned mask (issue 26,
item 2): a click inside a child's femur below the image's mid-height came back "tibia"."""

from __future__ import annotations

import pytest

from inference.apis_sam import _clicked_bone
from inference.models import EnsembleVersion, JobStatus, Prediction

pytestmark = pytest.mark.django_db


def test_the_clicked_bone_follows_the_predicted_knee(image) -> None:  # noqa: ANN001
    assert _clicked_bone(image, {"points": [[30, 70]]}) is None  # no prediction yet: the mask's guess is used
    ensemble = EnsembleVersion.objects.create(name="e", view="AP")
    Prediction.objects.create(image=image, ensemble_version=ensemble, status=JobStatus.SUCCEEDED, alignment={
        "legs": [{"joints": {"hip": [32.0, 10.0], "knee": [32.0, 100.0], "ankle": [32.0, 125.0]}}]})
    assert _clicked_bone(image, {"points": [[30, 90]]}) == "femur"  # lower half of a 128-high image
    assert _clicked_bone(image, {"points": [[5, 5], [30, 110]], "labels": [0, 1]}) == "tibia"  # the positive click
    assert _clicked_bone(image, {"box": [20, 60, 40, 96]}) == "femur"  # a box: its centre
