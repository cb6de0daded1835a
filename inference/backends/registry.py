"""The explicit registry of member backends: name -> lazily imported backend module.

Every backend module provides

* ``train(spec, samples, *, out_dir, device="cpu", progress=None, seed=0) -> dict`` (the manifest),
* ``load(directory, *, device="cpu") -> KeypointModel | SegmentationModel``.

Importing this module imports no framework: each entry is a zero-argument callable that imports its
module on first use. Names that come from settings or from a manifest are validated against
:data:`BACKENDS`; there is no dotted-path or ``eval`` lookup.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from inference.backends.base import ArtifactError, KeypointModel, SegmentationModel, read_artifact_manifest

__all__ = ["BACKENDS", "UnknownBackendError", "get_backend", "load_member"]

#: Backend name (``MemberSpec.backend`` and ``manifest.json["backend"]``) -> module loader.
#: One entry per line; keep the names short and stable (they are stored in manifests).
BACKENDS: dict[str, Callable[[], ModuleType]] = {
    # --- segmentation backends ---
    "smp": lambda: importlib.import_module("inference.backends.smp_segmentation"),
    # --- key-point backends (added by the key-point helper, one entry per line) ---
    "ultralytics_pose": lambda: importlib.import_module("inference.backends.ultralytics_pose"),
    "heatmap": lambda: importlib.import_module("inference.backends.heatmap_keypoints"),
    # --- OpenMMLab models users bring (optional extra: scripts/setup-openmmlab) ---
    "mmseg": lambda: importlib.import_module("inference.backends.openmmlab_segmentation"),
    "mmpose": lambda: importlib.import_module("inference.backends.openmmlab_pose"),
}


class UnknownBackendError(KeyError, ArtifactError):
    """A backend name that is not in :data:`BACKENDS` (a ``KeyError`` and an ``ArtifactError``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.message = f"unknown backend {name!r}; known backends: {', '.join(sorted(BACKENDS)) or '(none)'}"
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return self.message


def get_backend(name: str) -> ModuleType:
    """Return the backend module registered as ``name`` (imported on first use).

    Raises
    ------
    UnknownBackendError
        ``name`` is not in :data:`BACKENDS`; the message lists the known names.
    """
    try:
        loader = BACKENDS[name]
    except (KeyError, TypeError):
        raise UnknownBackendError(str(name)) from None
    return loader()


def load_member(directory: Path | str, *, device: str = "cpu") -> KeypointModel | SegmentationModel:
    """Load the member stored in ``directory`` with the backend its manifest names.

    Parameters
    ----------
    directory : Path
        An artifact folder holding ``manifest.json`` (see :mod:`inference.backends.base`).
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"``, passed to the backend's ``load``.

    Raises
    ------
    ArtifactError
        No manifest, a file whose sha256 does not match, or a manifest naming an unknown backend
        (:class:`UnknownBackendError`, also a ``KeyError``).
    """
    directory = Path(directory)
    manifest = read_artifact_manifest(directory)
    name = manifest.get("backend")
    if not isinstance(name, str):
        raise ArtifactError(f"{directory}/manifest.json names no backend")
    return get_backend(name).load(directory, device=device)
