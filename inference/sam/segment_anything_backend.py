"""segment-anything 1.0 (ViT-B/L/H) from a user-supplied checkpoint.

The package has no weights; the checkpoint path comes from settings (``SAM_CHECKPOINT``). Loading
follows ``sam_model_registry[type](checkpoint=path)`` with two differences: the state dict is read
with ``map_location="cpu"`` and ``weights_only=True`` (the official checkpoints were saved from CUDA
tensors, which the registry's bare ``torch.load`` cannot open on a CPU-only worker, and a checkpoint
must never run code), and every way a checkpoint can be wrong ends in :class:`SamUnavailable` with a
plain message. Preprocessing is ``SamPredictor.set_image``'s: RGB uint8, ``ResizeLongestSide`` to the
encoder's side (1024), then ``Sam.preprocess`` (normalise and pad). The whole image is encoded once
(no tiles: at 1024 px a femur stays 25-50 px wide).
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from segment_anything import sam_model_registry
from segment_anything.modeling import Sam
from segment_anything.utils.transforms import ResizeLongestSide

from inference.sam.promptable import SamUnavailable
from inference.sam.sam_family import SamFamilySegmenter

__all__ = ["SAM_BUILDERS", "SegmentAnythingSegmenter", "checkpoint_weights_id", "load_sam"]

#: Model type -> builder called with ``checkpoint=None`` (random weights, then the checkpoint is loaded).
SAM_BUILDERS: dict[str, Callable[..., Sam]] = {name: sam_model_registry[name] for name in ("vit_b", "vit_l", "vit_h")}


def checkpoint_weights_id(path: Path) -> str:
    """A cheap identity of a checkpoint file (resolved path, size, modification time), 16 hex digits."""
    stat = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]


def load_sam(checkpoint: Path | str, model_type: str, *,
             builders: Mapping[str, Callable[..., Sam]] = SAM_BUILDERS) -> Sam:
    """Build a ``model_type`` SAM and load ``checkpoint`` into it (on the CPU, in eval mode).

    Parameters
    ----------
    checkpoint : Path or str
        A ``.pth`` state dict as published with segment-anything.
    model_type : str
        A key of ``builders`` (``vit_b``, ``vit_l``, ``vit_h``).
    builders : mapping
        Model type -> builder taking ``checkpoint=None``; tests add small architectures here.

    Raises
    ------
    SamUnavailable
        Unknown type, missing or unreadable file, or a state dict that does not fit the architecture.
    """
    path = Path(checkpoint) if str(checkpoint) else None
    if model_type not in builders:
        raise SamUnavailable(f"Unknown SAM model type {model_type!r}; use one of {', '.join(sorted(builders))}.")
    if path is None or not path.is_file():
        raise SamUnavailable(f"SAM checkpoint not found at {path or '(not set)'}; set SAM_CHECKPOINT.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise SamUnavailable(f"SAM checkpoint at {path} could not be read: {exc}") from exc
    sam = builders[model_type](checkpoint=None)
    try:
        sam.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SamUnavailable(f"SAM checkpoint at {path} does not fit model type {model_type}: {first_line}") from exc
    return sam.eval()


class SegmentAnythingSegmenter(SamFamilySegmenter):
    """A segment-anything model; build it with :meth:`from_checkpoint`."""

    def __init__(self, sam: Sam, *, name: str, weights_id: str, device: str = "cpu") -> None:
        super().__init__(name=name, weights_id=weights_id, image_encoder=sam.image_encoder,
                         prompt_encoder=sam.prompt_encoder, mask_decoder=sam.mask_decoder,
                         input_side=sam.image_encoder.img_size, tile_fraction=None, device=device)
        self.sam = sam.to(device)
        self.resize = ResizeLongestSide(self.input_side)

    @classmethod
    def from_checkpoint(cls, checkpoint: Path | str, model_type: str, *, name: str | None = None,
                        device: str = "cpu",
                        builders: Mapping[str, Callable[..., Sam]] = SAM_BUILDERS) -> SegmentAnythingSegmenter:
        """Load ``checkpoint`` as ``model_type`` (:func:`load_sam`); the name defaults to ``sam_<type>``.

        Raises
        ------
        SamUnavailable
            As :func:`load_sam`.
        """
        sam = load_sam(checkpoint, model_type, builders=builders)
        return cls(sam, name=name or f"sam_{model_type}", weights_id=checkpoint_weights_id(Path(checkpoint)),
                   device=device)

    def _model_input(self, pixels: NDArray[np.uint8]) -> torch.Tensor:
        rgb = np.repeat(pixels[:, :, None], 3, axis=2)
        resized = torch.as_tensor(self.resize.apply_image(rgb), device=self.device)
        return self.sam.preprocess(resized.permute(2, 0, 1).contiguous()[None].float())
