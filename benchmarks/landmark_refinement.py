"""Benchmark: the leg localiser's femoral-head apex and plafond centre, alone and after the landmark refiner.

On a held-out EOS fold (the shipped localiser and refiner never saw fold 0) prints legs found with the
right side, box IoU and apex / ankle error in mm (median, p90), first from the localiser alone, then with
each landmark refined (:mod:`inference.backends.landmark_refiner`).

Usage::

    python benchmarks/landmark_refinement.py --ensemble models/starter --fold 0
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import shared_data_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ensemble", type=Path, default=Path("models/starter"))
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from inference.backends import landmark_refiner, leg_localiser
    from training.starter import evaluate_localiser

    torch.set_num_threads(args.threads)
    manifest = json.loads((args.ensemble / "ensemble.json").read_text())
    if not manifest.get("landmark_refiner"):
        raise SystemExit(f"{args.ensemble} has no landmark refiner")
    data = shared_data_dir()
    localiser = leg_localiser.load(args.ensemble / manifest["localiser"])
    refiner = landmark_refiner.load(args.ensemble / manifest["landmark_refiner"])
    print(json.dumps({"localiser": evaluate_localiser(localiser, data, fold=args.fold),
                      "refined": evaluate_localiser(localiser, data, fold=args.fold, refiner=refiner)}, indent=2))


if __name__ == "__main__":
    main()
