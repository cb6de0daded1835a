"""The starter ensemble that ships in the repository (``models/starter/``), registered on first use.

A fresh install has no trained ensemble; the starter (trained by ``python manage.py build_starter`` on
``../shared/data``, see ``models/starter/MODEL_CARD.md``) is copied into ``MODEL_STORE`` and
registered as an ensemble version with its member model versions. It becomes the active one of its
view when none is active, so demo phantoms, uploads and ``predict`` get meaningful predictions at
once. Registration is idempotent (keyed by the sha256 of the shipped ``ensemble.json``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction

from enllasd_web.exceptions import InvalidInput
from inference.backends.base import sha256_file
from inference.models import EnsembleVersion, VersionStatus
from inference.selectors import ensemble_active
from inference.services import ModelNotReady, ensemble_members_register, ensemble_version_promote

__all__ = ["STARTER_DIR", "resolve_ensemble", "starter_available", "starter_ensemble_register"]

STARTER_DIR = Path(__file__).resolve().parent.parent / "models" / "starter"


def starter_available(directory: Path = STARTER_DIR) -> bool:
    return (directory / "ensemble.json").is_file()


def starter_ensemble_register(*, directory: Path = STARTER_DIR, activate_if_none: bool = True) -> EnsembleVersion:
    """The starter's ensemble version, registered (copied into MODEL_STORE) if it is not yet.

    Raises ``FileNotFoundError`` when the repository has no starter.
    """
    import json

    if not starter_available(directory):
        raise FileNotFoundError(f"No starter ensemble in {directory} (python manage.py build_starter makes one)")
    digest = sha256_file(directory / "ensemble.json")
    existing = EnsembleVersion.objects.filter(config__starter_sha256=digest).first()
    if existing is None:
        manifest = json.loads((directory / "ensemble.json").read_text())
        store = Path(settings.MODEL_STORE).resolve()
        target = store / "starter" / digest[:12]
        if not (target / "ensemble.json").is_file():
            partial = target.with_name(target.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(directory, partial)
            shutil.rmtree(target, ignore_errors=True)
            partial.rename(target)
        existing = _register(manifest, target, store, digest)
    if activate_if_none and not EnsembleVersion.objects.filter(status=VersionStatus.ACTIVE, view=existing.view).exists():
        ensemble_version_promote(ensemble=existing)
    return existing


def _register(manifest: dict, target: Path, store: Path, digest: str) -> EnsembleVersion:
    with transaction.atomic():
        ensemble = EnsembleVersion.objects.create(
            name=f"starter ({digest[:8]})", view=manifest.get("view", "AP"),
            stackers=manifest["stackers"],
            config={"path": str(target.relative_to(store)), "config_name": "starter", "starter_sha256": digest,
                    "input_mode": manifest.get("input_mode", "image"),
                    "segmentation_names": manifest["segmentation_names"], "keypoint_names": manifest["keypoint_names"]},
            metrics=manifest.get("evaluation", {}),
        )
        ensemble_members_register(ensemble=ensemble, manifest=manifest, directory=target)
    return ensemble


def resolve_ensemble(reference: str) -> EnsembleVersion:
    """``active`` or an EnsembleVersion id."""
    if reference == "active":
        ensemble = ensemble_active()
        if ensemble is None:
            if starter_available():  # a fresh install: the starter shipped in the repository
                return starter_ensemble_register()
            raise ModelNotReady(
                "No active ensemble and no starter in models/starter. Train one: python manage.py train "
                "--config default --data DIR (or python manage.py build_starter).", {"code": "no_active_ensemble"}
            )
        return ensemble
    if not reference.isdigit():
        raise InvalidInput(f"--ensemble must be 'active' or an id, got {reference!r}")
    return EnsembleVersion.objects.get(pk=int(reference))
