"""Registry entry ``"mmseg"``: imported mmsegmentation models (see :mod:`inference.backends.openmmlab`)."""

from inference.backends.openmmlab import load_segmentation as load
from inference.backends.openmmlab import train

__all__ = ["load", "train"]
