"""Embed/decode shared by every SAM-family model (segment-anything and LiteMedSAM): imports torch.

Both models are an image encoder plus segment-anything's prompt encoder and mask decoder; they differ
only in how a window's pixels become the encoder input (:meth:`SamFamilySegmenter._model_input`).
Decoding follows ``SamPredictor.predict``: prompts are mapped into the window's resized frame, the
decoder's low-resolution logits are upscaled to the model input, the padding is cut off, the rest is
resized to the window and thresholded at logit 0, and the window is pasted into a full-size mask.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from inference.sam.promptable import Decoded, Embedding, check_prompts, to_uint8
from inference.sam.windows import (
    choose_window,
    embedding_windows,
    prompt_extent_xyxy,
    resized_size_hw,
    to_model_coords,
)

__all__ = ["SamFamilySegmenter"]


class SamFamilySegmenter(ABC):
    """A :class:`~inference.sam.promptable.PromptableSegmenter` over SAM's encoder/decoder modules.

    Parameters
    ----------
    name, weights_id : str
        Registry name and weights identity (stored in every embedding).
    image_encoder, prompt_encoder, mask_decoder : torch.nn.Module
        segment-anything's three parts (LiteMedSAM vendors the last two unchanged).
    input_side : int
        Side of the square encoder input (1024 for segment-anything, 256 for LiteMedSAM).
    tile_fraction : float or None
        Tile windows to encode besides the whole image (:func:`~inference.sam.windows.embedding_windows`).
    device : str
        ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, *, name: str, weights_id: str, image_encoder: nn.Module, prompt_encoder: nn.Module,
                 mask_decoder: nn.Module, input_side: int, tile_fraction: float | None, device: str = "cpu") -> None:
        self.name = name
        self.weights_id = weights_id
        self.image_encoder = image_encoder.to(device).eval()
        self.prompt_encoder = prompt_encoder.to(device).eval()
        self.mask_decoder = mask_decoder.to(device).eval()
        self.input_side = input_side
        self.tile_fraction = tile_fraction
        self.device = torch.device(device)
        with torch.inference_mode():  # constant per model; recomputing it cost ~8 % of every decode
            self._dense_pe = self.prompt_encoder.get_dense_pe()

    @abstractmethod
    def _model_input(self, pixels: NDArray[np.uint8]) -> torch.Tensor:
        """The ``(1, 3, S, S)`` encoder input of an ``(h, w)`` uint8 window, resized to :meth:`_input_size_hw`."""

    def _input_size_hw(self, height: int, width: int) -> tuple[int, int]:
        """``(h, w)`` a ``height x width`` window is resized to inside the ``S x S`` input (aspect kept)."""
        return resized_size_hw(height, width, self.input_side)

    def embed(self, image: NDArray[np.uint8] | NDArray[np.floating]) -> Embedding:
        """Encode the whole image and its tile windows.

        Parameters
        ----------
        image : (H, W) uint8 or float ndarray
            Grey image, bone bright (floats are min-max scaled by :func:`~inference.sam.promptable.to_uint8`).

        Returns
        -------
        Embedding
        """
        pixels = to_uint8(image)
        height, width = pixels.shape
        windows = embedding_windows(height, width, tile_fraction=self.tile_fraction)
        features, sizes = [], []
        with torch.inference_mode():
            for x0, y0, x1, y1 in windows:
                window = pixels[y0:y1, x0:x1]
                encoded = self.image_encoder(self._model_input(window).to(self.device))
                features.append(encoded[0].float().cpu().numpy())
                sizes.append(self._input_size_hw(window.shape[0], window.shape[1]))
        return Embedding(model=self.name, weights_id=self.weights_id, features=np.stack(features),
                         windows_xyxy=windows, input_sizes_hw=np.asarray(sizes, dtype=np.int64),
                         original_size_hw=(height, width))

    def decode(
        self,
        embedding: Embedding,
        points_xy: NDArray[np.float64] | None = None,
        point_labels: NDArray[np.integer] | None = None,
        box_xyxy: NDArray[np.float64] | None = None,
    ) -> Decoded:
        """Segment the object the prompts point at.

        Parameters
        ----------
        embedding : Embedding
            Made by this segmenter (same name and weights).
        points_xy : (N, 2) float ndarray, optional
            Clicks in original image ``(x, y)``.
        point_labels : (N,) int ndarray, optional
            1 inside the object, 0 outside.
        box_xyxy : (4,) float ndarray, optional
            ``x0, y0, x1, y1`` in original image pixels.

        Returns
        -------
        Decoded
            ``mask`` (H, W) bool in original coordinates and the decoder's predicted-IoU ``score``.
            A single click is ambiguous, so it is decoded with SAM's three candidate masks and the one
            with the best score is returned; any other prompt gives one mask.

        Raises
        ------
        ValueError
            Bad prompts (:func:`~inference.sam.promptable.check_prompts`) or an embedding from another model.
        """
        self._check_embedding(embedding)
        points, labels, box = check_prompts(points_xy, point_labels, box_xyxy, size_hw=embedding.original_size_hw)
        index = choose_window(embedding.windows_xyxy, prompt_extent_xyxy(points, box))
        multimask = box is None and points is not None and len(points) == 1
        return self._decode_in_window(embedding, index, points, labels, box, multimask=multimask)

    def _check_embedding(self, embedding: Embedding) -> None:
        if (embedding.model, embedding.weights_id) != (self.name, self.weights_id):
            raise ValueError(f"embedding of {embedding.model} ({embedding.weights_id}) given to {self.name}")

    def _decode_in_window(self, embedding: Embedding, index: int, points: NDArray[np.float64] | None,
                          labels: NDArray[np.int64] | None, box: NDArray[np.float64] | None, *,
                          multimask: bool) -> Decoded:
        """Decode checked prompts in window ``index`` and paste the mask into a full-size one.

        With ``multimask`` the decoder's three candidates are made and the best-scored one is kept.
        """
        height, width = embedding.original_size_hw
        window, input_hw = embedding.windows_xyxy[index], embedding.input_sizes_hw[index]
        point_prompt = box_prompt = None
        if points is not None and labels is not None:
            coords = torch.as_tensor(to_model_coords(points, window, input_hw), dtype=torch.float32)
            point_labels_t = torch.as_tensor(labels, dtype=torch.int, device=self.device)
            point_prompt = (coords[None].to(self.device), point_labels_t[None])
        if box is not None:
            corners = to_model_coords(box.reshape(2, 2), window, input_hw).reshape(1, 4)
            box_prompt = torch.as_tensor(corners, dtype=torch.float32, device=self.device)
        features = torch.as_tensor(embedding.features[index][None], device=self.device)
        with torch.inference_mode():
            sparse, dense = self.prompt_encoder(points=point_prompt, boxes=box_prompt, masks=None)
            low_res, scores = self.mask_decoder(
                image_embeddings=features, image_pe=self._dense_pe,
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=multimask,
            )
            best = int(torch.argmax(scores[0]))
            logits = F.interpolate(low_res[:, best : best + 1], (self.input_side, self.input_side),
                                   mode="bilinear", align_corners=False)
            logits = logits[..., : int(input_hw[0]), : int(input_hw[1])]
            x0, y0, x1, y1 = (int(v) for v in window)
            logits = F.interpolate(logits, (y1 - y0, x1 - x0), mode="bilinear", align_corners=False)
            inside = (logits[0, 0] > 0.0).cpu().numpy()
        mask = np.zeros((height, width), dtype=bool)
        mask[y0:y1, x0:x1] = inside
        return Decoded(mask=mask, score=float(scores[0, best]))
