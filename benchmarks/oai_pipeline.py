"""Benchmark: the whole per-leg pipeline on the OAI long-leg crops, held out: bone IOU, HKA, legs found.

Each OAI crop is predicted by ``run_ensemble`` exactly as ``predict`` does (leg localiser, normalised
crop, members, stacking, back onto the 128 x 1024 grid, alignment), but with only the members of the
fold that did **not** train on it (the starter's 2 folds; stackers of that fold), so every figure is
held out. Compared with the crop's outlines and with joints derived from them
(``inference/core/joints_from_masks/``, as in docs/accuracy.md): femur / tibia IOU, |HKA error|, legs
found with the right side (all are patient-right legs), and time per image.

Usage::

    python benchmarks/oai_pipeline.py --ensemble models/starter [--limit N] [--out results.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import shared_data_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ensemble", type=Path, default=Path("models/starter"))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import torch

    from inference.core.legs import FEMUR, TIBIA, LegJoints
    from inference.core.metrics import hka_abs_error, iou
    from inference.ensemble_store import load_ensemble, read_manifest
    from inference.pipeline import run_ensemble
    from training.core.datasets import load_labelme_folder

    torch.set_num_threads(args.threads)
    directory = args.ensemble.resolve()
    manifest = read_manifest(directory)
    fold_of = {name: fold["fold"] for fold in manifest["folds"] for name in fold["test"]}
    full = load_ensemble(directory, device="cpu")
    held_out = {f: dataclasses.replace(full, folds=[full.folds[f]], femur_tables=full.femur_tables[f:f + 1],
                                       tibia_tables=full.tibia_tables[f:f + 1],
                                       keypoint_weights=full.keypoint_weights)
                for f in range(len(full.folds))}
    samples = [s for s in load_labelme_folder(shared_data_dir() / "oai-longleg-seg", group_pattern=r"^([^_]+)")
               if s.name in fold_of][: args.limit]
    femur, tibia, hka, seconds = [], [], [], []
    found = right_side = 0
    for sample in samples:
        result = run_ensemble(sample.image, held_out[fold_of[sample.name]], image_name=f"{sample.name}.jpg")
        seconds.append(result.timings["total"])
        femur.append(iou(result.label_map, sample.label_map, FEMUR))
        tibia.append(iou(result.label_map, sample.label_map, TIBIA))
        legs = result.alignment.legs
        if legs:
            found += 1
            right_side += legs[0].anatomical_side == "right"
            if np.all(np.isfinite(sample.joints_xy[0])):
                hka.append(float(hka_abs_error(legs[0].joints, LegJoints.from_array(sample.joints_xy[0])).abs_error_deg))

    def stats(values: list[float], digits: int = 4) -> dict[str, float | None]:
        if not values:
            return {"mean": None, "median": None, "p10": None, "p90": None}
        return {"mean": round(float(np.mean(values)), digits), "median": round(float(np.median(values)), digits),
                "p10": round(float(np.percentile(values, 10)), digits),
                "p90": round(float(np.percentile(values, 90)), digits)}

    report = {"ensemble": str(args.ensemble), "images": len(samples), "legs_found": found,
              "right_side": right_side, "femur_iou": stats(femur), "tibia_iou": stats(tibia),
              "hka_abs_error_deg": stats(hka, 3), "seconds_per_image": stats(seconds, 3), "threads": args.threads}
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
