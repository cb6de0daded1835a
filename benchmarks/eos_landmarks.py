"""Benchmark: the starter ensemble on held-out pediatric EOS radiographs: landmarks and lengths in mm.

Runs :func:`inference.pipeline.run_ensemble` (leg localiser, per-leg crops, members, alignment) on
every image of EOS fold ``--fold`` (4 patient-grouped folds, ``training.starter.eos_folds``; the
shipped localiser never saw fold 0, the members never saw any EOS image) with the image's pixel
spacing, and compares with the data set's landmarks (``../shared/data/eos-pediatric/landmarks.csv``):

* legs found with the right patient side;
* ankle (our ankle joint = plafond centre), femoral-head apex and medial knee joint line error, mm;
* leg length (apex to plafond centre) error and leg-length discrepancy (right - left) error, mm;
* wall time per stage (median over the images);
* a plausibility check of the angles, which the data set does not annotate: median mLPFA, mLDFA, MPTA
  and mLDTA and how many legs fall outside 70-110 degrees (children's normal ranges are about 85-95).

Usage::

    python benchmarks/eos_landmarks.py --ensemble models/starter --fold 0 [--limit N] [--out results.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import shared_data_dir  # noqa: E402


def _summary(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "median": None, "p90": None, "mean": None}
    return {"n": len(values), "median": round(float(np.median(values)), 2),
            "p90": round(float(np.percentile(values, 90)), 2), "mean": round(float(np.mean(values)), 2)}


PLAUSIBILITY_ANGLES = ("mLPFA", "mLDFA", "MPTA", "mLDTA")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ensemble", type=Path, default=Path("models/starter"))
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import torch

    from inference.ensemble_store import load_ensemble
    from inference.pipeline import run_ensemble
    from training.core.leg_samples import eos_leg_truths
    from training.starter import EOS_FOLDER, eos_folds

    torch.set_num_threads(args.threads)
    data = shared_data_dir()
    ids, folds = eos_folds(data)
    held_out = {ids[i] for i in folds.test_indices(args.fold)}
    rows = [row for row in eos_leg_truths(data / EOS_FOLDER) if row[0] in held_out][: args.limit]
    import csv

    with (data / EOS_FOLDER / "landmarks.csv").open(newline="") as handle:
        truth_table = {row["id"]: row for row in csv.DictReader(handle)}

    ensemble = load_ensemble(args.ensemble.resolve(), device="cpu")
    errors: dict[str, list[float]] = {k: [] for k in ("ankle", "femoral_head_apex", "medial_knee_joint_line",
                                                      "leg_length", "lld")}
    timings: dict[str, list[float]] = {}
    angles: dict[str, list[float]] = {name: [] for name in PLAUSIBILITY_ANGLES}
    legs_total = legs_found = 0
    started = time.perf_counter()
    for image_id, png, spacing, _legs in rows:
        image = np.asarray(Image.open(png).convert("L"))
        result = run_ensemble(image, ensemble, image_name=png.name, pixel_spacing_mm=spacing)
        for stage, seconds in result.timings.items():
            timings.setdefault(stage, []).append(seconds)
        out = result.alignment.to_json()
        row = truth_table[image_id]
        by_side = {leg["anatomical_side"]: leg for leg in out["legs"]}
        truth_lengths = {}
        for side, prefix in (("right", "R"), ("left", "L")):
            legs_total += 1
            apex = np.array([float(row[f"{prefix}_femhead_apex_x"]), float(row[f"{prefix}_femhead_apex_y"])])
            knee = np.array([float(row[f"{prefix}_knee_medial_jointline_x"]), float(row[f"{prefix}_knee_medial_jointline_y"])])
            ankle = np.array([float(row[f"{prefix}_ankle_plafond_center_x"]), float(row[f"{prefix}_ankle_plafond_center_y"])])
            truth_lengths[side] = float(np.linalg.norm(ankle - apex)) * spacing
            leg = by_side.get(side)
            if leg is None:
                continue
            legs_found += 1
            for name in PLAUSIBILITY_ANGLES:
                if leg["metrics"].get(name):
                    angles[name].append(float(leg["metrics"][name]["value"]))
            errors["ankle"].append(float(np.linalg.norm(np.array(leg["joints"]["ankle"]) - ankle)) * spacing)
            for name, truth in (("femoral_head_apex", apex), ("medial_knee_joint_line", knee)):
                point = leg["landmarks"].get(name)
                if point is not None:
                    errors[name].append(float(np.linalg.norm(np.array(point) - truth)) * spacing)
            length = (leg["metrics"].get("leg_length") or {}).get("value")
            if length is not None:
                errors["leg_length"].append(abs(float(length) - truth_lengths[side]))
        if out.get("lld") is not None:
            errors["lld"].append(abs(out["lld"]["value"] - (truth_lengths["right"] - truth_lengths["left"])))
    report = {
        "ensemble": str(args.ensemble), "fold": args.fold, "images": len(rows),
        "legs": legs_total, "legs_found_with_side": legs_found,
        "errors_mm": {name: _summary(values) for name, values in errors.items()},
        "angles_deg": {name: {"median": round(float(np.median(v)), 1) if v else None, "legs": len(v),
                              "outside_70_110": int(sum(not 70.0 <= a <= 110.0 for a in v))}
                       for name, v in angles.items()},
        "seconds_per_image": {stage: round(float(np.median(v)), 3) for stage, v in timings.items()},
        "wall_s": round(time.perf_counter() - started, 1), "threads": args.threads,
    }
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
