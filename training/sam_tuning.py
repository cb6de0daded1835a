"""Re-tuning the SAM bone model (``litemedsam_bone``) from a dataset snapshot of approved outlines.

A SAM tuning run is a :class:`~training.models.TrainingRun` with ``config_name`` :data:`SAM_TUNING_CONFIG`
(one run page, one lineage with the ensemble runs: ModelVersion -> TrainingRun -> DatasetSnapshot).
The snapshot's fold :func:`holdout fold <default_holdout_fold>` (its highest fold unless another is
chosen) is held out; the decoder is tuned on the other folds' images, **starting from the active bone
weights**, then the candidate and the active weights are both evaluated on the held-out images (IoU
per bone and prompt type, :func:`inference.sam.tuning.evaluate`). The candidate becomes a
``promptable`` :class:`~inference.models.ModelVersion` (``MODEL_STORE/sam/<run id>/litemedsam_bone.pt``
+ sha256) that :mod:`training.sam_promotions` can make active.

The web process only validates and queues (:func:`sam_tuning_run_create`);
:func:`training.sam_tuning_runs.sam_tuning_run_execute` runs on the ``training`` queue. It is resumable: embeddings are cached per image in
``MEDIA_ROOT/sam_embeddings`` (the app's cache, the encoder does not change), training checkpoints after
every epoch in ``MODEL_STORE/sam/<run id>/train/``, so a task redelivered after a killed worker goes on
after the last finished epoch.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from enllasd_web.exceptions import InvalidInput
from inference.models import ModelKind, ModelVersion
from inference.sam.approved_bones import bone_legs
from inference.sam.tuning_prompts import CLICK_STAGE
from training.models import SAM_TUNING_CONFIG, DatasetSnapshot, DatasetSnapshotEntry, TrainingRun
from training.selectors import snapshot_entries
from training.services import training_run_save_and_queue

__all__ = ["MAX_EPOCHS", "SAM_TUNING_CONFIG", "TUNE_DEFAULTS", "default_holdout_fold", "sam_tuning_candidate",
           "sam_tuning_run_create"]

TUNE_DEFAULTS: dict[str, Any] = {**CLICK_STAGE, "kind_weights": list(CLICK_STAGE["kind_weights"]), "batch_size": 8}
"""The fine-tuning recipe: the shipped model's second stage (docs/sam.md), from the active weights."""
MAX_EPOCHS = 100
MIN_TRAIN_IMAGES = 2


def default_holdout_fold(snapshot: DatasetSnapshot) -> int:
    """The fold held out when none is chosen: the snapshot's highest."""
    return snapshot.n_folds - 1


def _check_entries(entries: list[DatasetSnapshotEntry], holdout_fold: int) -> dict[str, int]:
    """Image and leg counts per part; every entry must give femur/tibia legs.

    Raises
    ------
    InvalidInput
        An entry without usable femur/tibia outlines, too few training or held-out images.
    """
    problems = []
    legs: Counter[str] = Counter()
    for entry in entries:
        part = "heldout" if entry.fold == holdout_fold else "train"
        try:
            legs[part] += len(bone_legs(entry.revision.document))
        except ValueError as exc:  # LabelMeError is one
            problems.append({"image": entry.image_id, "revision": entry.revision_id, "reason": str(exc)})
    if problems:
        first = problems[0]
        raise InvalidInput(f"{len(problems)} image(s) of the snapshot have no usable femur/tibia outlines "
                           f"(image {first['image']}: {first['reason']}).",
                           {"code": "no_bone_outlines", "images": problems[:50]})
    counts = Counter("heldout" if entry.fold == holdout_fold else "train" for entry in entries)
    if counts["heldout"] < 1:
        raise InvalidInput(f"Fold {holdout_fold} of the snapshot holds no image to evaluate on.",
                           {"code": "empty_holdout_fold", "holdout_fold": holdout_fold})
    if counts["train"] < MIN_TRAIN_IMAGES:
        raise InvalidInput(f"Only {counts['train']} image(s) outside the held-out fold {holdout_fold}; tuning "
                           f"needs at least {MIN_TRAIN_IMAGES}.", {"code": "too_few_images",
                                                                    "train_images": counts["train"]})
    return {"train_images": counts["train"], "heldout_images": counts["heldout"], "train_legs": legs["train"],
            "heldout_legs": legs["heldout"]}


def sam_tuning_run_create(
    *,
    dataset_snapshot: DatasetSnapshot,
    epochs: int | None = None,
    holdout_fold: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    examples_per_image: int | None = None,
    seed: int = 0,
    started_by: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> TrainingRun:
    """Record a SAM tuning run on ``dataset_snapshot`` and (by default) queue it on the ``training`` queue.

    Options left ``None`` take :data:`TUNE_DEFAULTS`; ``holdout_fold`` defaults to
    :func:`default_holdout_fold`.

    Raises
    ------
    InvalidInput
        Options out of range, a held-out fold the snapshot does not have or that is empty, fewer than
        :data:`MIN_TRAIN_IMAGES` training images, an image without usable femur/tibia outlines.
    """
    fold = default_holdout_fold(dataset_snapshot) if holdout_fold is None else holdout_fold
    if not 0 <= fold < dataset_snapshot.n_folds:
        raise InvalidInput(f"holdout_fold must be between 0 and {dataset_snapshot.n_folds - 1} "
                           f"(the snapshot has {dataset_snapshot.n_folds} folds).", {"code": "invalid_holdout_fold"})
    tune = {**TUNE_DEFAULTS, **{key: value for key, value in {
        "epochs": epochs, "lr": lr, "batch_size": batch_size, "examples_per_image": examples_per_image,
    }.items() if value is not None}, "seed": seed}
    limits = {"epochs": (1, MAX_EPOCHS), "batch_size": (1, 64), "examples_per_image": (1, 32)}
    for key, (low, high) in limits.items():
        if not low <= int(tune[key]) <= high or int(tune[key]) != tune[key]:
            raise InvalidInput(f"{key} must be an integer between {low} and {high}.", {"code": f"invalid_{key}"})
    if not 0 < float(tune["lr"]) <= 0.01:
        raise InvalidInput("lr must be in (0, 0.01].", {"code": "invalid_lr"})
    counts = _check_entries(snapshot_entries(dataset_snapshot), fold)
    run = TrainingRun(config_name=SAM_TUNING_CONFIG, config={"holdout_fold": fold, "tune": tune, **counts},
                      seed=seed, dataset_snapshot=dataset_snapshot, started_by=started_by)
    return training_run_save_and_queue(run=run, task_name="sam_tuning_run_execute", enqueue=enqueue)


def sam_tuning_candidate(run: TrainingRun) -> ModelVersion | None:
    """The tuned decoder a finished SAM tuning run registered (None before it finished)."""
    return ModelVersion.objects.filter(training_run=run, kind=ModelKind.PROMPTABLE).first()
