"""k-fold ensemble training: members per fold, out-of-fold predictions, nested stackers, evaluation.

For each fold f (grouped by patient, F = 4 by default) every key-point and segmentation member is
trained on the other folds and predicts fold f's images out of fold. The segmentation stackers are
fitted on those out-of-fold votes by the nested F x P scheme (spec §3.3), and the held-out
evaluation gives the Table II rows. The result is an ensemble folder:

    <out_dir>/ensemble.json                 members per fold, stackers (JSON), evaluation, config
    <out_dir>/fold<f>/<member name>/        one artifact folder per member (manifest + sha256)

This module imports torch only through the backends; it never imports Django.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inference.backends.base import MemberSpec
from inference.backends.registry import get_backend
from inference.core.keypoint_ensemble import ensemble_keypoints, fit_member_weights_nnls
from inference.core.legs import LegJoints
from inference.core.metrics import hka_abs_error, normalised_distances, pck
from training.core.datasets import TrainingSample
from training.core.kfold import FoldAssignment, grouped_kfold
from training.core.report import table_ii
from training.core.stacking import evaluate_held_out, fit_nested_stackers_from_counts, image_pattern_counts

logger = logging.getLogger(__name__)

ENSEMBLE_FORMAT = 1


class TrainingCancelled(Exception):
    """Raised by a progress callback to stop a run."""


@dataclass(frozen=True)
class EnsembleTrainingConfig:
    name: str
    segmentation: tuple[MemberSpec, ...]
    keypoint: tuple[MemberSpec, ...]
    n_folds: int = 4
    n_parts: int = 4
    seed: int = 0
    view: str = "AP"


Progress = Callable[[dict[str, Any]], None]


def _member_dir_name(spec: MemberSpec) -> str:
    return f"{spec.kind}-{spec.backend}-{spec.architecture}".replace("/", "_").replace(":", "_")


def train_ensemble(
    samples: Sequence[TrainingSample],
    config: EnsembleTrainingConfig,
    *,
    out_dir: Path,
    device: str = "cpu",
    progress: Progress | None = None,
    folds: FoldAssignment | None = None,
) -> dict[str, Any]:
    """Train every member on every fold, fit the nested stackers and evaluate; return ensemble.json.

    ``progress`` receives dicts with ``stage``, ``fold``, ``member``, ``epoch``, ``epochs``, ``eta_s``
    (and ``loss`` when the member reports it); raising :class:`TrainingCancelled` inside it stops the
    run. ``folds`` (one fold per sample, e.g. a dataset snapshot's) replaces the patient-grouped
    assignment made from ``config.n_folds`` and ``config.seed``.
    """
    if folds is None:
        if len(samples) < config.n_folds:
            raise ValueError(f"{len(samples)} samples cannot make {config.n_folds} folds")
        folds = grouped_kfold([s.group or s.name for s in samples], n_folds=config.n_folds, seed=config.seed)
    elif len(folds.fold_of_image) != len(samples):
        raise ValueError(f"the fold assignment covers {len(folds.fold_of_image)} images, not {len(samples)}")
    n_folds = folds.n_folds
    report = progress or (lambda _event: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    members = [*config.segmentation, *config.keypoint]
    n_steps = n_folds * len(members)
    started = time.monotonic()
    step = 0

    folds_manifest: list[dict[str, Any]] = []
    oof_counts: list[NDArray[np.int64]] = []
    oof_keypoints: list[list[NDArray[np.float64]]] = []  # per fold: (n_images, K_kp) objects
    fold_test_indices: list[list[int]] = []
    for fold in range(n_folds):
        train_idx = folds.train_indices(fold).tolist()
        test_idx = folds.test_indices(fold).tolist()
        fold_test_indices.append(test_idx)
        train_samples = [samples[i] for i in train_idx]
        test_samples = [samples[i] for i in test_idx]
        fold_entry: dict[str, Any] = {"fold": fold, "test": [samples[i].name for i in test_idx],
                                      "segmentation": [], "keypoint": []}
        seg_predictions: list[list[NDArray[np.uint8]]] = []  # per member: per test image
        kp_predictions: list[list[NDArray[np.float64]]] = []
        for spec in members:
            def member_progress(event: dict[str, Any], _fold=fold, _spec=spec, _step=step) -> None:
                fraction = (_step + event.get("epoch", 0) / max(event.get("epochs", 1), 1)) / n_steps
                elapsed = time.monotonic() - started
                eta = elapsed / fraction - elapsed if fraction > 0 else None
                report({"stage": "train", "fold": _fold, "member": _spec.name, **event,
                        "eta_s": None if eta is None else round(eta)})

            directory = out_dir / f"fold{fold}" / _member_dir_name(spec)
            backend = get_backend(spec.backend)
            backend.train(spec, train_samples, out_dir=directory, device=device, progress=member_progress,
                          seed=config.seed + fold)
            model = backend.load(directory, device=device)
            report({"stage": "predict_out_of_fold", "fold": fold, "member": spec.name})
            if spec.kind == "segmentation":
                seg_predictions.append([model.predict(s.image) for s in test_samples])
            else:
                kp_predictions.append([model.predict(s.image).joints_xy for s in test_samples])
            fold_entry[spec.kind].append({"name": spec.name, "path": str(directory.relative_to(out_dir)),
                                          "spec": {"backend": spec.backend, "architecture": spec.architecture,
                                                   "params": spec.params}})
            step += 1
        counts = [
            image_pattern_counts(np.stack([member[i] for member in seg_predictions]), sample.label_map)
            for i, sample in enumerate(test_samples)
        ]
        oof_counts.append(np.stack(counts))
        oof_keypoints.append([[member[i] for member in kp_predictions] for i in range(len(test_samples))])
        folds_manifest.append(fold_entry)

    report({"stage": "stacking"})
    segmentation_names = [spec.architecture for spec in config.segmentation]
    nested = fit_nested_stackers_from_counts(
        oof_counts, model_order=segmentation_names, n_parts=config.n_parts, seed=42, reference_mode=False
    )
    evaluation = evaluate_held_out(nested)
    keypoint_weights = _fit_keypoint_weights(samples, fold_test_indices, oof_keypoints, len(config.keypoint))
    keypoint_eval = _evaluate_keypoints(samples, fold_test_indices, oof_keypoints,
                                        [spec.architecture for spec in config.keypoint], keypoint_weights)
    report({"stage": "evaluate"})
    manifest = {
        "format": ENSEMBLE_FORMAT,
        "name": config.name,
        "view": config.view,
        "seed": config.seed,
        "n_folds": n_folds,
        "n_parts": config.n_parts,
        "segmentation_names": segmentation_names,
        "keypoint_names": [spec.architecture for spec in config.keypoint],
        "keypoint_weights": None if keypoint_weights is None else [round(float(w), 6) for w in keypoint_weights],
        "folds": folds_manifest,
        "stackers": {
            "femur": [[s.to_dict() for s in fold] for fold in nested.femur],
            "tibia": [[s.to_dict() for s in fold] for fold in nested.tibia],
        },
        "evaluation": {
            "segmentation_pooled": {f"{method}/{bone}": list(values)
                                    for (method, bone), values in evaluation.pooled.items()},
            "segmentation_per_image": {f"{method}/{bone}": list(values)
                                       for (method, bone), values in evaluation.per_image.items()},
            "table_ii": table_ii(evaluation.records("front"), member_order=segmentation_names),
            "keypoints": keypoint_eval,
        },
        "train_seconds": round(time.monotonic() - started, 1),
    }
    (out_dir / "ensemble.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _single_leg_oof(samples: Sequence[TrainingSample], fold_test_indices: list[list[int]],
                    oof: list[list[list[NDArray[np.float64]]]], n_members: int
                    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(K, N, 3, 2) out-of-fold joints and (N, 3, 2) truth of every one-leg test image all members found."""
    predictions, truths = [], []
    for fold, indices in enumerate(fold_test_indices):
        for position, index in enumerate(indices):
            truth = [j for j in samples[index].joints_xy if np.all(np.isfinite(j))]
            members = [np.asarray(p, dtype=np.float64).reshape(-1, 3, 2) for p in oof[fold][position]]
            if len(truth) != 1 or len(members) != n_members or any(len(m) != 1 for m in members):
                continue
            predictions.append(np.stack([m[0] for m in members]))
            truths.append(truth[0])
    if not truths:
        return np.empty((n_members, 0, 3, 2)), np.empty((0, 3, 2))
    return np.stack(predictions, axis=1), np.stack(truths)


def _fit_keypoint_weights(samples: Sequence[TrainingSample], fold_test_indices: list[list[int]],
                          oof: list[list[list[NDArray[np.float64]]]], n_members: int
                          ) -> NDArray[np.float64] | None:
    """Eq. 3 member weights (NNLS on the simplex) from the pooled out-of-fold joints of one-leg images.

    None (equal weights at inference) with fewer than two members or fewer than 8 usable images.
    """
    if n_members < 2:
        return None
    predictions, truths = _single_leg_oof(samples, fold_test_indices, oof, n_members)
    if len(truths) < 8:
        return None
    try:
        return fit_member_weights_nnls(predictions, truths)
    except ValueError:
        return None


def _evaluate_keypoints(samples: Sequence[TrainingSample], fold_test_indices: list[list[int]],
                        oof: list[list[list[NDArray[np.float64]]]], names: list[str],
                        weights: NDArray[np.float64] | None = None) -> dict[str, Any]:
    """Held-out NED / PCK / HKA error per member and for the key-point ensemble.

    The weighted ensemble uses weights fitted on all folds' out-of-fold joints, so its figure is
    slightly optimistic (benchmarks/keypoint_members.py reports the fully nested version).
    """
    ned: dict[str, list[float]] = {name: [] for name in [*names, "ensemble"]}
    hka: dict[str, list[float]] = {name: [] for name in [*names, "ensemble"]}
    for fold, indices in enumerate(fold_test_indices):
        for position, index in enumerate(indices):
            sample = samples[index]
            truth_legs = [LegJoints.from_array(j) for j in sample.joints_xy if np.all(np.isfinite(j))]
            if not truth_legs or not names:
                continue
            height, width = sample.image.shape
            predictions = oof[fold][position]
            combined = ensemble_keypoints(predictions, image_width=width, image_height=height, weights=weights)
            candidates = {name: [LegJoints.from_array(leg) for leg in points if np.all(np.isfinite(leg))]
                          for name, points in zip(names, predictions, strict=True)}
            candidates["ensemble"] = list(combined.joints)
            for name, legs in candidates.items():
                for truth in truth_legs:
                    if not legs:
                        continue
                    nearest = min(legs, key=lambda leg: float(np.linalg.norm(leg.as_array() - truth.as_array())))
                    ned[name].extend(normalised_distances(nearest, truth).ned.tolist())
                    hka[name].append(float(hka_abs_error(nearest, truth).abs_error_deg))
    return {
        name: {
            "ned_median": float(np.median(ned[name])) if ned[name] else None,
            "pck": {str(k): v for k, v in pck(ned[name]).items()} if ned[name] else None,
            "hka_abs_error_mean_deg": float(np.mean(hka[name])) if hka[name] else None,
            "hka_abs_error_median_deg": float(np.median(hka[name])) if hka[name] else None,
            "n_legs": len(hka[name]),
        }
        for name in ned
    }
