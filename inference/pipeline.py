"""Ensemble inference: one image in, members' outputs, the ensemble's joints and masks, and alignment out.

Stages (algorithm spec §0): every fold's key-point and segmentation members predict; key points are
combined by the robust mean (§2.4); label maps by nested logistic stacking (§3.6) with majority voting
kept for comparison; the stacked map is pruned by the prior joints (§4); each knee gets the
Bayesian–Kalman update from the pruned masks (§2.7); alignment with Monte-Carlo spread is derived from
the pruned map and the posterior joints (§5). Each stage's wall time is recorded.

The ensemble is a plain object (:class:`LoadedEnsemble`); loading artifacts (torch) happens in
:mod:`inference.ensemble_store`. This module itself never imports torch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from annotations.core.raster import mask_to_polygon
from inference.backends.base import KeypointModel, KeypointPrediction, SegmentationModel
from inference.core.alignment import AlignmentResult, align_label_map
from inference.core.keypoint_ensemble import KeypointEnsembleResult, ensemble_keypoints
from inference.core.knee_update import update_knee
from inference.core.legs import FEMUR, JOINT_NAMES, TIBIA, AnatomicalSide, LegJoints
from inference.core.metrics import iou
from inference.core.pruning import prune_label_map
from inference.core.segmentation_ensemble import majority_vote, nested_stack_predict


@dataclass
class FoldMembers:
    """The members trained on one fold's training split, in the ensemble's fixed model order."""

    keypoint: list[KeypointModel]
    segmentation: list[SegmentationModel]


@dataclass
class LoadedEnsemble:
    """Members of every fold plus the F x P stacker lookup tables per bone."""

    view: str
    folds: list[FoldMembers]
    keypoint_names: list[str]
    segmentation_names: list[str]
    femur_tables: NDArray[np.bool_]  # (F, P, 2**K)
    tibia_tables: NDArray[np.bool_]
    keypoint_weights: NDArray[np.float64] | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EnsembleResult:
    """Everything a Prediction row stores."""

    document: dict[str, Any]
    alignment: AlignmentResult
    label_map: NDArray[np.uint8]
    prior_joints: tuple[LegJoints, ...]
    posterior_joints: tuple[LegJoints, ...]
    member_outputs: dict[str, Any]
    uncertainty: dict[str, float | None]
    timings: dict[str, float]
    flags: tuple[str, ...]


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def stage(self, name: str) -> _Stage:
        return _Stage(self, name)


class _Stage:
    def __init__(self, timer: _Timer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timer.timings[self.name] = round(time.perf_counter() - self.start, 4)


def run_ensemble(
    image: NDArray[np.uint8],
    ensemble: LoadedEnsemble,
    *,
    image_name: str = "image.png",
    image_id: int | str = 0,
    pixel_spacing_mm: float | None = None,
    anatomical_side: AnatomicalSide | None = None,
    seed: int = 0,
) -> EnsembleResult:
    """Run every member of every fold on ``image`` ((H, W) uint8, bone bright) and combine them."""
    if image.ndim != 2:
        raise ValueError(f"image must be (H, W) grey, got shape {image.shape}")
    height, width = image.shape
    timer = _Timer()
    options = ensemble.options

    with timer.stage("keypoint_members"):
        keypoint_predictions: list[KeypointPrediction] = [
            model.predict(image) for fold in ensemble.folds for model in fold.keypoint
        ]
    with timer.stage("segmentation_members"):
        fold_label_maps = [
            np.stack([model.predict(image) for model in fold.segmentation]) for fold in ensemble.folds
        ]

    with timer.stage("keypoint_ensemble"):
        # A patient side given for the image means it shows one leg: no leg split.
        keypoints = _ensemble_keypoints(keypoint_predictions, ensemble, width=width, height=height,
                                        single_leg=anatomical_side is not None)
    with timer.stage("segmentation_ensemble"):
        stacked = nested_stack_predict(
            fold_label_maps, femur_tables=ensemble.femur_tables, tibia_tables=ensemble.tibia_tables
        )
        majority = majority_vote(np.concatenate(fold_label_maps))
    prior = tuple(_with_side(leg, anatomical_side, len(keypoints.joints)) for leg in keypoints.joints)

    with timer.stage("pruning"):
        pruned = prune_label_map(stacked.labels, list(prior), x_mid=keypoints.x_mid,
                                 cleanup=options.get("pruning_cleanup", True))
    with timer.stage("knee_update"):
        posterior, knee_flags = _update_knees(prior, pruned.labels, keypoints.x_mid)
    with timer.stage("alignment"):
        alignment = align_label_map(
            pruned.labels, list(posterior), pixel_spacing_mm=pixel_spacing_mm, image_name=image_name,
            image_id=image_id, x_mid=keypoints.x_mid, seed=seed,
            n_draws=options.get("mc_draws", 100), n_samples=options.get("mc_samples", 5000),
        )
    with timer.stage("document"):
        document = labelme_from_result(pruned.labels, posterior, image_name=image_name, width=width,
                                       height=height, x_mid=keypoints.x_mid)

    member_outputs = _member_outputs(ensemble, keypoint_predictions, fold_label_maps, pruned.labels, majority)
    uncertainty = _uncertainty(keypoints, alignment, member_outputs)
    flags = tuple(keypoints.flags) + tuple(pruned.flags) + knee_flags
    timings = {**timer.timings, "total": round(sum(timer.timings.values()), 4)}
    return EnsembleResult(document, alignment, pruned.labels, prior, posterior, member_outputs, uncertainty,
                          timings, flags)


def _ensemble_keypoints(predictions: Sequence[KeypointPrediction], ensemble: LoadedEnsemble, *,
                        width: int, height: int, single_leg: bool) -> KeypointEnsembleResult:
    boxes = None
    for prediction in predictions:  # the detector-style members give leg boxes (§2.4 step 1)
        if prediction.leg_boxes_xyxy is not None and len(prediction.leg_boxes_xyxy) == 2:
            boxes = prediction.leg_boxes_xyxy
            break
    weights = None
    if ensemble.keypoint_weights is not None:
        weights = np.tile(ensemble.keypoint_weights, len(ensemble.folds))
    return ensemble_keypoints(
        [p.joints_xy for p in predictions], image_width=width, image_height=height,
        view="side" if ensemble.view == "LAT" or single_leg else "front", leg_boxes_xyxy=boxes, weights=weights,
    )


def _with_side(leg: LegJoints, anatomical_side: AnatomicalSide | None, n_legs: int) -> LegJoints:
    if n_legs != 1 or anatomical_side is None:
        return leg
    return LegJoints(leg.hip_xy, leg.knee_xy, leg.ankle_xy, leg.image_side, anatomical_side, leg.variance_xy)


def _update_knees(prior: Sequence[LegJoints], pruned: NDArray[np.uint8],
                  x_mid: float | None) -> tuple[tuple[LegJoints, ...], tuple[str, ...]]:
    posterior, flags = [], []
    for leg in prior:
        result = update_knee(leg, pruned, x_mid=x_mid)
        posterior.append(result.joints)
        flags.extend(f"{leg.image_side or 'leg'}: {flag}" for flag in result.flags)
    return tuple(posterior), tuple(flags)


def labelme_from_result(label_map: NDArray[np.uint8], legs: Sequence[LegJoints], *, image_name: str,
                        width: int, height: int, x_mid: float | None,
                        tolerance_px: float = 1.0) -> dict[str, Any]:
    """A LabelMe 5.x document: femur/tibia polygons and hip/knee/ankle points, ``group_id`` = leg index."""
    shapes: list[dict[str, Any]] = []
    columns = np.arange(width) + 0.5
    for index, leg in enumerate(legs):
        if len(legs) == 2 and x_mid is not None:
            in_leg = columns < x_mid if index == 0 else columns >= x_mid
        else:
            in_leg = np.ones(width, dtype=bool)
        for label, value in (("femur", FEMUR), ("tibia", TIBIA)):
            mask = (label_map == value) & in_leg[np.newaxis, :]
            polygons = mask_to_polygon(mask, tolerance_px=tolerance_px) if mask.any() else []
            if polygons:
                shapes.append(_shape(label, polygons[0], "polygon", index))
        for name, point in zip(JOINT_NAMES, leg.as_array(), strict=True):
            shapes.append(_shape(name, point[np.newaxis, :], "point", index))
    return {"version": "5.2.1", "flags": {}, "shapes": shapes, "imagePath": image_name, "imageData": None,
            "imageHeight": height, "imageWidth": width}


def _shape(label: str, points: NDArray[np.float64], shape_type: str, group_id: int) -> dict[str, Any]:
    return {"label": label, "points": [[round(float(x), 2), round(float(y), 2)] for x, y in points],
            "group_id": group_id, "description": "", "shape_type": shape_type, "flags": {}}


def _member_outputs(ensemble: LoadedEnsemble, keypoints: Sequence[KeypointPrediction],
                    fold_label_maps: Sequence[NDArray[np.uint8]], final: NDArray[np.uint8],
                    majority: NDArray[np.uint8]) -> dict[str, Any]:
    """Per-member key points and IOU against the final map (JSON-safe, small)."""
    keypoint_rows, segmentation_rows = [], []
    n_kp = len(ensemble.keypoint_names)
    for index, prediction in enumerate(keypoints):
        keypoint_rows.append({
            "fold": index // max(n_kp, 1), "model": ensemble.keypoint_names[index % max(n_kp, 1)],
            "joints_xy": np.round(prediction.joints_xy, 2).tolist(), "scores": np.round(prediction.scores, 3).tolist(),
        })
    for fold, stack in enumerate(fold_label_maps):
        for index, label_map in enumerate(stack):
            segmentation_rows.append({"fold": fold, "model": ensemble.segmentation_names[index],
                                      "iou_vs_ensemble": _bone_ious(label_map, final)})
    return {"keypoint": keypoint_rows, "segmentation": segmentation_rows,
            "majority_iou_vs_ensemble": _bone_ious(majority, final)}


def _bone_ious(labels: NDArray[np.uint8], reference: NDArray[np.uint8]) -> dict[str, float]:
    return {"femur": round(iou(labels, reference, FEMUR), 4), "tibia": round(iou(labels, reference, TIBIA), 4)}


def _uncertainty(keypoints: KeypointEnsembleResult, alignment: AlignmentResult,
                 members: dict[str, Any]) -> dict[str, float | None]:
    """Review-queue priority inputs: joint spread (px), HKA spread (deg), member disagreement (1 - IOU)."""
    joint_sd = [float(np.sqrt(np.max(leg.joints.variance_xy))) for leg in keypoints.legs
                if leg.joints.variance_xy is not None]
    hka_sd = []
    for leg in alignment.legs:
        metric = leg.metrics.get("hka_deviation_deg")
        if metric is not None and metric.sd is not None:
            hka_sd.append(float(metric.sd))
    ious = [row["iou_vs_ensemble"][bone] for row in members["segmentation"] for bone in ("femur", "tibia")]
    return {
        "joint_sd_px": round(max(joint_sd), 3) if joint_sd else None,
        "hka_sd_deg": round(max(hka_sd), 4) if hka_sd else None,
        "member_disagreement": round(1.0 - float(np.mean(ious)), 4) if ious else None,
    }
