"""Dataset snapshots: freeze the approved revisions of a view with patient-grouped folds; train or export them."""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from annotations.core.labelme import LabelMeError, parse_document, to_labelme5
from annotations.models import AnnotationRevision, View
from annotations.services import _export_image_bytes
from enllasd_web.exceptions import InvalidInput
from training.core.datasets import TrainingSample, document_has_bones, labelme_sample
from training.core.kfold import FoldAssignment, grouped_kfold
from training.lineage import current_code_version
from training.models import DatasetSnapshot, DatasetSnapshotEntry
from training.selectors import approved_revisions

logger = logging.getLogger(__name__)

MAX_FOLDS = 10


def _trainable(revision: AnnotationRevision) -> str | None:
    """Why ``revision`` cannot be trained on, or None when it can."""
    try:
        document = parse_document(revision.document)
    except LabelMeError as exc:
        return f"invalid LabelMe document: {exc}"
    if not document_has_bones(document):
        return "no femur and tibia outline"
    return None


def dataset_snapshot_create(
    *,
    name: str,
    view: str = View.AP,
    n_folds: int = 4,
    seed: int = 0,
    notes: str = "",
    case_ids: Sequence[int] = (),
    cohort: str | None = None,
    created_before: datetime | None = None,
    created_by: AbstractBaseUser | None = None,
) -> DatasetSnapshot:
    """Freeze the approved revisions of ``view`` (optionally filtered) with a patient-grouped fold assignment.

    Approved revisions without a femur and a tibia outline are left out and listed in
    ``excluded``; the folds come from :func:`training.core.kfold.grouped_kfold` on the patient codes.

    Raises
    ------
    InvalidInput
        Unknown view, ``n_folds`` outside 2..10, or fewer patients than folds.
    """
    if view not in View.values:
        raise InvalidInput(f"Unknown view {view!r}.", {"code": "invalid_view"})
    if not 2 <= n_folds <= MAX_FOLDS:
        raise InvalidInput(f"n_folds must be between 2 and {MAX_FOLDS}.", {"code": "invalid_folds"})
    kept, excluded = [], []
    for revision in approved_revisions(view=view, case_ids=case_ids, cohort=cohort, created_before=created_before):
        reason = _trainable(revision)
        if reason is None:
            kept.append(revision)
        else:
            excluded.append({"image": revision.image_id, "revision": revision.pk, "reason": reason})
    patients = [revision.image.case.patient.code for revision in kept]
    if len(set(patients)) < n_folds:
        raise InvalidInput(
            f"{len(set(patients))} patients with approved revisions cannot fill {n_folds} folds.",
            {"code": "too_few_patients", "images": len(kept), "excluded": len(excluded)},
        )
    folds = grouped_kfold(patients, n_folds=n_folds, seed=seed)
    overrides = _acceptance_overrides([revision.pk for revision in kept])
    snapshot = DatasetSnapshot(
        name=name, view=view, n_folds=n_folds, seed=seed, notes=notes, excluded=excluded,
        filters={"case_ids": list(case_ids), "cohort": cohort,
                 "created_before": created_before.isoformat() if created_before else None},
        code_version=current_code_version(), created_by=created_by,
    )
    snapshot.full_clean()
    with transaction.atomic():
        snapshot.save()
        DatasetSnapshotEntry.objects.bulk_create(
            DatasetSnapshotEntry(snapshot=snapshot, image_id=revision.image_id, revision=revision,
                                 patient_code=patient, fold=int(fold),
                                 acceptance_override=overrides.get(revision.pk, {}))
            for revision, patient, fold in zip(kept, patients, folds.fold_of_image, strict=True)
        )
    logger.info("dataset snapshot %s: %d images, %d excluded", snapshot.pk, len(kept), len(excluded))
    return snapshot


def _acceptance_overrides(revision_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Revision id -> the override of the accept that made it, for predictions accepted despite failed checks."""
    from annotations.models import ReviewAction, ReviewEvent

    events = (ReviewEvent.objects.filter(revision_id__in=list(revision_ids), action=ReviewAction.ACCEPTED)
              .exclude(overridden_checks=[]).select_related("actor"))
    return {event.revision_id: {"reason": event.reason, "checks": list(event.overridden_checks),
                                "by": event.actor.get_username() if event.actor else None,
                                "at": event.created_at.isoformat()}
            for event in events}


def _entries(snapshot: DatasetSnapshot) -> list[DatasetSnapshotEntry]:
    return list(snapshot.entries.select_related("image__case", "revision").order_by("id"))


def snapshot_training_data(*, snapshot: DatasetSnapshot) -> tuple[list[TrainingSample], FoldAssignment]:
    """Training samples of the snapshot's images and frozen revisions, and the snapshot's folds.

    Sample names are ``<image id>-<file stem>`` (unique even when stems repeat across cases); the
    group of each sample is its patient code.

    Raises
    ------
    InvalidInput
        A frozen revision cannot be turned into a sample (the message names the image).
    """
    entries = _entries(snapshot)
    samples = []
    for entry in entries:
        with entry.image.original.open("rb") as handle:
            data = handle.read()
        try:
            samples.append(labelme_sample(
                parse_document(entry.revision.document), data, name=f"{entry.image_id}-{entry.image.stem}",
                group=entry.patient_code, image_name=entry.image.original_name,
            ))
        except (LabelMeError, ValueError) as exc:
            raise InvalidInput(f"Image {entry.image_id} (revision {entry.revision_id}): {exc}",
                               {"code": "untrainable_revision"}) from exc
    folds = FoldAssignment(np.array([entry.fold for entry in entries], dtype=np.int64), snapshot.n_folds, snapshot.seed)
    return samples, folds


def dataset_snapshot_export(*, snapshot: DatasetSnapshot, out: IO[bytes]) -> int:
    """Write the snapshot as a zip to ``out``: LabelMe 5.x JSON + image per entry, and ``snapshot.json``.

    ``snapshot.json`` lists every entry (image, revision, patient code, fold, file names) with the
    snapshot's name, view, seed and code version. Returns the number of images written.
    """
    used: set[str] = set()
    listed: list[dict[str, Any]] = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for entry in _entries(snapshot):
            image_name, image_bytes = _export_image_bytes(entry.image)
            if image_name in used:
                image_name = f"case{entry.image.case_id}_{image_name}"
            used.add(image_name)
            document = to_labelme5(parse_document(entry.revision.document), image_data=None, image_path=image_name)
            json_name = f"{image_name.rsplit('.', 1)[0]}.json"
            bundle.writestr(json_name, json.dumps(document, indent=2))
            bundle.writestr(image_name, image_bytes)
            listed.append({"image": entry.image_id, "revision": entry.revision_id, "patient_code": entry.patient_code,
                           "fold": entry.fold, "json": json_name, "file": image_name,
                           **({"acceptance_override": entry.acceptance_override} if entry.acceptance_override else {})})
        bundle.writestr("snapshot.json", json.dumps({
            "id": snapshot.pk, "name": snapshot.name, "view": snapshot.view, "n_folds": snapshot.n_folds,
            "seed": snapshot.seed, "code_version": snapshot.code_version,
            "created_at": snapshot.created_at.isoformat(), "entries": listed,
        }, indent=2))
    return len(listed)
