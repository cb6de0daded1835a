"""Construction parameters of a phantom and its image sizes.

Lengths are in mm and angles in degrees; legs are ordered image-left first.
"""

from __future__ import annotations

from dataclasses import dataclass

from inference.core.legs import AnatomicalSide

_SIZES = {1: (512, 1024), 2: (1024, 2048)}  # (width, height)


@dataclass(frozen=True)
class LegParams:
    """Construction parameters of one leg (lengths in mm, angles in degrees).

    ``jlca_deg`` is signed (positive: joint lines open laterally); ``femoral_cora_deg`` and
    ``tibial_cora_deg`` are signed bends (0 = straight bone). Shape ratios are relative to the head
    radius (femur) or the named width.
    """

    anatomical_side: AnatomicalSide
    femur_length_mm: float
    tibia_length_mm: float
    head_radius_mm: float
    nsa_deg: float
    mech_tilt_deg: float
    mldfa_deg: float
    jlca_deg: float
    mpta_deg: float
    mldta_deg: float
    femoral_cora_deg: float = 0.0
    tibial_cora_deg: float = 0.0
    neck_half_width_ratio: float = 0.68
    shaft_half_width_ratio: float = 0.6
    offset_ratio: float = 2.0
    gt_rise_ratio: float = 0.3
    gt_radius_ratio: float = 0.58
    condyle_radius_ratio: float = 0.92
    condyle_spacing_ratio: float = 1.15
    joint_gap_ratio: float = 0.2
    metaphysis_frac: float = 0.18
    plateau_width_factor: float = 1.0
    tibia_half_width_ratio: float = 0.55
    tibia_block_frac: float = 0.17
    plafond_width_frac: float = 0.6
    malleolus_width_frac: float = 0.15
    malleolus_height_frac: float = 0.3
    distal_block_frac: float = 0.13
    troch_flare_ratio: float = 1.6
    troch_block_ratio: float = 2.0


@dataclass(frozen=True)
class PhantomParams:
    """Image-level parameters; ``legs`` are ordered image-left first."""

    legs: tuple[LegParams, ...]
    hip_half_separation_mm: float = 90.0
    hip_row_frac: float = 0.09
    horizontal_shift_px: float = 0.0
    noise_sd: float = 4.0
    heel_effect: float = 0.12
    bone_contrast: float = 1.0
