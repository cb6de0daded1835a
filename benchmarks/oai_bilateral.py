"""Benchmark: both legs of bilateral adult images made from held-out OAI crops, at radiograph size.

Each OAI crop is the image-left half of a bilateral radiograph (patient right). Two held-out crops side
by side, the second mirrored into a left leg, rebuild a bilateral adult image (the OAI pairs the localiser
trains on, but of crops the starter never saw); it is enlarged ``--scale`` times (bicubic) to a
radiograph's size and predicted by ``run_ensemble`` as ``predict`` does, without a side given. Prints
legs found with the right side and |HKA error| against the joints derived from the crops' outlines.

Usage::

    python benchmarks/oai_bilateral.py --ensemble models/starter --scale 3
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import shared_data_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ensemble", type=Path, default=Path("models/starter"))
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from inference.core.legs import LegJoints
    from inference.core.metrics import hka_abs_error
    from inference.ensemble_store import load_ensemble, read_manifest
    from inference.pipeline import run_ensemble
    from training.core.datasets import load_labelme_folder

    torch.set_num_threads(args.threads)
    directory = args.ensemble.resolve()
    held_out = {name for fold in read_manifest(directory)["folds"] for name in fold["test"]}
    ensemble = load_ensemble(directory, device="cpu")
    samples = [s for s in load_labelme_folder(shared_data_dir() / "oai-longleg-seg", group_pattern=r"^([^_]+)")
               if s.name in held_out]
    errors, found, seconds = [], 0, []
    for index, right in enumerate(samples):
        left = samples[(index + 1) % len(samples)]
        width = right.image.shape[1]
        image = np.concatenate([right.image, left.image[:, ::-1]], axis=1)
        size = (round(image.shape[1] * args.scale), round(image.shape[0] * args.scale))
        image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))
        result = run_ensemble(image, ensemble, image_name=f"{right.name}+{left.name}.png")
        seconds.append(result.timings["total"])
        mirrored = np.column_stack([2 * width - 1 - left.joints_xy[0][:, 0], left.joints_xy[0][:, 1]])
        truth = {"right": right.joints_xy[0] * args.scale, "left": mirrored * args.scale}
        measured = {leg.anatomical_side: leg for leg in result.alignment.legs}
        for side, joints in truth.items():
            if side not in measured:
                continue
            found += 1
            if np.all(np.isfinite(joints)):
                errors.append(float(hka_abs_error(measured[side].joints, LegJoints.from_array(joints)).abs_error_deg))
    report = {"images": len(samples), "size": list(image.shape), "legs": 2 * len(samples), "found_with_side": found,
              "hka_abs_error_deg": {"mean": round(float(np.mean(errors)), 3),
                                    "median": round(float(np.median(errors)), 3),
                                    "p90": round(float(np.percentile(errors, 90)), 3), "legs": len(errors)},
              "seconds_per_image_median": round(float(np.median(seconds)), 2)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
