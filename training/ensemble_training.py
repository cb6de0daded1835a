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


def member_dir_name(spec: MemberSpec) -> str:
    """The artifact folder name of a member inside its fold's folder."""
    return f"{spec.kind}-{spec.backend}-{spec.architecture}".replace("/", "_").replace(":", "_")


@dataclass
class MemberOutcome:
    """One member trained on the other folds, with its predictions of fold ``fold``'s test images."""

    fold: int
    index: int  # position in config.segmentation + config.keypoint
    manifest: dict[str, Any]
    predictions: list[NDArray[Any]]  # per test image: (H, W) labels or (legs, 3, 2) joints


@dataclass
class FoldOutcome:
    """What one fold contributes to the ensemble: its manifest entry and its out-of-fold predictions."""

    fold: int
    test_indices: list[int]
    manifest: dict[str, Any]
    pattern_counts: NDArray[np.int64]  # (n_test, ...) segmentation vote patterns per test image
    keypoints: list[list[NDArray[np.float64]]]  # per test image: one (legs, 3, 2) array per key-point member


def resolve_folds(samples: Sequence[TrainingSample], config: EnsembleTrainingConfig,
                  folds: FoldAssignment | None) -> FoldAssignment:
    """``folds`` checked against ``samples``, or the patient-grouped assignment of ``config``."""
    if folds is None:
        if len(samples) < config.n_folds:
            raise ValueError(f"{len(samples)} samples cannot make {config.n_folds} folds")
        return grouped_kfold([s.group or s.name for s in samples], n_folds=config.n_folds, seed=config.seed)
    if len(folds.fold_of_image) != len(samples):
        raise ValueError(f"the fold assignment covers {len(folds.fold_of_image)} images, not {len(samples)}")
    return folds


def train_member(
    samples: Sequence[TrainingSample],
    config: EnsembleTrainingConfig,
    folds: FoldAssignment,
    fold: int,
    index: int,
    *,
    out_dir: Path,
    device: str = "cpu",
    progress: Progress | None = None,
) -> MemberOutcome:
    """Train member ``index`` of ``config`` on the folds other than ``fold`` and predict ``fold`` out of fold.

    ``progress`` receives ``stage``, ``fold``, ``member``, ``member_index`` and the member's own epoch
    events (``epoch``, ``epochs``, ``loss`` ...).
    """
    report = progress or (lambda _event: None)
    spec = [*config.segmentation, *config.keypoint][index]
    test_samples = [samples[i] for i in folds.test_indices(fold).tolist()]
    train_samples = [samples[i] for i in folds.train_indices(fold).tolist()]

    def member_progress(event: dict[str, Any]) -> None:
        report({"stage": "train", "fold": fold, "member": spec.name, "member_index": index, **event})

    directory = out_dir / f"fold{fold}" / member_dir_name(spec)
    backend = get_backend(spec.backend)
    if (directory / "manifest.json").is_file():  # trained before the run was stopped: resume after it
        report({"stage": "resume", "fold": fold, "member": spec.name, "member_index": index})
    else:
        backend.train(spec, train_samples, out_dir=directory, device=device, progress=member_progress,
                      seed=config.seed + fold)
    model = backend.load(directory, device=device)
    report({"stage": "predict_out_of_fold", "fold": fold, "member": spec.name, "member_index": index})
    if spec.kind == "segmentation":
        predictions = [model.predict(s.image) for s in test_samples]
    else:
        predictions = [model.predict(s.image).joints_xy for s in test_samples]
    manifest = {"name": spec.name, "path": str(directory.relative_to(out_dir)),
                "spec": {"backend": spec.backend, "architecture": spec.architecture, "params": spec.params}}
    return MemberOutcome(fold=fold, index=index, manifest=manifest, predictions=predictions)


def fold_outcome(samples: Sequence[TrainingSample], config: EnsembleTrainingConfig, folds: FoldAssignment,
                 fold: int, members: Sequence[MemberOutcome]) -> FoldOutcome:
    """Combine fold ``fold``'s member outcomes (any order) into its vote patterns and joints."""
    ordered = sorted(members, key=lambda m: m.index)
    n_seg = len(config.segmentation)
    test_idx = folds.test_indices(fold).tolist()
    counts = [image_pattern_counts(np.stack([m.predictions[i] for m in ordered[:n_seg]]), samples[index].label_map)
              for i, index in enumerate(test_idx)]
    keypoints = [[m.predictions[i] for m in ordered[n_seg:]] for i in range(len(test_idx))]
    manifest = {"fold": fold, "test": [samples[i].name for i in test_idx],
                "segmentation": [m.manifest for m in ordered[:n_seg]],
                "keypoint": [m.manifest for m in ordered[n_seg:]]}
    return FoldOutcome(fold=fold, test_indices=test_idx, manifest=manifest, pattern_counts=np.stack(counts),
                       keypoints=keypoints)


def train_ensemble(
    samples: Sequence[TrainingSample],
    config: EnsembleTrainingConfig,
    *,
    out_dir: Path,
    device: str = "cpu",
    progress: Progress | None = None,
    folds: FoldAssignment | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Train every member on every fold, fit the nested stackers and evaluate; return ensemble.json.

    ``progress`` receives dicts with ``stage``, ``fold``, ``member``, ``epoch``, ``epochs``, ``eta_s``
    (and ``loss`` when the member reports it); raising :class:`TrainingCancelled` inside it stops the
    run. ``folds`` (one fold per sample, e.g. a dataset snapshot's) replaces the patient-grouped
    assignment made from ``config.n_folds`` and ``config.seed``. ``workers`` > 1 trains that many
    (fold, member) pairs at once in separate processes (a GPU host has the memory and cores for it);
    the folds, members and artifacts are the same as with one (the weights differ only by the
    run-to-run noise of training).
    """
    folds = resolve_folds(samples, config, folds)
    report = progress or (lambda _event: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tasks = [(fold, index) for fold in range(folds.n_folds)
             for index in range(len(config.segmentation) + len(config.keypoint))]
    done: dict[tuple[int, int], float] = {}  # (fold, member) -> fraction of its epochs done

    def forward(event: dict[str, Any]) -> None:
        if event.get("stage") == "train":
            done[event["fold"], event["member_index"]] = event.get("epoch", 0) / max(event.get("epochs", 1), 1)
            fraction = sum(done.values()) / len(tasks)
            elapsed = time.monotonic() - started
            event = {**event, "eta_s": round(elapsed / fraction - elapsed) if fraction > 0 else None}
        report({k: v for k, v in event.items() if k != "member_index"})

    # A fold's member predictions (full label maps) are reduced to vote counts as soon as the fold is
    # complete, so memory holds at most the folds in progress, not every prediction of the run.
    n_members = len(config.segmentation) + len(config.keypoint)
    waiting: dict[int, list[MemberOutcome]] = {}
    outcomes: list[FoldOutcome] = []

    def collect(member: MemberOutcome) -> None:
        waiting.setdefault(member.fold, []).append(member)
        if len(waiting[member.fold]) == n_members:
            outcomes.append(fold_outcome(samples, config, folds, member.fold, waiting.pop(member.fold)))

    if workers > 1 and len(tasks) > 1:
        _train_members_in_processes(samples, config, folds, tasks, out_dir=out_dir, device=device,
                                    progress=forward, workers=workers, collect=collect)
    else:
        for fold, index in tasks:
            collect(train_member(samples, config, folds, fold, index, out_dir=out_dir, device=device,
                                 progress=forward))
    manifest = assemble_ensemble(samples, config, outcomes, progress=report)
    manifest["train_seconds"] = round(time.monotonic() - started, 1)
    (out_dir / "ensemble.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _member_worker(samples: Sequence[TrainingSample], config: EnsembleTrainingConfig, folds: FoldAssignment,
                   task: tuple[int, int], out_dir: Path, device: str, events: Any, threads: int) -> MemberOutcome:
    import torch

    torch.set_num_threads(threads)
    return train_member(samples, config, folds, *task, out_dir=out_dir, device=device, progress=events.put)


def _train_members_in_processes(samples: Sequence[TrainingSample], config: EnsembleTrainingConfig,
                                folds: FoldAssignment, tasks: list[tuple[int, int]], *, out_dir: Path,
                                device: str, progress: Progress, workers: int,
                                collect: Callable[[MemberOutcome], None]) -> None:
    """(fold, member) tasks in ``workers`` spawned processes; their events are relayed to ``progress``
    and each finished task's outcome to ``collect``, here.

    The slowest tasks (key-point members) are submitted first. A :class:`TrainingCancelled` (or any
    error) raised by ``progress`` or a task stops every process.
    """
    import multiprocessing
    import os
    import queue
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")
    workers = min(workers, len(tasks))
    threads = max(1, (os.cpu_count() or 1) // workers)
    n_seg = len(config.segmentation)
    ordered = sorted(tasks, key=lambda task: (task[1] < n_seg, task))  # key-point members first

    def relay(events: Any) -> None:
        while True:
            try:
                progress(events.get_nowait())
            except queue.Empty:
                return

    with context.Manager() as manager:
        events = manager.Queue()
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        try:
            futures = [pool.submit(_member_worker, samples, config, folds, task, out_dir, device, events, threads)
                       for task in ordered]
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                relay(events)
                for future in finished:
                    collect(future.result())  # re-raises a task's error here
            relay(events)  # events sent after the last poll
        except BaseException:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def assemble_ensemble(samples: Sequence[TrainingSample], config: EnsembleTrainingConfig,
                      outcomes: Sequence[FoldOutcome], *, progress: Progress | None = None) -> dict[str, Any]:
    """Fit the nested stackers and the key-point weights on the folds' out-of-fold predictions; evaluate.

    Returns the ensemble manifest (ensemble.json without ``train_seconds``).
    """
    report = progress or (lambda _event: None)
    outcomes = sorted(outcomes, key=lambda o: o.fold)
    fold_test_indices = [o.test_indices for o in outcomes]
    oof_keypoints = [o.keypoints for o in outcomes]
    report({"stage": "stacking"})
    segmentation_names = [spec.architecture for spec in config.segmentation]
    nested = fit_nested_stackers_from_counts(
        [o.pattern_counts for o in outcomes], model_order=segmentation_names, n_parts=config.n_parts, seed=42,
        reference_mode=False, threshold="iou",
    )
    evaluation = evaluate_held_out(nested)
    keypoint_weights = _fit_keypoint_weights(samples, fold_test_indices, oof_keypoints, len(config.keypoint))
    keypoint_eval = _evaluate_keypoints(samples, fold_test_indices, oof_keypoints,
                                        [spec.architecture for spec in config.keypoint], keypoint_weights)
    report({"stage": "evaluate"})
    return {
        "format": ENSEMBLE_FORMAT,
        "name": config.name,
        "view": config.view,
        "seed": config.seed,
        "n_folds": len(outcomes),
        "n_parts": config.n_parts,
        "segmentation_names": segmentation_names,
        "keypoint_names": [spec.architecture for spec in config.keypoint],
        "keypoint_weights": None if keypoint_weights is None else [round(float(w), 6) for w in keypoint_weights],
        "folds": [o.manifest for o in outcomes],
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
    }


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
