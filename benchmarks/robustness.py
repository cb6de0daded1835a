"""Benchmark: an ensemble on a bilateral phantom with hospital artefacts, at every size a user may upload.

Cases: the clean phantom; with a ruler, lead side markers, a gonadal shield and a femoral plate
(:mod:`inference.core.radiograph_artifacts`); the same on black borders; and the artefact image
scaled to 256, 512, 1024, 3000, 6000 and 12 000 px tall. Each row: legs found with the right
patient side, |HKA deviation error| per leg against the construction truth, seconds per stage and the
process's peak memory so far (RSS grows monotonically, so read each row as "up to this size").

Usage::

    python benchmarks/robustness.py --ensemble models/starter --seed 2029
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HEIGHTS = (256, 512, 1024, 3000, 6000, 12_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ensemble", type=Path, default=Path("models/starter"))
    parser.add_argument("--seed", type=int, default=2029)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from inference.core.phantom import generate_phantom
    from inference.core.radiograph_artifacts import resized_to_height, with_black_border, with_hospital_artifacts
    from inference.ensemble_store import load_ensemble
    from inference.pipeline import run_ensemble

    torch.set_num_threads(args.threads)
    ensemble = load_ensemble(args.ensemble.resolve(), device="cpu")
    phantom = generate_phantom(seed=args.seed, legs=2)
    truth = {leg["anatomical_side"]: (leg["image_side"], leg["metrics"]["hka_deviation_deg"]["value"])
             for leg in phantom.truth["legs"]}
    artefacts = with_hospital_artifacts(phantom.image, phantom.truth["legs"])
    cases = [("clean", phantom.image), ("artefacts", artefacts),
             ("artefacts + black borders", with_black_border(artefacts, left=300, top=200, right=100, bottom=400))]
    cases += [(f"artefacts, {h} px tall", resized_to_height(artefacts, h)[0]) for h in HEIGHTS]
    run_ensemble(phantom.image, ensemble)  # warm-up: first-call allocations are not the image's cost
    for name, image in cases:
        result = run_ensemble(image, ensemble)
        legs = {leg.anatomical_side: leg for leg in result.alignment.legs}
        found = sum(side in legs and legs[side].image_side == image_side for side, (image_side, _) in truth.items())
        errors = {side: None if side not in legs or legs[side].metrics.get("hka_deviation_deg") is None else
                  round(abs(legs[side].metrics["hka_deviation_deg"].value - value), 2)
                  for side, (_, value) in truth.items()}
        print(json.dumps({"case": name, "shape": list(image.shape), "legs_found_with_side": f"{found}/{len(truth)}",
                          "hka_abs_error_deg": errors, "seconds": result.timings,
                          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}), flush=True)


if __name__ == "__main__":
    main()
