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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from annotations.core.raster import mask_to_polygon
from inference.backends.base import KeypointModel, KeypointPrediction, SegmentationModel
from inference.core.alignment import AlignmentOptions, AlignmentResult
from inference.core.keypoint_ensemble import KeypointEnsembleResult, ensemble_keypoints
from inference.core.knee_update import update_knee
from inference.core.labelme_alignment import align_labelme_document
from inference.core.leg_crops import LegCrop, clahe, leg_crop_from_landmarks
from inference.core.legs import FEMUR, JOINT_NAMES, TIBIA, AnatomicalSide, LegJoints
from inference.core.measurement_record import (
    APEX_LABEL,
    MEASUREMENT_KEY,
    LegRecord,
    MeasurementRecord,
    MonteCarloRecord,
)
from inference.core.metrics import iou
from inference.core.pruning import prune_label_map
from inference.core.segmentation_ensemble import majority_vote, nested_stack_predict

#: The flag of an image in which no full-length leg was found: no angles are measured on it.
OUTSIDE_INTENDED_USE = "outside_intended_use: no full-length leg found (an AP hip-to-ankle radiograph is needed)"


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
    #: ``"image"``: members see the whole image; ``"leg_crops"``: each localised leg's normalised crop.
    input_mode: str = "image"
    localiser: Any = None  # inference.backends.leg_localiser.LegLocaliser for "leg_crops"
    #: inference.backends.landmark_refiner.LandmarkRefiner: a closer look at each leg's apex and ankle, if any.
    landmark_refiner: Any = None


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

    def __exit__(self, *exc: object) -> None:  # a stage run once per leg adds up
        elapsed = time.perf_counter() - self.start
        self.timer.timings[self.name] = round(self.timer.timings.get(self.name, 0.0) + elapsed, 4)


@dataclass
class _Combined:
    """The ensemble's key points and label map for one image (or one leg crop), before alignment."""

    keypoints: KeypointEnsembleResult
    prior: tuple[LegJoints, ...]
    posterior: tuple[LegJoints, ...]
    labels: NDArray[np.uint8]
    member_outputs: dict[str, Any]
    flags: tuple[str, ...]


def _combine(image: NDArray[np.uint8], ensemble: LoadedEnsemble, timer: _Timer, *, single_leg: bool,
             anatomical_side: AnatomicalSide | None) -> _Combined:
    """Members, key-point ensemble, stacking, pruning and knee update on one image (spec §2.4-§4, §2.7)."""
    height, width = image.shape
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
        keypoints = _ensemble_keypoints(keypoint_predictions, ensemble, width=width, height=height,
                                        single_leg=single_leg)
    with timer.stage("segmentation_ensemble"):
        stacked = nested_stack_predict(
            fold_label_maps, femur_tables=ensemble.femur_tables, tibia_tables=ensemble.tibia_tables
        )
        majority = majority_vote(np.concatenate(fold_label_maps))
    prior = tuple(_with_side(leg, anatomical_side, len(keypoints.joints)) for leg in keypoints.joints)
    with timer.stage("pruning"):
        pruned = prune_label_map(stacked.labels, list(prior), x_mid=keypoints.x_mid,
                                 cleanup=options.get("pruning_cleanup", True))
    mask_flags: tuple[str, ...] = ()
    if options.get("joints_from_masks") and len(prior) == 1:
        with timer.stage("joints_from_masks"):
            prior_for_knee, mask_flags = _joints_from_masks(prior[0], pruned.labels, anatomical_side)
    else:
        prior_for_knee = prior
    with timer.stage("knee_update"):
        posterior, knee_flags = _update_knees(prior_for_knee, pruned.labels, keypoints.x_mid)
    member_outputs = _member_outputs(ensemble, keypoint_predictions, fold_label_maps, pruned.labels, majority)
    flags = tuple(keypoints.flags) + tuple(pruned.flags) + mask_flags + knee_flags
    return _Combined(keypoints, prior, posterior, pruned.labels, member_outputs, flags)


def _joints_from_masks(leg: LegJoints, labels: NDArray[np.uint8], anatomical_side: AnatomicalSide | None
                       ) -> tuple[tuple[LegJoints, ...], tuple[str, ...]]:
    """A single leg's joints derived from its pruned bone masks, each joint kept from the key points where that fails.

    An ensemble option (``joints_from_masks``): with one key-point member, the joints the outlines give
    were measured closer to the truth than the key points (docs/accuracy.md, starter).
    """
    from inference.core.joints_from_masks import derive_joints

    medial_sign = None if anatomical_side is None else (1 if anatomical_side == "right" else -1)
    try:
        derived = np.asarray(derive_joints(labels, n_legs=1, medial_sign=medial_sign), dtype=np.float64)
    except ValueError:
        return (leg,), ("joints from masks failed: key points kept",)
    if derived.shape != (1, 3, 2):
        return (leg,), ("joints from masks failed: key points kept",)
    keypoints = leg.as_array()
    joints = np.where(np.isfinite(derived[0]), derived[0], keypoints)
    kept = [name for name, ok in zip(JOINT_NAMES, np.isfinite(derived[0]).all(axis=1), strict=True) if not ok]
    flags = (f"joints from masks: {', '.join(kept)} from key points",) if kept else ()
    return (LegJoints.from_array(joints, image_side=leg.image_side, anatomical_side=leg.anatomical_side,
                                 variance_xy=leg.variance_xy),), flags


def run_ensemble(
    image: NDArray[np.uint8],
    ensemble: LoadedEnsemble,
    *,
    image_name: str = "image.png",
    image_id: int | str = 0,
    pixel_spacing_mm: float | None = None,
    anatomical_side: AnatomicalSide | None = None,
    dicom: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> EnsembleResult:
    """Run every member of every fold on ``image`` ((H, W) uint8, bone bright) and combine them.

    An ensemble whose ``input_mode`` is ``"leg_crops"`` first localises the legs and runs the members
    on each leg's normalised crop (:func:`_run_per_leg`); ``"image"`` runs them on the whole image.
    ``dicom`` is the image's safe DICOM metadata (laterality and orientation for the leg sides).
    """
    if image.ndim != 2:
        raise ValueError(f"image must be (H, W) grey, got shape {image.shape}")
    if ensemble.input_mode == "leg_crops":
        return _run_per_leg(image, ensemble, image_name=image_name, image_id=image_id,
                            pixel_spacing_mm=pixel_spacing_mm, anatomical_side=anatomical_side, dicom=dicom,
                            seed=seed)
    height, width = image.shape
    timer = _Timer()
    # A patient side given for the image means it shows one leg: no leg split.
    combined = _combine(image, ensemble, timer, single_leg=anatomical_side is not None,
                        anatomical_side=anatomical_side)
    x_mid = combined.keypoints.x_mid
    with timer.stage("document"):
        document = labelme_from_result(combined.labels, combined.posterior, image_name=image_name, width=width,
                                       height=height, x_mid=x_mid)
        records = [LegRecord(group_id=index, image_side=_image_side(leg, width), anatomical_side=leg.anatomical_side,
                             joint_variance_xy=leg.variance_xy) for index, leg in enumerate(combined.posterior)]
        document[MEASUREMENT_KEY] = _measurement_record(records, ensemble, image_id=image_id, seed=seed,
                                                        x_mid=x_mid).to_json()
    with timer.stage("alignment"):
        alignment = _align_document(document, pixel_spacing_mm)
    uncertainty = _uncertainty([combined.keypoints], alignment, combined.member_outputs)
    timings = {**timer.timings, "total": round(sum(timer.timings.values()), 4)}
    return EnsembleResult(document, alignment, combined.labels, combined.prior, combined.posterior,
                          combined.member_outputs, uncertainty, timings, combined.flags)


def _align_document(document: Mapping[str, Any], pixel_spacing_mm: float | None) -> AlignmentResult:
    """The prediction's alignment, measured from its own document and measurement record: exactly what the
    document gives again once a reviewer accepts it (:mod:`inference.core.measurement_record`)."""
    if not document[MEASUREMENT_KEY]["legs"]:
        return AlignmentResult(image=document["imagePath"], width=document["imageWidth"],
                               height=document["imageHeight"], pixel_spacing_mm=pixel_spacing_mm, legs=(),
                               x_mid=None, options=AlignmentOptions())
    return align_labelme_document(document, pixel_spacing_mm=pixel_spacing_mm)


def _measurement_record(legs: Sequence[LegRecord], ensemble: LoadedEnsemble, *, image_id: int | str, seed: int,
                        x_mid: float | None) -> MeasurementRecord:
    """The record of a prediction's measurement: the ensemble's Monte-Carlo settings (``mc_draws`` x
    ``mc_samples``), the seed and image key, and each leg's frame, sides and joint variances."""
    monte_carlo = MonteCarloRecord(seed=seed, n_draws=ensemble.options.get("mc_draws", 100),
                                   n_samples=ensemble.options.get("mc_samples", 5000), image_key=str(image_id))
    return MeasurementRecord(legs=tuple(legs), monte_carlo=monte_carlo, x_mid=x_mid if len(legs) == 2 else None)


def _image_side(leg: LegJoints, width: int) -> str:
    return leg.image_side or ("left" if float(leg.as_array()[:, 0].mean()) < width / 2 else "right")


def _run_per_leg(image: NDArray[np.uint8], ensemble: LoadedEnsemble, *, image_name: str, image_id: int | str,
                 pixel_spacing_mm: float | None, anatomical_side: AnatomicalSide | None,
                 dicom: Mapping[str, Any] | None, seed: int) -> EnsembleResult:
    """Localise the legs (and refine their apex and plafond centre), run the members on each leg's normalised
    crop, align there, map back.

    Each crop shows a right leg as a standard AP display shows it (legs that look like left legs are
    mirrored, :mod:`inference.core.leg_crops`). Each leg is aligned on its crop's pruned label map and
    mapped back exactly onto the original pixels (:mod:`inference.core.crop_alignment`), so its angles
    do not depend on the image's size; the label maps are pasted onto the original grid for the
    document. An image without a full-length leg gets no legs and the ``outside_intended_use`` flag.
    """
    if ensemble.localiser is None:
        raise ValueError("a leg_crops ensemble needs its leg localiser")
    height, width = image.shape
    timer = _Timer()
    with timer.stage("leg_localisation"):
        localisation = ensemble.localiser.localise(image, dicom=dicom)
    if ensemble.landmark_refiner is not None:
        with timer.stage("landmark_refinement"):
            localisation = ensemble.landmark_refiner.refine(image, localisation)
    legs = list(localisation.legs)
    flags = list(localisation.flags)
    if anatomical_side is not None and len(legs) == 1 and legs[0].anatomical_side != anatomical_side:
        flags.append(f"anatomical side {anatomical_side} given; the image looked like a {legs[0].anatomical_side} leg")
        legs = [replace(legs[0], anatomical_side=anatomical_side, appearance=anatomical_side)]  # a standard AP view
    if not legs:
        flags.append(OUTSIDE_INTENDED_USE)
    x_mid = None  # two legs: split halfway between their apex-ankle midlines
    if len(legs) == 2:
        x_mid = float(np.mean([x for leg in legs for x in (leg.apex_xy[0], leg.ankle_xy[0])]))
    labels = np.zeros((height, width), dtype=np.uint8)
    prior: list[LegJoints] = []
    posterior: list[LegJoints] = []
    keypoint_results, member_rows = [], []
    measured: list[_MeasuredLeg] = []
    for leg in legs:
        crop = leg_crop_from_landmarks(np.array(leg.apex_xy), np.array(leg.ankle_xy),
                                       mirrored=leg.looks_like == "left")
        with timer.stage("leg_crops"):
            crop_image = clahe(crop.cut(image))
        combined = _combine(crop_image, ensemble, timer, single_leg=True, anatomical_side="right")
        if not combined.posterior:
            flags.append(f"{leg.anatomical_side} leg: no joints found in its crop")
            continue
        columns = (0, width) if x_mid is None else (
            (0, int(np.ceil(x_mid - 0.5))) if leg.image_side == "left" else (int(np.floor(x_mid - 0.5)) + 1, width))
        crop_labels = combined.labels if x_mid is None else crop.labels_on_side(combined.labels, x_mid,
                                                                                 leg.image_side)
        with timer.stage("leg_crops"):
            crop.paste_labels(crop_labels, labels, column_range=columns)
        leg_joints = _with_landmark_ankle(combined.posterior[0], crop.to_crop(np.array(leg.ankle_xy))[0],
                                          ensemble.options.get("ankle_from_landmarks", 0.0))
        for source, target in ((combined.prior[0], prior), (leg_joints, posterior)):
            target.append(_joints_to_original(source, crop, leg.anatomical_side, leg.image_side))
        # The femoral-head apex from the localiser (and refiner), which learnt it from EOS and OAI landmarks: on
        # held-out EOS images 2.3 mm median error against 14 mm for the top of a child's segmented femur.
        measured.append(_MeasuredLeg(posterior[-1], crop, crop_labels, np.array(leg.apex_xy, dtype=np.float64)))
        keypoint_results.append(combined.keypoints)
        member_rows.append({"anatomical_side": leg.anatomical_side, **combined.member_outputs})
        flags.extend(f"{leg.anatomical_side} leg: {flag}" for flag in combined.flags)
    measured.sort(key=lambda item: item.joints.image_side != "left")  # image-left first
    with timer.stage("document"):
        document = labelme_from_leg_crops(measured, image_name=image_name, width=width, height=height)
        records = [LegRecord(group_id=index, image_side=item.joints.image_side,  # type: ignore[arg-type]
                             anatomical_side=item.joints.anatomical_side, crop=item.crop,
                             joint_variance_xy=item.joints.variance_xy) for index, item in enumerate(measured)]
        document[MEASUREMENT_KEY] = _measurement_record(records, ensemble, image_id=image_id, seed=seed,
                                                        x_mid=x_mid).to_json()
    with timer.stage("alignment"):
        alignment = _align_document(document, pixel_spacing_mm)
    member_outputs = {"legs": member_rows, "localisation": localisation.to_json()}
    uncertainty = _uncertainty(keypoint_results, alignment, _flat_member_outputs(member_rows))
    timings = {**timer.timings, "total": round(sum(timer.timings.values()), 4)}
    return EnsembleResult(document, alignment, labels, tuple(prior), tuple(posterior), member_outputs,
                          uncertainty, timings, tuple(dict.fromkeys(flags)))


def _with_landmark_ankle(leg: LegJoints, landmark_ankle_xy: NDArray[np.float64], weight: float) -> LegJoints:
    """``leg`` with its ankle moved ``weight`` of the way to the located plafond centre (ensemble option
    ``ankle_from_landmarks``; 0 keeps the joints' ankle, 1 takes the landmark's)."""
    if not weight:
        return leg
    joints = leg.as_array()
    joints[2] = (1.0 - weight) * joints[2] + weight * np.asarray(landmark_ankle_xy, dtype=np.float64)
    return LegJoints.from_array(joints, image_side=leg.image_side, anatomical_side=leg.anatomical_side,
                                variance_xy=leg.variance_xy)


def _joints_to_original(leg: LegJoints, crop: LegCrop, anatomical_side: AnatomicalSide,
                        image_side: str) -> LegJoints:
    variance = None
    if leg.variance_xy is not None:
        variance = np.asarray(leg.variance_xy, dtype=np.float64) / crop.scale**2
    return LegJoints.from_array(crop.to_original(leg.as_array()), image_side=image_side,  # type: ignore[arg-type]
                                anatomical_side=anatomical_side, variance_xy=variance)


def _flat_member_outputs(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"segmentation": [r for row in rows for r in row["segmentation"]]}


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


@dataclass(frozen=True)
class _MeasuredLeg:
    """One leg of a per-leg result: its joints (original pixels, with sides and variances), crop, crop label map
    and femoral-head apex."""

    joints: LegJoints
    crop: LegCrop
    crop_labels: NDArray[np.uint8]
    apex_xy: NDArray[np.float64]


def labelme_from_leg_crops(legs: Sequence[_MeasuredLeg], *, image_name: str, width: int, height: int,
                           tolerance_px: float = 0.25) -> dict[str, Any]:
    """The LabelMe document of a per-leg result, legs in the given (image-left first) order.

    Each bone's outline is traced on its leg's crop label map, the members' own grid, and mapped to
    original pixels (clipped to the image); tracing the outline on the label map pasted onto a
    12 000-px image took 9 s, on the crop it takes milliseconds. ``tolerance_px`` is in crop pixels.
    Each leg also gets its femoral-head apex as a point (``femoral_head_apex``), where its length starts.
    """
    shapes: list[dict[str, Any]] = []
    for index, leg in enumerate(legs):
        for label, value in (("femur", FEMUR), ("tibia", TIBIA)):
            mask = leg.crop_labels == value
            polygons = mask_to_polygon(mask, tolerance_px=tolerance_px) if mask.any() else []
            if polygons:
                points = leg.crop.to_original(polygons[0])
                points = np.column_stack([np.clip(points[:, 0], 0, width), np.clip(points[:, 1], 0, height)])
                shapes.append(_shape(label, points, "polygon", index))
        for name, point in zip(JOINT_NAMES, leg.joints.as_array(), strict=True):
            shapes.append(_shape(name, point[np.newaxis, :], "point", index))
        shapes.append(_shape(APEX_LABEL, leg.apex_xy.reshape(1, 2), "point", index))
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


def _uncertainty(keypoints: Sequence[KeypointEnsembleResult], alignment: AlignmentResult,
                 members: dict[str, Any]) -> dict[str, float | None]:
    """Review-queue priority inputs: joint spread (px), HKA spread (deg), member disagreement (1 - IOU)."""
    joint_sd = [float(np.sqrt(np.max(leg.joints.variance_xy))) for result in keypoints for leg in result.legs
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
