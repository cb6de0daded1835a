"""Training samples in the members' per-leg geometry (:mod:`inference.core.leg_crops`).

Phantom legs (single and bilateral) are cut out with their own truth landmarks, mirrored to a right
leg when they are the patient's left, CLAHE-enhanced like the OAI crops and given their exact joints;
the OAI crops are already in that geometry and are used as they are. Also the truth the leg
localiser is trained on: per leg the femoral-head apex and the plafond centre, keyed by patient side.
Django- and torch-free (the localiser's sample record is a plain dataclass).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from inference.core.leg_crops import clahe, leg_crop_from_landmarks
from inference.core.leg_localisation import LocaliserSample
from inference.core.legs import FEMUR
from inference.core.phantom import Phantom, generate_phantom
from training.core.datasets import TrainingSample

__all__ = [
    "LegTruth", "eos_leg_truths", "femoral_head_apex", "localiser_samples", "phantom_leg_samples", "phantom_leg_truths",
]


@dataclass(frozen=True)
class LegTruth:
    """One leg's localisation truth: patient side, femoral-head apex and plafond centre ``(x, y)``."""

    anatomical_side: str
    apex_xy: tuple[float, float]
    ankle_xy: tuple[float, float]


def femoral_head_apex(label_map: NDArray[np.integer], column_range: tuple[int, int] | None = None
                      ) -> NDArray[np.float64] | None:
    """The most proximal femur pixel centre (mean column of the top femur row) within ``column_range``."""
    lo, hi = column_range or (0, label_map.shape[1])
    femur = np.asarray(label_map[:, lo:hi]) == FEMUR
    rows = np.flatnonzero(femur.any(axis=1))
    if not len(rows):
        return None
    top = rows[0]
    return np.array([lo + float(np.flatnonzero(femur[top]).mean()) + 0.5, top + 0.5])


def _leg_columns(phantom: Phantom) -> list[tuple[int, int]]:
    legs = phantom.truth["legs"]
    width = phantom.image.shape[1]
    if len(legs) == 1:
        return [(0, width)]
    hips = sorted(float(leg["joints"]["hip"][0]) for leg in legs)
    mid = int(round(0.5 * (hips[0] + hips[1] + 0.0)))
    return [(0, mid), (mid, width)] if legs[0]["image_side"] == "left" else [(mid, width), (0, mid)]


def phantom_leg_truths(phantom: Phantom) -> list[LegTruth]:
    """Localisation truth of every leg of a phantom."""
    truths = []
    for leg, columns in zip(phantom.truth["legs"], _leg_columns(phantom), strict=True):
        apex = femoral_head_apex(phantom.label_map, columns)
        if apex is None:
            continue
        truths.append(LegTruth(leg["anatomical_side"], (float(apex[0]), float(apex[1])),
                               tuple(float(v) for v in leg["joints"]["ankle"])))  # type: ignore[arg-type]
    return truths


def phantom_leg_samples(seeds: Sequence[int], *, legs: int, low_snr_every: int = 3) -> list[TrainingSample]:
    """One canonical crop per phantom leg, with its exact label map and joints (group = phantom)."""
    samples = []
    for seed in seeds:
        phantom = generate_phantom(seed=seed, legs=legs, low_snr=low_snr_every > 0 and seed % low_snr_every == 0)
        for leg, columns, truth in zip(phantom.truth["legs"], _leg_columns(phantom), phantom_leg_truths(phantom),
                                       strict=False):
            crop = leg_crop_from_landmarks(np.array(truth.apex_xy), np.array(truth.ankle_xy),
                                           mirrored=truth.anatomical_side == "left")
            own = np.zeros_like(phantom.label_map)
            own[:, columns[0]:columns[1]] = phantom.label_map[:, columns[0]:columns[1]]
            joints = np.array([leg["joints"][name] for name in ("hip", "knee", "ankle")], dtype=np.float64)
            samples.append(TrainingSample(
                name=f"{phantom.stem}_{leg['image_side']}", image=clahe(crop.cut(phantom.image)),
                label_map=crop.cut_labels(own), joints_xy=crop.to_crop(joints)[np.newaxis], group=phantom.stem,
            ))
    return samples


def eos_leg_truths(eos_dir: Path) -> list[tuple[str, Path, float, list[LegTruth]]]:
    """``(id, png path, pixel spacing mm, legs)`` of every EOS image in ``landmarks.csv``."""
    rows = []
    with (eos_dir / "landmarks.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            legs = [LegTruth(side, (float(row[f"{p}_femhead_apex_x"]), float(row[f"{p}_femhead_apex_y"])),
                             (float(row[f"{p}_ankle_plafond_center_x"]), float(row[f"{p}_ankle_plafond_center_y"])))
                    for side, p in (("right", "R"), ("left", "L"))]
            rows.append((row["id"], eos_dir / row["png"], float(row["pixel_spacing_mm"]), legs))
    return rows


def localiser_samples(shared_data: Path, *, eos_ids: Sequence[str] | None = None, n_pairs: int = 120,
                      phantom_seeds: Sequence[int] = range(7000, 7030), seed: int = 0) -> list[LocaliserSample]:
    """The leg localiser's training images: EOS (``eos_ids`` or all), OAI crops, OAI pairs, phantoms.

    OAI pairs are two crops side by side, the second mirrored into a left leg: a bilateral adult image.
    """
    from PIL import Image

    from training.core.datasets import load_labelme_folder

    samples: list[LocaliserSample] = []
    for image_id, png, _spacing, legs in eos_leg_truths(shared_data / "eos-pediatric"):
        if eos_ids is not None and image_id not in eos_ids:
            continue
        image = np.asarray(Image.open(png).convert("L"))
        samples.append(LocaliserSample(f"eos_{image_id}", image, {leg.anatomical_side: (leg.apex_xy, leg.ankle_xy)
                                                                   for leg in legs}, group=f"eos_{image_id}"))
    oai = []
    for sample in load_labelme_folder(shared_data / "oai-longleg-seg", group_pattern=r"^([^_]+)"):
        apex = femoral_head_apex(sample.label_map)
        ankle = sample.joints_xy[0, 2]
        if apex is None or not np.all(np.isfinite(ankle)):
            continue
        oai.append((sample, (float(apex[0]), float(apex[1])), (float(ankle[0]), float(ankle[1]))))
        samples.append(LocaliserSample(f"oai_{sample.name}", sample.image, {"right": oai[-1][1:]},
                                       group=sample.group))
    rng = np.random.default_rng(seed)
    for _ in range(n_pairs if oai else 0):
        (a, a_apex, a_ankle), (b, b_apex, b_ankle) = (oai[i] for i in rng.choice(len(oai), 2, replace=False))
        w = a.image.shape[1]
        image = np.concatenate([a.image, b.image[:, ::-1]], axis=1)
        mirror = (lambda p: (2 * w - p[0], p[1]))  # noqa: E731 - b's x mirrored into the right half
        samples.append(LocaliserSample(f"pair_{a.name}_{b.name}", image,
                                       {"right": (a_apex, a_ankle), "left": (mirror(b_apex), mirror(b_ankle))},
                                       group=f"{a.group}+{b.group}"))
    for index, phantom_seed in enumerate(phantom_seeds):
        phantom = generate_phantom(seed=phantom_seed, legs=1 + index % 2, low_snr=index % 3 == 0)
        legs = {t.anatomical_side: (t.apex_xy, t.ankle_xy) for t in phantom_leg_truths(phantom)}
        samples.append(LocaliserSample(phantom.stem, phantom.image, legs, group=phantom.stem))
    return samples
