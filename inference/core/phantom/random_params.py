"""Random, clinically plausible and deformed phantom parameters."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from inference.core.legs import AnatomicalSide
from inference.core.phantom.leg_axes import _tilt_for_ankle
from inference.core.phantom.params import _SIZES, LegParams, PhantomParams


def random_phantom_params(rng: np.random.Generator, *, legs: int) -> PhantomParams:
    """Clinically plausible and deformed parameters for a ``legs``-leg phantom (1 or 2)."""
    if legs not in (1, 2):
        raise ValueError("legs must be 1 or 2")
    sides: tuple[AnatomicalSide, ...] = ("right", "left") if legs == 2 else (("right",) if rng.random() < 0.5 else ("left",))
    base_f = rng.uniform(380.0, 480.0)
    ratio_t = rng.uniform(0.78, 0.86)
    out = []
    for i, side in enumerate(sides):
        scale = 1.0
        if i == 1 and rng.random() < 0.35:  # leg-length difference
            scale = rng.uniform(0.93, 0.98) if rng.random() < 0.5 else rng.uniform(1.02, 1.07)
        l_f = base_f * scale * rng.uniform(0.99, 1.01)
        l_t = l_f * ratio_t * rng.uniform(0.98, 1.02)
        mldfa = rng.uniform(81.0, 95.0)
        jlca = rng.uniform(-3.0, 3.0)
        dev = rng.uniform(-11.0, 11.0)
        mpta = float(np.clip(mldfa + dev + jlca, 78.0, 98.0))
        fcora = 0.0 if rng.random() < 0.5 else float(rng.choice([-1.0, 1.0]) * rng.uniform(3.0, 14.0))
        tcora = 0.0 if rng.random() < 0.5 else float(rng.choice([-1.0, 1.0]) * rng.uniform(3.0, 14.0))
        out.append(
            LegParams(
                anatomical_side=side,
                femur_length_mm=l_f,
                tibia_length_mm=l_t,
                head_radius_mm=l_f * rng.uniform(0.048, 0.056),
                nsa_deg=rng.uniform(112.0, 145.0),
                mech_tilt_deg=rng.uniform(1.0, 5.0),
                mldfa_deg=mldfa,
                jlca_deg=jlca,
                mpta_deg=mpta,
                mldta_deg=rng.uniform(82.0, 96.0),
                femoral_cora_deg=fcora,
                tibial_cora_deg=tcora,
                neck_half_width_ratio=rng.uniform(0.55, 0.65),
                shaft_half_width_ratio=rng.uniform(0.6, 0.7),
                offset_ratio=rng.uniform(2.5, 3.0),
                gt_rise_ratio=rng.uniform(0.15, 0.5),
                gt_radius_ratio=rng.uniform(0.35, 0.45),
                condyle_radius_ratio=rng.uniform(0.85, 1.0),
                condyle_spacing_ratio=rng.uniform(1.05, 1.25),
                joint_gap_ratio=rng.uniform(0.15, 0.25),
                metaphysis_frac=rng.uniform(0.2, 0.25),
                plateau_width_factor=rng.uniform(0.95, 1.05),
                tibia_half_width_ratio=rng.uniform(0.5, 0.6),
                tibia_block_frac=rng.uniform(0.15, 0.19),
                plafond_width_frac=rng.uniform(0.55, 0.65),
                malleolus_width_frac=rng.uniform(0.12, 0.17),
                malleolus_height_frac=rng.uniform(0.25, 0.35),
                distal_block_frac=rng.uniform(0.12, 0.15),
                troch_flare_ratio=rng.uniform(1.2, 1.5),
                troch_block_ratio=rng.uniform(3.0, 5.0),
            )
        )
    hip_half = rng.uniform(88.0, 104.0)
    if legs == 2:
        # Place the ankles a plausible distance apart (feet slightly apart) whatever the deformity.
        for i in range(2):
            tilt = _tilt_for_ankle(out[i], 1 if i == 0 else -1, hip_half - rng.uniform(40.0, 75.0))
            if tilt is not None:
                out[i] = replace(out[i], mech_tilt_deg=tilt)
    return PhantomParams(
        legs=tuple(out),
        hip_half_separation_mm=hip_half,
        hip_row_frac=rng.uniform(0.07, 0.1),
        horizontal_shift_px=rng.uniform(-0.03, 0.03) * _SIZES[legs][0],
        noise_sd=rng.uniform(2.0, 6.0),
        heel_effect=rng.uniform(0.05, 0.2),
        bone_contrast=rng.uniform(0.8, 1.2),
    )
