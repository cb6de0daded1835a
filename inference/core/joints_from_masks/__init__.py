"""Hip, knee and ankle centres derived from femur/tibia label maps.

This module defines the **key-point training truth** for data that have bone outlines but no joint
annotations (the OAI long-leg crops): every joint below is a deterministic function of the label
map. Conventions follow :mod:`inference.core.legs` (image ``(x, y)`` pixels, pixel ``[r, c]``
centred at ``(c + 0.5, r + 0.5)``; labels 0 background, 1 femur, 2 tibia; joint order hip, knee,
ankle).

Derivation (per leg)
--------------------
0. **Leg split.** Bone pixels (femur or tibia) left of ``x_mid`` belong to the image-left leg.
   Without ``x_mid``, the widest run of empty columns strictly between the outermost bone columns
   splits the legs when both sides hold at least ``min_leg_fraction`` of the bone pixels; with
   ``n_legs=2`` and no such gap, the 1-D 2-means boundary of the bone pixel columns is used. Legs
   are ordered left to right. In each leg the largest 8-connected femur and tibia components are
   kept. All boundaries are the sub-pixel iso-line 0.5 of the binary mask
   (:func:`skimage.measure.find_contours`), which lies half-way between inside and outside pixel
   centres, i.e. on the outline that was rasterised.
1. **Axes and medial side.** The femoral shaft axis is the least-squares line ``x = k y + b``
   through the row centroids of the femur between 30 % and 70 % of its height; the proximal and
   distal tibial axes likewise through 15-50 % and 50-85 % of the tibia's height. "Medial" is toward
   the other leg (image-left leg: +x). For a single leg it is ``medial_sign`` when given, otherwise
   the side where the proximal 20 % of the femur reaches farther from the extrapolated shaft axis
   (the head and neck reach about three head radii medially, the greater trochanter less than one
   laterally); the leg is flagged ``medial_side_inferred``.
2. **Hip = femoral-head centre.** Head-radius prior ``r0 = 0.83 x`` the perpendicular shaft width
   (adult and phantom femora: head radius ≈ 0.8-0.85 shaft width), clipped to 3-8 % of the femur
   height. Candidate boundary: femur outline points medial of the shaft axis and less than
   ``2.6 r0`` below the top of the medial part (the head is the most proximal medial structure).
   A circle is fitted by RANSAC over 3-point circumcircles (radius in ``[0.5, 1.8] r0``; inlier
   band ``max(1 px, 0.06 r0)``; deterministic seed), then refined by a geometric (orthogonal
   distance) least-squares fit on the inliers with two re-selections of the inliers. The hip is the
   circle centre. It is valid when the inliers span at least 150° of arc, number at least 12, the
   radius is within ``[0.5, 1.8] r0`` and the RMS residual is at most ``max(1 px, 0.1 r)``.
3. **Knee = tibial-plateau centre.** In the frame of the proximal tibial axis ``u`` (distal) and
   ``v`` (medial), the medial and lateral plateau corners are the support points of the proximal
   tibial outline in the diagonal directions ``(v - u)/√2`` and ``(-v - u)/√2`` (mean of the points
   within 0.5 px of the maximum): for a plateau tilted less than 45° against the axis these are the
   rim points where the articular surface meets the medial and lateral cortices, and the tibial
   spines (which rise between them) do not move them. The knee is the midpoint of the two corners
   (on the chord between the rims, at plateau level). Residual: mean absolute distance of the
   plateau top boundary (10-35 % and 65-90 % of the corner-to-corner width, i.e. away from the
   spines) from the chord.
4. **Ankle = tibial-plafond centre.** In the frame of the distal tibial axis, the bottom profile of
   the distal 12 % of the tibia's outline is taken in 1-px bins across its full width ``W`` (which
   includes the medial malleolus). A line (two rounds of 2.5-MAD trimming) is fitted to the profile
   over the central 60 % of ``W``; the articular surface extends from the centre of that band, in
   both directions, over the consecutive bins whose profile stays within ``max(1 px, 0.02 W)`` of the
   line: laterally it ends at the lateral cortex, medially where the malleolus drops below the
   plafond. The ankle is the point of the line at the middle of that extent. If the extent covers
   less than 40 % of ``W`` the middle of the central band is used and the joint is flagged.
   Residual: RMS of the profile about the line inside the extent.

The joints of a leg must satisfy ``hip_y < knee_y < ankle_y``; otherwise all three are flagged.
Invalid joints are NaN in :func:`derive_joints` and in :attr:`JointDerivation.joints_xy`; the
computed value (when there is one) stays in :attr:`LegJointDerivation.raw_joints_xy` for
inspection.

Accuracy (``benchmarks/joints_from_masks.py``: 30 single-leg and 20 bilateral phantoms of
:mod:`inference.core.phantom`, 70 legs, exact construction truth): median error hip / knee / ankle
0.16 / 0.37 / 0.52 px, 95th percentile 0.24 / 0.70 / 0.97 px, no leg flagged. One knee was off by
13 px: when the phantom's proximal tibial block is shifted sideways, its convex hull can swallow
one end of the constructed plateau, so the rim seen in the mask is not the constructed plateau end
(the spines still mark the centre). On the 242 OAI crops the hip circle has a median radius of
19.6 px (5.3 % of the femur height), RMS residual 0.36-0.75 px and a median arc of 277°; one image
(an unusually drawn head outline, 129° of arc) is flagged ``hip_arc_short``.

Modules
-------
* :mod:`~inference.core.joints_from_masks.records`: the result records.
* :mod:`~inference.core.joints_from_masks.circles`: circle fits for the femoral head.
* :mod:`~inference.core.joints_from_masks.masks`: largest component, sub-pixel outline, row-centroid axes.
* :mod:`~inference.core.joints_from_masks.leg_split`: :func:`split_legs` (step 0).
* :mod:`~inference.core.joints_from_masks.joints`: medial side, hip, knee and ankle (steps 1-4).
* :mod:`~inference.core.joints_from_masks.derivation`: :func:`derive_joints_detailed` and :func:`derive_joints`.
"""

from __future__ import annotations

from inference.core.joints_from_masks.circles import fit_circle_algebraic, fit_circle_ransac
from inference.core.joints_from_masks.derivation import derive_joints, derive_joints_detailed
from inference.core.joints_from_masks.leg_split import split_legs
from inference.core.joints_from_masks.records import HipCircle, JointDerivation, LegJointDerivation

__all__ = [
    "HipCircle",
    "JointDerivation",
    "LegJointDerivation",
    "derive_joints",
    "derive_joints_detailed",
    "fit_circle_algebraic",
    "fit_circle_ransac",
    "split_legs",
]
