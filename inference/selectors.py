"""Selectors of the inference app: the active ensemble of a view and where an ensemble's files are."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from inference.models import EnsembleVersion, VersionStatus


def ensemble_active(*, view: str = "AP") -> EnsembleVersion | None:
    return EnsembleVersion.objects.filter(status=VersionStatus.ACTIVE, view=view).first()


def ensemble_directory(ensemble: EnsembleVersion) -> Path:
    return Path(settings.MODEL_STORE) / ensemble.config["path"]
