"""Lineage: which code, data and training run produced a model or a prediction.

``current_code_version`` names the code that runs now: the git commit of the checkout (read from
``.git`` directly, no ``git`` executable needed), else the package version from ``pyproject.toml``.
``prediction_lineage`` follows Prediction -> EnsembleVersion -> TrainingRun -> DatasetSnapshot.
"""

from __future__ import annotations

import logging
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from inference.models import Prediction

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent


def _git_commit(git_dir: Path) -> str | None:
    """The commit ``HEAD`` points at (a branch ref, a packed ref or a detached hash), or None."""
    try:
        head = (git_dir / "HEAD").read_text().strip()
    except OSError:
        return None
    if not head.startswith("ref: "):
        return head or None
    ref = head[len("ref: "):]
    try:
        return (git_dir / ref).read_text().strip() or None
    except OSError:
        pass
    try:
        packed = (git_dir / "packed-refs").read_text().splitlines()
    except OSError:
        return None
    for line in packed:
        commit, _, name = line.partition(" ")
        if name == ref:
            return commit
    return None


def _package_version(pyproject: Path) -> str | None:
    try:
        return str(tomllib.loads(pyproject.read_text())["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None


@lru_cache(maxsize=1)
def current_code_version() -> str:
    """``git:<commit>`` of the checkout, else ``package:<version>``, else ``unknown`` (cached per process)."""
    commit = _git_commit(REPO_ROOT / ".git")
    if commit:
        return f"git:{commit}"
    version = _package_version(REPO_ROOT / "pyproject.toml")
    if version:
        return f"package:{version}"
    logger.warning("No git checkout and no pyproject.toml under %s: code version unknown", REPO_ROOT)
    return "unknown"


def prediction_lineage(*, prediction: Prediction) -> dict[str, Any]:
    """The chain behind ``prediction``: ensemble, members, training run, dataset snapshot, code versions."""
    ensemble = prediction.ensemble_version
    run = ensemble.training_run
    snapshot = run.dataset_snapshot if run is not None else None
    return {
        "prediction": {"id": prediction.pk, "image": prediction.image_id, "status": prediction.status,
                       "created_at": prediction.created_at.isoformat()},
        "ensemble_version": {"id": ensemble.pk, "name": ensemble.name, "view": ensemble.view,
                             "status": ensemble.status},
        "members": [
            {"id": m.pk, "kind": m.kind, "architecture": m.architecture, "fold": m.fold, "sha256": m.sha256,
             "training_run": None if m.training_run_id is None else str(m.training_run_id)}
            for m in ensemble.members.order_by("id")
        ],
        "training_run": None if run is None else {
            "id": str(run.pk), "config_name": run.config_name, "seed": run.seed, "status": run.status,
            "code_version": run.code_version, "created_at": run.created_at.isoformat(),
        },
        "dataset_snapshot": None if snapshot is None else {
            "id": snapshot.pk, "name": snapshot.name, "view": snapshot.view, "n_images": snapshot.entries.count(),
            "n_folds": snapshot.n_folds, "seed": snapshot.seed, "code_version": snapshot.code_version,
            "created_at": snapshot.created_at.isoformat(),
        },
    }
