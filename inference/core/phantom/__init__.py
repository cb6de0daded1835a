"""Synthetic AP long-leg radiographs with exact construction truth.

Every bone is built from primitives whose geometry fixes the alignment angles (conventions of
:mod:`inference.core.legs` and :mod:`inference.core.geometry`; metric definitions of
:mod:`inference.core.alignment`):

* **Femur**: head circle centred on the hip H; neck band from the neck/shaft crossing X to H at the
  chosen NSA against the proximal shaft axis; proximal and distal shaft bands meeting at the femoral
  CORA (optional angulation); a distal metaphysis that is symmetric about the distal shaft axis; two
  equal condyle circles whose common lower tangent is the distal femoral joint line, built at the
  chosen mLDFA against ``H - N``; a greater-trochanter cap whose top is the GT tip.
* **Tibia**: a flat plateau through the knee N (plateau centre) at the chosen MPTA, with two small
  spines in the middle; proximal and distal shaft bands meeting at the tibial CORA (optional); a flat
  plafond centred on the ankle A at the chosen mLDTA; a medial malleolus.
* Image-only structures: fibula, patella, pelvis, soft tissue, noise (``low_snr`` for a noisy,
  low-contrast variant). Legs may differ in length.

Shapes are signed-distance functions; the LabelMe polygons are their zero contours
(``skimage.measure.find_contours`` on pixel centres, simplified to 0.1 px), and the label map is those
polygons filled with the pixel-centre rule, exactly as :mod:`inference.core.labelme_alignment` fills
them. The CORA of a bone is placed at the distance from the reference point that separates the
alignment's proximal and distal shaft sets, so the §5.4/5.5 fits see straight segments.

Truth (``Phantom.truth``) follows the alignment JSON contract; every metric has
``value`` = constructed value, ``sd`` 0 and ``p2_5 = p97_5 = value``. ``pixel_spacing_mm`` is null
there (MAD in px, like an alignment of the LabelMe document without spacing); the spacing used for
the construction is :attr:`Phantom.pixel_spacing_mm`.

Modules
-------
* :mod:`~inference.core.phantom.params`: construction parameters and image sizes.
* :mod:`~inference.core.phantom.random_params`: random, clinically plausible parameters.
* :mod:`~inference.core.phantom.primitives`: signed-distance primitives, their pixel grids and outlines.
* :mod:`~inference.core.phantom.leg_axes`: directions of a leg from its angles.
* :mod:`~inference.core.phantom.leg_build`: the primitives and exact truth of one leg.
* :mod:`~inference.core.phantom.documents`: the truth document and the LabelMe document.
* :mod:`~inference.core.phantom.rendering`: the radiograph itself.
* :mod:`~inference.core.phantom.generation`: :func:`generate_phantom`, one phantom.
* :mod:`~inference.core.phantom.sets`: :func:`write_phantom_set` and the demo's seeds.
"""

from __future__ import annotations

from inference.core.phantom.documents import LABELME_VERSION  # noqa: F401 - public but outside __all__, as before the split
from inference.core.phantom.generation import Phantom, generate_phantom
from inference.core.phantom.params import LegParams, PhantomParams
from inference.core.phantom.random_params import random_phantom_params
from inference.core.phantom.sets import (
    DEMO_PER_KIND,
    DEMO_REVIEW_PER_KIND,
    DEMO_REVIEW_SEED,
    DEMO_SEED,
    write_phantom_set,
)

__all__ = [
    "DEMO_PER_KIND",
    "DEMO_REVIEW_PER_KIND",
    "DEMO_REVIEW_SEED",
    "DEMO_SEED",
    "LegParams",
    "Phantom",
    "PhantomParams",
    "generate_phantom",
    "random_phantom_params",
    "write_phantom_set",
]
