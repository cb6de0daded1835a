"""Registry entry ``"mmpose"``: imported top-down mmpose models (see :mod:`inference.backends.openmmlab`)."""

from inference.backends.openmmlab import load_keypoints as load
from inference.backends.openmmlab import train

__all__ = ["load", "train"]
