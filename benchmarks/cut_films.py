"""Benchmark: films cut at the ankle or the hip (issue 24, item 5) on held-out pediatric EOS radiographs.

Each image of EOS fold ``--fold`` (never seen by the shipped localiser) is run three times through
:func:`inference.pipeline.run_ensemble`: whole; cut ``--margin`` of the leg's length above the higher plafond
(the ankles out of view); cut ``--hip-margin`` below the lower femoral-head apex (the heads cut). For each it
prints the legs found, how many got an HKA, how many were reported with the ankle or the hip outside the image,
and how many kept mLDFA (an angle of the anatomy in view).

Usage::

    python benchmarks/cut_films.py --ensemble models/starter --fold 0 [--limit N]
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
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--margin", type=float, default=0.04, help="cut this share of the leg above the plafond")
    parser.add_argument("--hip-margin", type=float, default=0.06, help="cut this share of the leg below the apex")
    parser.add_argument("--threads", type=int, default=2)
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
    ensemble = load_ensemble(args.ensemble.resolve(), device="cpu")
    stats: dict[str, dict[str, int]] = {}
    for _image_id, png, spacing, legs in rows:
        image = np.asarray(Image.open(png).convert("L"))
        length = float(np.mean([leg.ankle_xy[1] - leg.apex_xy[1] for leg in legs]))
        bottom = int(min(leg.ankle_xy[1] for leg in legs) - args.margin * length)
        top = int(max(leg.apex_xy[1] for leg in legs) + args.hip_margin * length)
        for name, view in (("whole", image), ("cut_above_the_ankles", image[:bottom]),
                           ("cut_through_the_hips", image[top:])):
            result = run_ensemble(view, ensemble, image_name=png.name, pixel_spacing_mm=spacing).alignment.to_json()
            row = stats.setdefault(name, dict.fromkeys(("images", "legs", "hka_given", "ankle_outside", "hip_outside",
                                                        "mLDFA_given"), 0))
            row["images"] += 1
            for leg in result["legs"]:
                row["legs"] += 1
                row["hka_given"] += leg["metrics"]["hka_deviation_deg"] is not None
                row["mLDFA_given"] += leg["metrics"]["mLDFA"] is not None
                row["ankle_outside"] += "ankle" not in leg["joints"]
                row["hip_outside"] += "hip" not in leg["joints"]
    print(json.dumps({"ensemble": str(args.ensemble), "fold": args.fold, "margin": args.margin,
                      "hip_margin": args.hip_margin, "results": stats}, indent=2))


if __name__ == "__main__":
    main()
