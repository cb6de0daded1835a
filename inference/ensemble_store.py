"""Load an ensemble folder (``ensemble.json`` + member artifacts) once per process.

Member artifacts are verified against their sha256 on load (:mod:`inference.backends.base`).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from inference.backends.base import ArtifactError
from inference.backends.registry import load_member
from inference.core.stacker import Stacker
from inference.pipeline import FoldMembers, LoadedEnsemble

_CACHE: dict[tuple[str, float], LoadedEnsemble] = {}
_LOCK = threading.Lock()


def default_device() -> str:
    """``cuda`` when a GPU is visible to this worker, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / "ensemble.json"
    if not path.is_file():
        raise ArtifactError(f"No ensemble.json in {directory}")
    return json.loads(path.read_text())


def load_ensemble(directory: Path, *, device: str | None = None, options: dict[str, Any] | None = None) -> LoadedEnsemble:
    """Load (or return the cached) ensemble in ``directory``; artifacts are sha256-checked."""
    directory = directory.resolve()
    key = (str(directory), (directory / "ensemble.json").stat().st_mtime if (directory / "ensemble.json").exists() else 0.0)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        manifest = read_manifest(directory)
        device = device or default_device()
        folds = [
            FoldMembers(
                keypoint=[load_member(directory / m["path"], device=device) for m in fold["keypoint"]],
                segmentation=[load_member(directory / m["path"], device=device) for m in fold["segmentation"]],
            )
            for fold in manifest["folds"]
        ]
        tables = {
            bone: np.stack([np.stack([Stacker.from_dict(s).lookup_table() for s in fold]) for fold in per_fold])
            for bone, per_fold in manifest["stackers"].items()
        }
        ensemble = LoadedEnsemble(
            view=manifest.get("view", "AP"),
            folds=folds,
            keypoint_names=list(manifest["keypoint_names"]),
            segmentation_names=list(manifest["segmentation_names"]),
            femur_tables=tables["femur"],
            tibia_tables=tables["tibia"],
            keypoint_weights=(None if manifest.get("keypoint_weights") is None
                              else np.asarray(manifest["keypoint_weights"], dtype=np.float64)),
            options={**manifest.get("inference_options", {}), **(options or {})},
            input_mode=manifest.get("input_mode", "image"),
            localiser=_load_localiser(directory, manifest, device),
            landmark_refiner=_load_landmark_refiner(directory, manifest, device),
        )
        _CACHE.clear()  # one ensemble per worker process at a time keeps memory bounded
        _CACHE[key] = ensemble
        return ensemble


def _load_localiser(directory: Path, manifest: dict[str, Any], device: str) -> Any:
    """The leg localiser of a ``leg_crops`` ensemble (``manifest["localiser"]``: its folder), else None."""
    if manifest.get("input_mode", "image") != "leg_crops":
        return None
    if not manifest.get("localiser"):
        raise ArtifactError(f"{directory}/ensemble.json: input_mode leg_crops needs a 'localiser' folder")
    from inference.backends.leg_localiser import load

    return load(directory / manifest["localiser"], device=device)


def _load_landmark_refiner(directory: Path, manifest: dict[str, Any], device: str) -> Any:
    """The landmark refiner of a ``leg_crops`` ensemble (``manifest["landmark_refiner"]``: its folder), if any."""
    if manifest.get("input_mode", "image") != "leg_crops" or not manifest.get("landmark_refiner"):
        return None
    from inference.backends.landmark_refiner import load

    return load(directory / manifest["landmark_refiner"], device=device)
