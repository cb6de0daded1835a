"""Benchmark: how often a SAM click is labelled with the right bone (issue 26, item 2), on held-out EOS films.

For each image of EOS fold ``--fold`` the shipped starter predicts the legs (:func:`inference.pipeline.run_ensemble`);
clicks are placed on the annotated femur (femoral-head apex to medial knee joint line, 5-95 % of the way) and
tibia (knee joint line to plafond centre, 5-95 %), ``--clicks`` each per leg, and labelled by
:func:`inference.core.click_labels.bone_at` with the predicted knees. The image-half rule that named the bone
before (the returned mask's centre above or below mid-height, applied here to the click itself) is printed
beside it.

Usage::

    python benchmarks/click_labels.py --ensemble models/starter --fold 0 [--limit N] [--clicks 10]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import csv  # noqa: E402
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
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--clicks", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from inference.core.click_labels import bone_at
    from inference.ensemble_store import load_ensemble
    from inference.pipeline import run_ensemble
    from training.starter import EOS_FOLDER, eos_folds

    torch.set_num_threads(args.threads)
    data = shared_data_dir()
    ids, folds = eos_folds(data)
    held_out = {ids[i] for i in folds.test_indices(args.fold)}
    with (data / EOS_FOLDER / "landmarks.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["id"] in held_out][: args.limit]
    ensemble = load_ensemble(args.ensemble.resolve(), device="cpu")
    right = {"knee": 0, "half": 0}
    total = 0
    for row in rows:
        image = np.asarray(Image.open(data / EOS_FOLDER / row["png"]).convert("L"))
        legs = run_ensemble(image, ensemble).alignment.to_json()["legs"]
        for prefix in ("R", "L"):
            apex, knee, ankle = (np.array([float(row[f"{prefix}_{n}_x"]), float(row[f"{prefix}_{n}_y"])])
                                 for n in ("femhead_apex", "knee_medial_jointline", "ankle_plafond_center"))
            for bone, start, end in (("femur", apex, knee), ("tibia", knee, ankle)):
                for t in np.linspace(0.05, 0.95, args.clicks):
                    click = start + t * (end - start)
                    total += 1
                    right["knee"] += bone_at(click, legs) == bone
                    right["half"] += ("femur" if click[1] < image.shape[0] / 2 else "tibia") == bone
    print(json.dumps({"ensemble": str(args.ensemble), "fold": args.fold, "images": len(rows), "clicks": total,
                      "right_by_the_predicted_knee": round(right["knee"] / total, 4),
                      "right_by_the_image_half": round(right["half"] / total, 4)}, indent=2))


if __name__ == "__main__":
    main()
