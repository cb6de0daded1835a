"""Per-leg alignment angles from a femur/tibia label map and the hip/knee/ankle joints (spec §5).

Coordinates, mask labels and joint order follow :mod:`inference.core.legs`; angle conventions follow
:mod:`inference.core.geometry`. In short: image ``(x, y)`` with y down; clinical angles are directed
angles ``arccos(u . v)`` between vectors whose sense (proximal / distal / medial / lateral) is fixed
per metric below; CORA angles are acute angles between undirected shaft lines.

Directions per leg
------------------
* "proximal" is toward smaller y. "medial" is toward the other leg on a bilateral image. For a single
  leg it comes from ``anatomical_side`` (standard AP display: the patient's right leg is on the
  image left, so its medial direction is +x); without it, it is inferred from anatomy (the femoral
  head lies medial of the proximal femoral shaft axis) and the leg is flagged
  ``anatomical_side_inferred``.

Metrics (spec §5.8; H hip, N knee, A ankle)
-------------------------------------------
* ``hka_deviation_deg``: ``arccos`` angle between ``N - H`` and ``A - N``, signed **negative for varus**
  (knee lateral to the line H-A) and positive for valgus. ``HKA = 180 - |deviation|``.
* ``MAD``: perpendicular distance of N from the line H-A, **positive when the line passes medial to
  the knee** (varus); mm when the pixel spacing is known (``value_px`` always given).
* ``mLDFA``: angle between ``H - N`` and the distal femoral joint line directed medial -> lateral.
  ``aLDFA``: the same with the femoral (distal) anatomic axis directed proximally.
* ``mLPFA``: angle between ``N - H`` and ``GT - H`` (GT = tip of the greater trochanter).
* ``MPTA``: angle between ``A - N`` and the tibial plateau line directed lateral -> medial.
* ``mLDTA``: angle between ``N - A`` and the plafond line directed medial -> lateral.
* ``JLCA``: acute angle between the distal femoral and plateau lines (unsigned).
* ``AMA``: angle between ``H - N`` and the femoral (distal) anatomic axis directed proximally.
* ``NSA``: growing-neck PCA axis (§5.6 [D]) vs the upper shaft axis, directed:
  ``arccos(u_neck . u_shaft)`` with ``u_neck`` from the crossing X toward H, ``u_shaft`` from X toward N.
* ``femoral_cora_deg`` / ``tibial_cora_deg``: acute angle between the proximal and distal shaft fits,
  with the crossing point (null when outside the image or parallel).

The femoral anatomic axis used for aLDFA and AMA is the distal ("lower") shaft fit (the points with
``d_N <= 55th percentile``), i.e. the anatomic axis of the distal segment, which is what aLDFA needs
when the femur has a diaphyseal CORA; for a straight femur it is the mid-diaphyseal line.

Joint lines and the greater trochanter come from full-resolution mask boundaries (§5.8 [D]); shaft
axes, CORA, NSA, AMA and aLDFA come from the Monte-Carlo draws (§5.3 [D]): per leg and bone
``n_draws`` draws of ``min(n_samples, |S|)`` pixels without replacement, each from its own RNG seeded
by ``(seed, image_id, leg, bone, r)``; value = median over valid draws, plus mean, SD (ddof=1), 2.5th
and 97.5th percentiles and the count ``n``. Joint-only metrics (HKA, MAD) and the landmark metrics
have SD 0 for exact joints; when a leg carries joint variances they get a spread from ``n_draws``
Gaussian joint draws (landmarks held fixed).

Decisions beyond the spec text ([D], all configurable through :class:`AlignmentOptions`)
-----------------------------------------------------------------------------------------
* ``shaft_fit="pca"`` (default): shaft lines are total-least-squares (PCA) lines of each point set.
  The spec's x-on-y least squares (``shaft_fit="ols"``, always used in ``reference_mode``) pulls the
  slope of a thick set toward vertical by about ``(width / length)^2`` of the tilt: on the synthetic
  phantoms it biases AMA / aLDFA by about 1.5° (median; p95 3°) and the femoral CORA by 1°; PCA
  errors stay below 0.3° (median)
  (benchmarks/phantom_accuracy.py).
* Growing neck (§5.6): the stop test starts once the previous neck set is elongated
  (``lambda1 / lambda2 >= 1.5``): a set that is still the round head has no direction to compare with.
* Joint-line end points are sub-pixel: a parabola through the boundary columns within 3 px of the
  extreme (the plain extreme column when that fails). Bottom edges are ``max row + 1``, top edges
  ``min row`` (unbiased edge positions under the pixel-centre rule).
* Head radius for the greater-trochanter search: half the narrowest femur chord through H over 36
  directions (a horizontal chord runs into the neck or trochanter on real shapes); candidates must
  lie lateral of H by more than 1.1 radii, so the pixelated rim of the head itself never qualifies.
* RANSAC threshold: 2% of the plateau / plafond width, at least 1 px.
* The CORA point is null when the median shaft lines are within 1° of parallel (their crossing is
  then undetermined) or cross outside the image.

``reference_mode=True`` reproduces the reference code's sampling and sets: one draw of 4000 femur
and 1000 tibia pixels *with replacement* from the whole image (legacy ``numpy.random.seed(42)`` +
``randint``), split by ``x_mid``; tibia reference point = top-most tibia pixel of the whole image;
hip and knee truncated to int for the femoral distance sets; fixed 15% neck set with a PCA line and
the NSA taken as the obtuse angle between the neck and upper-shaft lines.

Modules, in the order of the method
-----------------------------------
* :mod:`~inference.core.alignment.records`: options, result records and metric names.
* :mod:`~inference.core.alignment.sampling`: leg context, per-leg bone masks and Monte-Carlo pixel draws.
* :mod:`~inference.core.alignment.shaft_fits`: Monte-Carlo shaft, neck (NSA) and CORA-angle fits.
* :mod:`~inference.core.alignment.landmarks`: joint lines and the greater trochanter from mask boundaries.
* :mod:`~inference.core.alignment.joint_angles`: HKA deviation, MAD and the inferred medial direction.
* :mod:`~inference.core.alignment.cora`: median shaft axes and the CORA point.
* :mod:`~inference.core.alignment.spread`: metric values and their spread (draws, joint variances).
* :mod:`~inference.core.alignment.lengths`: length landmarks and lengths after a new femoral-head apex.
* :mod:`~inference.core.alignment.leg_alignment`: all metrics and flags of one leg.
* :mod:`~inference.core.alignment.image_alignment`: :func:`align_label_map`, every leg of one image.
"""

from __future__ import annotations

from inference.core.alignment.cora import cora_crossing
from inference.core.alignment.image_alignment import align_label_map
from inference.core.alignment.joint_angles import hka_deviation_deg
from inference.core.alignment.lengths import with_femoral_head_apex
from inference.core.alignment.records import (
    CORA_METRICS,  # noqa: F401 - public but outside __all__, as before the split (crop_alignment imports it)
    METRIC_NAMES,
    AlignmentOptions,
    AlignmentResult,
    LegAlignment,
    LegLandmarks,
    MetricValue,
)

__all__ = [
    "METRIC_NAMES",
    "AlignmentOptions",
    "AlignmentResult",
    "LegAlignment",
    "LegLandmarks",
    "MetricValue",
    "align_label_map",
    "cora_crossing",
    "hka_deviation_deg",
    "with_femoral_head_apex",
]
