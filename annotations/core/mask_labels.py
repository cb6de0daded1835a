"""Mask labels (architecture.md §4): 0 background, 1 femur, 2 tibia.

Defined with the LabelMe and raster code that turns outlines into label masks; the numeric cores above
(:mod:`inference.core.legs`, training) take them from here.
"""

BACKGROUND = 0
FEMUR = 1
TIBIA = 2
