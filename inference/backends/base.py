"""Member-model interfaces, the artifact format, and the explicit backend registry.

Every member of the ensemble is one trained artifact loaded by a backend adapter. Backends import
torch (and friends) lazily: importing this module costs nothing, so the web process can list the
registry without loading any framework.

Conventions: images are ``(H, W)`` uint8 grey arrays (bone bright) in original resolution; key points
are image ``(x, y)`` pixels (see ``inference/core/legs.py``); label maps are ``(H, W)`` uint8 with
0 background, 1 femur, 2 tibia.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

MemberKind = Literal["keypoint", "segmentation"]

logger = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible else ``"cpu"``; a CUDA request without a GPU falls back to the CPU."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        logger.warning("CUDA requested but not available: using the CPU")
        return "cpu"
    return device


class ArtifactError(RuntimeError):
    """An artifact is missing, corrupt (sha256 mismatch) or was made by an unknown backend."""


@dataclass(frozen=True)
class KeypointPrediction:
    """Joints of every detected leg: ``joints_xy`` (n_legs, 3, 2) hip/knee/ankle, ``scores`` (n_legs, 3)."""

    joints_xy: NDArray[np.float64]
    scores: NDArray[np.float64]
    leg_boxes_xyxy: NDArray[np.float64] | None = None


@runtime_checkable
class KeypointModel(Protocol):
    def info(self) -> dict[str, Any]: ...

    def predict(self, image: NDArray[np.uint8]) -> KeypointPrediction: ...


@runtime_checkable
class SegmentationModel(Protocol):
    def info(self) -> dict[str, Any]: ...

    def predict(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]: ...


ProgressCallback = Callable[[dict[str, Any]], None]
"""Called with e.g. ``{"epoch": 3, "epochs": 20, "loss": 0.12}``; raising inside it cancels training."""


@dataclass(frozen=True)
class MemberSpec:
    """How to build and train one member: backend name, architecture and hyper-parameters."""

    backend: str
    architecture: str
    kind: MemberKind
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.backend}:{self.architecture}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_artifact_manifest(directory: Path, *, spec: MemberSpec, files: Sequence[str], extra: dict[str, Any]) -> Path:
    """Write ``manifest.json`` naming the backend, the spec and each file's sha256."""
    manifest = {
        "backend": spec.backend,
        "architecture": spec.architecture,
        "kind": spec.kind,
        "params": spec.params,
        "files": {name: sha256_file(directory / name) for name in files},
        **extra,
    }
    path = directory / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return path


def read_artifact_manifest(directory: Path) -> dict[str, Any]:
    """Read a manifest and verify every file's sha256; raise :class:`ArtifactError` on any mismatch."""
    path = directory / "manifest.json"
    if not path.is_file():
        raise ArtifactError(f"No manifest.json in {directory}")
    manifest = json.loads(path.read_text())
    for name, expected in manifest.get("files", {}).items():
        file = directory / name
        if not file.is_file():
            raise ArtifactError(f"Artifact file {name} is missing in {directory}")
        if sha256_file(file) != expected:
            raise ArtifactError(f"Artifact file {name} in {directory} does not match its sha256")
    return manifest
