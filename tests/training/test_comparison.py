"""Comparison statistics (training/core/comparison.py) and the SVG charts, against hand computations. No DB."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from training.charts import bland_altman_svgs, loss_curve_svg
from training.core.comparison import (
    ImageOutcome,
    agreement,
    bone_confusion,
    joint_errors,
    paired_metric_values,
    summarise,
)
from training.core.plots import LineSeries, line_chart_svg

REPO = Path(__file__).resolve().parents[2]


def test_agreement_matches_a_hand_computed_bland_altman():
    # d = [1, 0, -2, 2]: mean 0.25, |d| mean 1.25, sample variance 8.75 / 3.
    result = agreement([1.0, 2.0, 3.0, 6.0], [0.0, 2.0, 5.0, 4.0])
    sd = math.sqrt(8.75 / 3)
    assert result.n == 4
    assert result.mae == pytest.approx(1.25)
    assert result.bias == pytest.approx(0.25)
    assert result.sd == pytest.approx(sd)
    assert result.loa_low == pytest.approx(0.25 - 1.96 * sd)
    assert result.loa_high == pytest.approx(0.25 + 1.96 * sd)
    assert result.to_json()["pairs"] == [[1.0, 0.0], [2.0, 2.0], [3.0, 5.0], [6.0, 4.0]]


def test_agreement_with_too_few_pairs_leaves_what_cannot_be_computed_empty():
    assert agreement([], []).to_json() == {"n": 0, "mae": None, "bias": None, "sd": None, "loa_low": None,
                                          "loa_high": None, "pairs": []}
    one = agreement([3.0], [1.0])
    assert (one.n, one.mae, one.bias, one.sd, one.loa_low) == (1, 2.0, 2.0, None, None)
    with pytest.raises(ValueError, match="length"):
        agreement([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        agreement([math.nan], [1.0])


def test_bone_confusion_counts_femur_and_tibia_separately():
    truth = np.zeros((4, 4), dtype=np.uint8)
    truth[0:2, 0:2] = 1  # femur: 4 pixels
    truth[2:4, 0:2] = 2  # tibia: 4 pixels
    predicted = np.zeros_like(truth)
    predicted[0:2, 0:3] = 1  # femur: 6 pixels, 4 of them right -> IOU 4/6
    predicted[3, 0:2] = 2  # tibia: 2 pixels, both right -> IOU 2/4
    counts = bone_confusion(predicted, truth)
    assert (counts["femur"].tp, counts["femur"].fp, counts["femur"].fn) == (4, 2, 0)
    assert counts["femur"].iou == pytest.approx(4 / 6)
    assert counts["tibia"].iou == pytest.approx(2 / 4)


def test_joint_errors_match_each_reference_leg_to_its_nearest_prediction():
    left = np.array([[10.0, 0.0], [10.0, 50.0], [10.0, 100.0]])
    right = left + [100.0, 0.0]
    # Predictions in the other order, each off by (3, 4) = 5 px on the knee only.
    predicted = [right + [[0, 0], [3, 4], [0, 0]], left + [[0, 0], [3, 4], [0, 0]]]
    errors = joint_errors(predicted, [left, right])
    np.testing.assert_allclose(errors.distance_px, [0, 5, 0, 0, 5, 0])
    # NED scale: the padded points box, max(0, 100) * 1.2 = 120 px.
    np.testing.assert_allclose(errors.ned, np.array([0, 5, 0, 0, 5, 0]) / 120.0)
    assert errors.missed_legs == 0
    only_one = joint_errors([left], [left, right])
    assert only_one.missed_legs == 1 and only_one.distance_px.size == 3
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        joint_errors([np.zeros((2, 2))], [left])


def test_paired_metric_values_keep_legs_and_values_present_on_both_sides():
    predicted = {"left": {"HKA": 178.0, "MPTA": None}, "right": {"HKA": 175.0}}
    reference = {"left": {"HKA": 177.0, "MPTA": 87.0}, "elsewhere": {"HKA": 1.0}}
    assert paired_metric_values(predicted, reference) == {"HKA": [(178.0, 177.0)]}


def test_summarise_pools_iou_joint_errors_and_angles():
    truth = np.zeros((2, 2), dtype=np.uint8)
    truth[0, :] = 1
    truth[1, :] = 2
    perfect = ImageOutcome(
        image_id=1, bones=bone_confusion(truth, truth),
        joints=joint_errors([np.zeros((3, 2)) + [[0, 0], [0, 10], [0, 20]]],
                            [np.zeros((3, 2)) + [[0, 0], [0, 10], [0, 20]]]),
        metric_pairs={"HKA": [(178.0, 177.0)]},
    )
    empty_prediction = np.zeros_like(truth)
    missed = ImageOutcome(image_id=2, bones=bone_confusion(empty_prediction, truth), joints=joint_errors([], [
        np.zeros((3, 2)) + [[0, 0], [0, 10], [0, 20]]]), metric_pairs={"HKA": [(170.0, 175.0)]})
    summary = summarise([perfect, missed]).to_json()
    assert summary["n_images"] == 2
    assert summary["pooled_iou"] == {"femur": pytest.approx(2 / 4), "tibia": pytest.approx(2 / 4)}
    assert summary["mean_iou"] == {"femur": pytest.approx(0.5), "tibia": pytest.approx(0.5)}
    assert summary["keypoints"]["n_joints"] == 3 and summary["keypoints"]["missed_legs"] == 1
    assert summary["keypoints"]["error_px_mean"] == 0.0
    assert summary["angles"]["HKA"]["n"] == 2
    assert summary["angles"]["HKA"]["bias"] == pytest.approx((1.0 - 5.0) / 2)
    assert summary["per_image"][1] == {"image": 2, "femur_iou": 0.0, "tibia_iou": 0.0, "error_px_mean": None,
                                       "ned_mean": None}
    assert summarise([]).to_json()["pooled_iou"] == {"femur": None, "tibia": None}


def test_charts_are_escaped_svg():
    svg = line_chart_svg([LineSeries("<unet>", [(1.0, 0.5), (2.0, 0.25)])], title="a & b", x_label="epoch",
                         y_label="loss")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "&lt;unet&gt;" in svg and "a &amp; b" in svg and "<unet>" not in svg
    assert loss_curve_svg([]) is None
    curve = loss_curve_svg([{"fold": 0, "member": "unet", "epoch": 1, "loss": 0.9},
                            {"fold": 0, "member": "unet", "epoch": 2, "loss": 0.4},
                            {"fold": 1, "member": "unet", "epoch": 1, "loss": 0.8}])
    assert curve is not None and curve.count("<polyline") == 2 and curve.count(">unet</text>") == 1
    metrics = {"units": {"HKA": "deg"},
               "candidate": {"ensemble": 2, "angles": {"HKA": agreement([178.0, 176.0], [177.0, 177.0]).to_json()}},
               "baseline": {"ensemble": 1, "angles": {"HKA": agreement([], []).to_json()}}}
    charts = bland_altman_svgs(metrics)
    assert set(charts) == {"HKA"} and "candidate #2" in charts["HKA"] and "(deg)" in charts["HKA"]


def test_comparison_core_imports_without_django():
    code = ("import sys\nimport training.core.comparison, training.core.plots\n"
            "bad = [m for m in ('django', 'rest_framework', 'celery', 'torch') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO,
                   env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})


# --------------------------------------------------------------------------------------------
# The comparison service on stored predictions (no model: predictions are made from the truth)
# --------------------------------------------------------------------------------------------
def _shifted(document: dict, dx: float) -> dict:
    shifted = json.loads(json.dumps(document))
    for shape in shifted["shapes"]:
        shape["points"] = [[x + dx, y] for x, y in shape["points"]]
    return shifted


def _stored_prediction(image, ensemble, document: dict):  # noqa: ANN001, ANN202
    from inference.core.labelme_alignment import align_labelme_document
    from inference.models import JobStatus, Prediction

    alignment = align_labelme_document(document, image_size=(image.width, image.height), image_id=image.pk).to_json()
    return Prediction.objects.create(image=image, ensemble_version=ensemble, status=JobStatus.SUCCEEDED,
                                     document=document, alignment=alignment)


@pytest.mark.django_db
def test_comparison_scores_both_versions_against_the_approved_revisions(tmp_path):
    from annotations.services import labelme_bundle_import
    from inference.core.phantom import write_phantom_set
    from inference.models import EnsembleVersion, Prediction
    from training.comparison_runs import ensemble_comparison_run
    from training.models import EnsembleComparison, RunStatus, TrainingRun
    from training.snapshots import dataset_snapshot_create

    write_phantom_set(tmp_path, n=4, seed=5, legs=1)
    labelme_bundle_import(path=tmp_path, user=None, patient_pattern=r"^(.*)$")
    snapshot = dataset_snapshot_create(name="eval", view="AP", n_folds=2)
    run = TrainingRun.objects.create(config_name="smoke", dataset_snapshot=snapshot)
    candidate = EnsembleVersion.objects.create(name="candidate", training_run=run, config={"path": "c"})
    baseline = EnsembleVersion.objects.create(name="baseline", config={"path": "b"})
    for entry in snapshot.entries.select_related("image", "revision"):
        _stored_prediction(entry.image, candidate, entry.revision.document)
        _stored_prediction(entry.image, baseline, _shifted(entry.revision.document, 5.0))
    comparison = EnsembleComparison.objects.create(candidate=candidate, baseline=baseline, dataset_snapshot=snapshot)

    comparison = ensemble_comparison_run(comparison=comparison)

    assert comparison.status == RunStatus.SUCCEEDED, comparison.error
    assert comparison.progress == {"done": 4, "total": 4} and Prediction.objects.count() == 8  # reused, none added
    metrics = comparison.metrics
    exact, moved = metrics["candidate"], metrics["baseline"]
    assert metrics["n_images"] == 4 and metrics["failed"] == [] and metrics["units"]["hka_deviation_deg"] == "deg"
    assert exact["pooled_iou"] == {"femur": 1.0, "tibia": 1.0}
    assert exact["keypoints"]["error_px_mean"] == 0.0 and exact["keypoints"]["n_joints"] == 12
    assert exact["trained_on_evaluated_images"] == 4 and moved["trained_on_evaluated_images"] is None
    for name in ("hka_deviation_deg", "mLDFA", "MPTA"):
        assert exact["angles"][name]["n"] == 4 and exact["angles"][name]["mae"] == 0.0
    assert 0.8 < moved["pooled_iou"]["femur"] < 1.0
    assert moved["keypoints"]["error_px_mean"] == pytest.approx(5.0)
    # A translation changes no joint angle.
    assert moved["angles"]["hka_deviation_deg"]["mae"] == pytest.approx(0.0, abs=1e-6)
    assert len(moved["per_image"]) == 4 and set(bland_altman_svgs(metrics)) >= {"hka_deviation_deg", "MPTA"}
