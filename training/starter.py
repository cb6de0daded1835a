"""The starter ensemble shipped in the repository: its training data and its training, in one place.

Data (``../shared/data``, never copied into the repository):

* the 242 OAI long-leg crops (femur/tibia outlines, joints derived from them), already in the
  members' per-leg geometry (:mod:`inference.core.leg_crops`);
* phantom legs of both kinds (single-leg and bilateral images) cut into that geometry with their
  exact truth (:mod:`training.core.leg_samples`).

The members are trained by the ``starter`` config (2 patient-grouped folds, two segmentation and two
key-point members, nested 2 x 2 stackers); a stopped run resumes after the last member it finished.
``python manage.py build_starter`` runs this, the leg localiser and the landmark refiner, and packages the
result.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from training.core.datasets import TrainingSample, load_labelme_folder
from training.core.leg_samples import phantom_leg_samples

logger = logging.getLogger(__name__)

OAI_FOLDER = "oai-longleg-seg"
EOS_FOLDER = "eos-pediatric"
#: Phantom seeds of the starter's training legs (disjoint from the demo's and the tests' seeds).
SINGLE_LEG_SEEDS = range(5000, 5024)
BILATERAL_SEEDS = range(6000, 6012)


def starter_samples(shared_data: Path) -> list[TrainingSample]:
    """OAI crops followed by the phantom legs, in the members' per-leg geometry."""
    oai = shared_data / OAI_FOLDER
    if not oai.is_dir():
        raise FileNotFoundError(f"{oai} is missing: the starter is trained on ../shared/data (see its README)")
    samples = load_labelme_folder(oai, group_pattern=r"^([^_]+)")
    samples += phantom_leg_samples(SINGLE_LEG_SEEDS, legs=1)
    samples += phantom_leg_samples(BILATERAL_SEEDS, legs=2)
    return samples


#: The starter's model card (beside the weights; not in SHA256SUMS, which lists the artifacts).
MODEL_CARD = "MODEL_CARD.md"

#: OAI patients held out of the starter's members (fold 0 of 10, patient-grouped): its held-out figures.
HELD_OUT_OAI_FOLDS, HELD_OUT_OAI_FOLD = 10, 0


def held_out_oai_names(samples: list[TrainingSample]) -> set[str]:
    """Names of the OAI crops the starter's members never train on (about a tenth, whole patients)."""
    from training.core.kfold import grouped_kfold

    oai = [s for s in samples if not s.name.startswith("phantom")]
    folds = grouped_kfold([s.group for s in oai], n_folds=HELD_OUT_OAI_FOLDS, seed=0)
    return {oai[i].name for i in folds.test_indices(HELD_OUT_OAI_FOLD)}


def train_starter_members(shared_data: Path, out_dir: Path, *, progress: Any = None) -> dict[str, Any]:
    """Train (or resume) the starter's members on all data but the held-out OAI patients; return ensemble.json.

    One member per kind, refitted on everything the starter learns from (2-fold out-of-fold training
    of four light members was measured first and was worse: docs/accuracy.md); the stacker of a single
    member is the identity (bone where the member says bone).
    """
    import json

    from inference.backends.registry import get_backend
    from training.configs import ensemble_config
    from training.ensemble_training import member_dir_name

    config = ensemble_config("starter")
    samples = starter_samples(shared_data)
    held_out = held_out_oai_names(samples)
    train = [s for s in samples if s.name not in held_out]
    logger.info("starter: %d training samples, %d OAI crops held out", len(train), len(held_out))
    report = progress or (lambda _event: None)
    members: dict[str, list[dict[str, Any]]] = {"segmentation": [], "keypoint": []}
    for spec in (*config.segmentation, *config.keypoint):
        directory = out_dir / "fold0" / member_dir_name(spec)
        if (directory / "manifest.json").is_file():
            report({"stage": "resume", "member": spec.name})
        else:
            get_backend(spec.backend).train(spec, train, out_dir=directory, device="cpu", seed=config.seed,
                                            progress=lambda e, name=spec.name: report({"stage": "train", "member": name, **e}))
        members[spec.kind].append({"name": spec.name, "path": str(directory.relative_to(out_dir)),
                                   "spec": {"backend": spec.backend, "architecture": spec.architecture,
                                            "params": spec.params}})
    names = [spec.architecture for spec in config.segmentation]
    manifest = {
        "format": 1, "name": config.name, "view": config.view, "seed": config.seed, "n_folds": 1, "n_parts": 1,
        "segmentation_names": names, "keypoint_names": [spec.architecture for spec in config.keypoint],
        "keypoint_weights": None,
        # Joints from the bone masks: on the held-out OAI crops |HKA error| 1.15 deg mean against 2.34 deg
        # for the key-point member alone (docs/accuracy.md).
        "inference_options": {"joints_from_masks": True},
        "folds": [{"fold": 0, "test": sorted(held_out), **members}],
        "stackers": {bone: [[_identity_stacker(bone, names)]] for bone in ("femur", "tibia")},
        "evaluation": {"held_out_oai": sorted(held_out), "training_samples": len(train)},
    }
    (out_dir / "ensemble.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _identity_stacker(bone: str, names: list[str]) -> dict[str, Any]:
    """The stacker of one member: a pixel is the bone exactly when the member says so."""
    from training.core.stacking import Stacker

    if len(names) != 1:
        raise ValueError("the identity stacker is for a single segmentation member")
    return Stacker(bone=bone, model_order=tuple(names), coefficients=(10.0,), intercept=-5.0).to_dict()


def eos_folds(shared_data: Path, *, n_folds: int = 4) -> tuple[list[str], Any]:
    """EOS image ids and their patient-grouped folds (each image is its own patient in the source)."""
    from training.core.kfold import grouped_kfold
    from training.core.leg_samples import eos_leg_truths

    ids = [row[0] for row in eos_leg_truths(shared_data / EOS_FOLDER)]
    return ids, grouped_kfold(ids, n_folds=n_folds, seed=0)


def _eos_training_ids(shared_data: Path, held_out_fold: int | None) -> list[str]:
    """EOS image ids to train on: all, or all but those of ``held_out_fold``."""
    ids, folds = eos_folds(shared_data)
    return ids if held_out_fold is None else [ids[i] for i in folds.train_indices(held_out_fold)]


def train_localiser(shared_data: Path, out_dir: Path, *, held_out_fold: int | None = None, epochs: int = 12,
                    progress: Any = None) -> Path:
    """Train (or resume) the leg localiser; with ``held_out_fold`` that EOS fold is left out for evaluation."""
    from inference.backends import leg_localiser
    from training.core.leg_samples import localiser_samples

    if leg_localiser.finished(out_dir):
        return out_dir  # trained before: no need to read its images again
    train_ids = _eos_training_ids(shared_data, held_out_fold)
    samples = localiser_samples(shared_data, eos_ids=train_ids)
    logger.info("localiser: %d training images", len(samples))
    data = {"eos_images": len(train_ids), "held_out_eos_fold": held_out_fold, "images": len(samples),
            "sources": "EOS pediatric (landmarks), OAI long-leg crops and mirrored pairs of them, phantoms"}
    return leg_localiser.train(samples, out_dir=out_dir, epochs=epochs, progress=progress, training_data=data)


def train_landmark_refiner(shared_data: Path, out_dir: Path, *, held_out_fold: int | None = None, epochs: int = 30,
                           progress: Any = None) -> Path:
    """Train (or resume) the landmark refiner on the localiser's images but the held-out EOS fold and OAI crops."""
    from inference.backends import landmark_refiner
    from training.core.leg_samples import localiser_samples

    if landmark_refiner.finished(out_dir):
        return out_dir
    train_ids = _eos_training_ids(shared_data, held_out_fold)
    held_out_oai = held_out_oai_names(load_labelme_folder(shared_data / OAI_FOLDER, group_pattern=r"^([^_]+)"))
    samples = [s for s in localiser_samples(shared_data, eos_ids=train_ids)
               if not any(name in s.name for name in held_out_oai)]  # crops and pairs of held-out OAI patients
    logger.info("landmark refiner: %d training images", len(samples))
    data = {"eos_images": len(train_ids), "held_out_eos_fold": held_out_fold, "images": len(samples),
            "held_out_oai_crops": len(held_out_oai),
            "sources": "EOS pediatric (landmarks), OAI long-leg crops and mirrored pairs of them, phantoms"}
    return landmark_refiner.train(samples, out_dir=out_dir, epochs=epochs, progress=progress, training_data=data)


def evaluate_localiser(localiser: Any, shared_data: Path, *, fold: int, refiner: Any = None) -> dict[str, Any]:
    """Held-out EOS fold: legs found with the right side, box IoU, apex and ankle error in mm (after ``refiner``)."""
    import numpy as np
    from PIL import Image

    from inference.core.leg_localisation import leg_box
    from inference.core.metrics import box_iou
    from training.core.leg_samples import eos_leg_truths

    ids, folds = eos_folds(shared_data)
    held_out = {ids[i] for i in folds.test_indices(fold)}
    found, ious, apex_mm, ankle_mm, n_legs = 0, [], [], [], 0
    for image_id, png, spacing, truths in eos_leg_truths(shared_data / EOS_FOLDER):
        if image_id not in held_out:
            continue
        image = np.asarray(Image.open(png).convert("L"))
        result = localiser.localise(image)
        if refiner is not None:
            result = refiner.refine(image, result)
        by_side = {leg.anatomical_side: leg for leg in result.legs}
        for truth in truths:
            n_legs += 1
            leg = by_side.get(truth.anatomical_side)
            if leg is None:
                continue
            found += 1
            ious.append(box_iou(leg.box_xyxy, leg_box(np.array(truth.apex_xy), np.array(truth.ankle_xy))))
            apex_mm.append(float(np.hypot(*np.subtract(leg.apex_xy, truth.apex_xy))) * spacing)
            ankle_mm.append(float(np.hypot(*np.subtract(leg.ankle_xy, truth.ankle_xy))) * spacing)

    def summary(values: list[float]) -> dict[str, float | None]:
        return {"median": round(float(np.median(values)), 3) if values else None,
                "p90": round(float(np.percentile(values, 90)), 3) if values else None}

    return {"fold": fold, "images": len(held_out), "legs": n_legs, "legs_found_with_side": found,
            "box_iou": {**summary(ious), "mean": round(float(np.mean(ious)), 4) if ious else None},
            "apex_error_mm": summary(apex_mm), "ankle_error_mm": summary(ankle_mm)}


def _half_precision(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.half() if value.is_floating_point() else value
    if isinstance(value, dict):
        return {k: _half_precision(v) for k, v in value.items()}
    return value


def _copy_member_fp16(source: Path, target: Path) -> None:
    """Copy a member artifact with its float weights stored as float16 (loaders cast back to float32)."""
    import json
    import shutil

    import torch

    from inference.backends.base import read_artifact_manifest, sha256_file

    manifest = read_artifact_manifest(source)
    target.mkdir(parents=True, exist_ok=True)
    for name in manifest["files"]:
        if name.endswith(".pt"):
            state = torch.load(source / name, map_location="cpu", weights_only=True)
            torch.save(_half_precision(state), target / name)
        else:
            shutil.copy2(source / name, target / name)
        manifest["files"][name] = sha256_file(target / name)
    manifest["stored_dtype"] = "float16"
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def package_starter(members_dir: Path, localiser_dir: Path, out_dir: Path, *, refiner_dir: Path | None = None,
                    evaluation: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the shippable starter into ``out_dir``: float16 members, the localiser (and landmark refiner),
    ensemble.json, SHA256SUMS."""
    import json
    import shutil

    from inference.backends.base import sha256_file

    manifest = json.loads((members_dir / "ensemble.json").read_text())
    card = out_dir / MODEL_CARD
    card_text = card.read_text() if card.is_file() else None  # written by hand: kept across rebuilds
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    if card_text is not None:
        card.write_text(card_text)
    for fold in manifest["folds"]:
        for member in [*fold["segmentation"], *fold["keypoint"]]:
            _copy_member_fp16(members_dir / member["path"], out_dir / member["path"])
    shutil.copytree(localiser_dir, out_dir / "localiser",
                    ignore=shutil.ignore_patterns("checkpoint.pt", "history.json"))
    manifest["input_mode"] = "leg_crops"
    manifest["localiser"] = "localiser"
    manifest.pop("landmark_refiner", None)
    options = manifest.setdefault("inference_options", {})
    options.pop("ankle_from_landmarks", None)
    if refiner_dir is not None:
        shutil.copytree(refiner_dir, out_dir / "landmark_refiner",
                        ignore=shutil.ignore_patterns("checkpoint.pt", "history.json"))
        manifest["landmark_refiner"] = "landmark_refiner"
        # The refined plafond centre is the ankle joint: on held-out EOS images 1.4 mm median error against
        # 5.2 mm for the ankle from a child's tibia mask; on held-out OAI crops HKA median 0.49 deg against 0.60.
        options["ankle_from_landmarks"] = 1.0
    manifest["evaluation"] = {**manifest.get("evaluation", {}), **(evaluation or {})}
    (out_dir / "ensemble.json").write_text(json.dumps(manifest, indent=2))
    files = sorted(p for p in out_dir.rglob("*") if p.is_file() and p.name not in ("SHA256SUMS", MODEL_CARD))
    (out_dir / "SHA256SUMS").write_text("".join(f"{sha256_file(p)}  {p.relative_to(out_dir)}\n" for p in files))
    return manifest
