"""Executing a SAM tuning run (worker side): tune the bone decoder on the snapshot's training folds, export it,
evaluate it and the active weights on the held-out fold, register the candidate.

Called by :func:`training.tasks.sam_tuning_run_execute`; :mod:`training.sam_tuning` validates and queues the runs
(its docstring tells the whole recipe).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from annotations.core.labelme import LabelMeError
from enllasd_web.exceptions import InvalidInput
from inference.models import ModelKind, ModelVersion
from inference.sam.approved_bones import bone_sample
from inference.sam.registry import LITEMEDSAM_BONE, BoneWeights
from inference.sam.tuning_data import BoneSample
from training.lineage import current_code_version
from training.models import SAM_TUNING_CONFIG, DatasetSnapshot, RunStatus, TrainingRun
from training.runs import training_run_outcome
from training.selectors import snapshot_entries

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "litemedsam_bone.pt"


def snapshot_bone_samples(*, snapshot: DatasetSnapshot, holdout_fold: int) -> tuple[list[BoneSample], list[BoneSample]]:
    """The snapshot's images as SAM tuning samples: (training folds, held-out fold).

    Pixels are what the SAM worker embeds (:func:`inference.predictions.image_pixels`) and ``sha256`` is
    ``Image.sha256``, so embeddings cached by the app are reused. Sample keys are
    ``<image id>-<file stem>``, groups are patient codes.

    Raises
    ------
    InvalidInput
        A frozen revision cannot be turned into a sample (the message names the image).
    """
    from inference.predictions import image_pixels

    train, heldout = [], []
    for entry in snapshot_entries(snapshot):
        pixels, _ = image_pixels(entry.image)
        try:
            sample = bone_sample(entry.revision.document, pixels, sha256=entry.image.sha256,
                                 key=f"{entry.image_id}-{entry.image.stem}", group=entry.patient_code)
        except (LabelMeError, ValueError) as exc:
            raise InvalidInput(f"Image {entry.image_id} (revision {entry.revision_id}): {exc}",
                               {"code": "no_bone_outlines"}) from exc
        (heldout if entry.fold == holdout_fold else train).append(sample)
    return train, heldout


def run_directory(run: TrainingRun) -> Path:
    """``MODEL_STORE/sam/<run id>``: the candidate weights and, in ``train/``, the checkpoint."""
    return Path(settings.MODEL_STORE) / "sam" / str(run.pk)


class _Cancelled(Exception):
    pass


@dataclass
class _Reporter:
    """Writes progress, log lines and the loss curve to the run's row as the worker goes."""

    run: TrainingRun
    started: float
    log_lines: list[str]
    loss_history: list[dict[str, Any]]

    def cancelled(self) -> bool:
        return TrainingRun.objects.filter(pk=self.run.pk, status=RunStatus.CANCELLED).exists()

    def update(self, progress: dict[str, Any], line: str | None = None) -> None:
        if line:
            self.log_lines.append(line)
        progress = {**progress, "elapsed_s": round(time.monotonic() - self.started, 1)}
        TrainingRun.objects.filter(pk=self.run.pk).exclude(status=RunStatus.CANCELLED).update(
            progress=progress, log="\n".join(self.log_lines[-500:]), loss_history=self.loss_history)

    def log(self, line: str, progress: dict[str, Any]) -> None:
        self.update(progress, line)

    def embedded(self, done: int, total: int) -> None:
        elapsed = time.monotonic() - self.started
        self.update({"stage": "embed", "images": f"{done}/{total}",
                     "eta_s": round(elapsed / done * (total - done), 1)})

    def epoch_done(self, row: dict[str, float], *, fold: int, trained_since: float, first_epoch: list[int]) -> None:
        """``train_decoder``'s finished epoch ``{"epoch" (0-based), "loss", "seconds", "epochs"}``."""
        epoch, epochs, loss = int(row["epoch"]) + 1, int(row["epochs"]), _finite(float(row["loss"]))
        if not first_epoch:
            first_epoch.append(epoch)
        done_here = epoch - first_epoch[0] + 1
        eta = (time.monotonic() - trained_since) / done_here * (epochs - epoch)
        self.loss_history[:] = [row for row in self.loss_history if row["epoch"] != epoch]
        self.loss_history.append({"fold": fold, "member": SAM_TUNING_CONFIG, "epoch": epoch, "loss": loss})
        self.update({"stage": "train", "fold": fold, "member": SAM_TUNING_CONFIG, "epoch": epoch, "epochs": epochs,
                     "loss": loss, "eta_s": round(eta, 1)})


def _finite(value: float) -> float | None:
    """``value`` rounded for the run's JSON, ``None`` for NaN or infinity (which JSON cannot hold)."""
    return round(value, 6) if math.isfinite(value) else None


def _nested(summary: dict[str, dict[str, float]]) -> dict[str, dict[str, dict[str, float]]]:
    """``{"femur/box": stats}`` -> ``{"femur": {"box": stats}}`` (n, mean, median, p10, p90)."""
    nested: dict[str, dict[str, dict[str, float]]] = {}
    for key, stats in summary.items():
        bone, prompt = key.split("/", 1)
        nested.setdefault(bone, {})[prompt] = {name: round(value, 4) if isinstance(value, float) else value
                                               for name, value in stats.items()}
    return nested


def sam_tuning_run_execute(*, run: TrainingRun) -> TrainingRun:
    """Tune, export and evaluate the run's candidate (worker side); resumes a run a killed worker left.

    Raises
    ------
    Exception
        Whatever failed; the run is then marked failed with the error and its traceback
        (:func:`training.runs.training_run_outcome`).
    """
    import torch

    from inference.sam import registry
    from inference.sam.tuning import TuneConfig, embed_samples, evaluate, export_tuned, train_decoder

    if run.status in {RunStatus.CANCELLED, RunStatus.SUCCEEDED, RunStatus.FAILED}:
        return run
    resumed = run.status == RunStatus.RUNNING  # a redelivered task: the checkpoint tells where it stopped
    log_lines = (run.log.splitlines() if resumed else []) + [
        "resumed by a redelivered task" if resumed else f"started on {current_code_version()}"]
    reporter = _Reporter(run=run, started=time.monotonic(), log_lines=log_lines,
                         loss_history=list(run.loss_history) if resumed else [])
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, code_version=current_code_version(),
                                                 error="")
    reporter.update({"stage": "loading data"})
    fold = int(run.config["holdout_fold"])
    out_dir = run_directory(run)
    with training_run_outcome(run=run, cancelled_by=_Cancelled) as outcome:
        train, heldout = snapshot_bone_samples(snapshot=run.dataset_snapshot, holdout_fold=fold)
        active = registry.get_segmenter(LITEMEDSAM_BONE)
        init = run.config.get("init_weights")
        if init is None:  # the first execution records where tuning starts; a resumed one keeps it
            init = registry.active_bone_weights().as_dict()
            run.config = {**run.config, "init_weights": init}
            TrainingRun.objects.filter(pk=run.pk).update(config=run.config)
        embeddings = embed_samples([*train, *heldout], active, registry.embedding_cache(),
                                   progress=lambda line: reporter.log(line, {"stage": "embed"}),
                                   on_embedded=reporter.embedded)
        candidate = registry.load_bone_segmenter(_weights_from(init))
        if reporter.cancelled():
            raise _Cancelled
        trained_since, first_epoch = time.monotonic(), []
        history = train_decoder(
            candidate, train, embeddings, config=TuneConfig(**run.config["tune"]), run_dir=out_dir / "train",
            fold=fold, should_stop=reporter.cancelled,
            progress=lambda line: reporter.log(line, {"stage": "train", "fold": fold, "member": SAM_TUNING_CONFIG}),
            on_epoch=lambda row: reporter.epoch_done(row, fold=fold, trained_since=trained_since,
                                                     first_epoch=first_epoch))
        if reporter.cancelled():
            raise _Cancelled
        reporter.loss_history[:] = [{"fold": fold, "member": SAM_TUNING_CONFIG, "epoch": int(row["epoch"]) + 1,
                                     "loss": _finite(float(row["loss"]))} for row in history]
        reporter.update({"stage": "export"}, f"trained {len(history)} epochs")
        weights_path = out_dir / WEIGHTS_NAME
        digest = export_tuned(candidate, weights_path, meta={
            "training_run": str(run.pk), "dataset_snapshot": run.dataset_snapshot_id, "holdout_fold": fold,
            "tune": run.config["tune"], "init_sha256": init["sha256"], "code_version": current_code_version()})
        reporter.update({"stage": "evaluate"}, f"exported {weights_path.name} (sha256 {digest})")
        with torch.inference_mode():
            candidate_result = evaluate(candidate, heldout, embeddings)
            active = registry.get_segmenter(LITEMEDSAM_BONE)  # what a promotion would replace now
            active_weights = registry.active_bone_weights().as_dict()
            active_result = evaluate(active, heldout, embeddings)
        metrics = {"sam": {
            "holdout_fold": fold, "train_images": len(train), "heldout_images": len(heldout),
            "heldout": [sample.key for sample in heldout],
            "train_legs": sum(len(s.masks) for s in train), "heldout_legs": sum(len(s.masks) for s in heldout),
            "candidate": {"weights": {"path": str(weights_path.relative_to(Path(settings.MODEL_STORE))),
                                      "sha256": digest}, "iou": _nested(candidate_result["summary"])},
            "active": {"weights": active_weights, "iou": _nested(active_result["summary"])},
            "init_weights": init,
        }}
        version = _register(run, metrics, weights_path, digest, fold)
    if outcome.cancelled:
        run.refresh_from_db()
        return run
    reporter.update({"stage": "done", "model_version": version.pk}, f"candidate model version {version.pk}")
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, metrics=metrics,
                                                 finished_at=timezone.now())
    logger.info("SAM tuning run %s: candidate model version %s (sha256 %s)", run.pk, version.pk, digest)
    run.refresh_from_db()
    return run


def _weights_from(recorded: dict[str, Any]) -> BoneWeights:
    """The :class:`BoneWeights` an ``as_dict()`` record names (the shipped file, or a tuned one in MODEL_STORE)."""
    from inference.sam.registry import BONE_WEIGHTS

    if recorded["model_version"] is None:
        return BoneWeights(path=BONE_WEIGHTS, sha256=recorded["sha256"])
    return BoneWeights(path=Path(settings.MODEL_STORE) / recorded["path"], sha256=recorded["sha256"],
                       model_version=recorded["model_version"], training_run=recorded["training_run"])


def _register(run: TrainingRun, metrics: dict[str, Any], weights_path: Path, digest: str, fold: int) -> ModelVersion:
    """The candidate as a ``promptable`` ModelVersion (one per run: a re-execution finds the same row)."""
    relative = str(weights_path.relative_to(Path(settings.MODEL_STORE)))
    version, _ = ModelVersion.objects.update_or_create(
        training_run=run, kind=ModelKind.PROMPTABLE,
        defaults={"architecture": LITEMEDSAM_BONE, "backend": LITEMEDSAM_BONE, "view": run.dataset_snapshot.view,
                  "fold": fold, "artifact_path": relative, "sha256": digest,
                  "config": {"tune": run.config["tune"], "init_weights": run.config.get("init_weights")},
                  "metrics": metrics["sam"]},
    )
    return version
