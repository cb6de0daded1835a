"""Benchmark: an ensemble on the demo phantoms (``python manage.py demo``: 4 bilateral + 4 single-leg with
outlines, 2 + 2 to review).

Generates the demo's phantoms (same seeds, both sets: ``inference.core.phantom.DEMO_*``), runs
:func:`inference.pipeline.run_ensemble` on each as an upload is run (no side given) and compares every leg's
HKA deviation, mLDFA, MPTA, mLDTA, mLPFA and NSA with the phantom's construction truth; prints legs found
with the right side, |error| per leg, the median |error| of each angle and the time per image.

Usage::

    python benchmarks/demo_phantoms.py --ensemble models/starter
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ANGLES = ("hka_deviation_deg", "mLDFA", "MPTA", "mLDTA", "mLPFA", "NSA")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ensemble", type=Path, default=Path("models/starter"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import torch

    from inference.core.phantom import (
        DEMO_PER_KIND,
        DEMO_REVIEW_PER_KIND,
        DEMO_REVIEW_SEED,
        DEMO_SEED,
        write_phantom_set,
    )
    from inference.ensemble_store import load_ensemble
    from inference.pipeline import run_ensemble

    torch.set_num_threads(args.threads)
    ensemble = load_ensemble(args.ensemble.resolve(), device="cpu")
    rows, seconds = [], []
    with tempfile.TemporaryDirectory() as tmp:
        sets = ((DEMO_SEED, DEMO_PER_KIND), (DEMO_REVIEW_SEED, DEMO_REVIEW_PER_KIND))  # with outlines, to review
        for (seed, n), legs in itertools.product(sets, (2, 1)):
            folder = Path(tmp) / f"s{seed}_legs{legs}"
            write_phantom_set(folder, n=n, seed=seed + legs, legs=legs)
            truth = json.loads((folder / "truth.json").read_text())
            for stem, expected in truth.items():
                image = np.asarray(Image.open(folder / f"{stem}.png").convert("L"))
                result = run_ensemble(image, ensemble, image_name=f"{stem}.png")
                seconds.append(result.timings["total"])
                measured = {leg.anatomical_side: leg for leg in result.alignment.legs}
                for leg in expected["legs"]:
                    got = measured.get(leg["anatomical_side"])
                    row = {"image": stem, "side": leg["anatomical_side"], "found": got is not None}
                    for name in ANGLES:
                        value = None if got is None or got.metrics.get(name) is None else got.metrics[name].value
                        row[name] = None if value is None else round(abs(value - leg["metrics"][name]["value"]), 2)
                    rows.append(row)
    hka = [r["hka_deviation_deg"] for r in rows if r["hka_deviation_deg"] is not None]
    medians = {name: round(float(np.median([r[name] for r in rows if r[name] is not None])), 2)
               for name in ANGLES if any(r[name] is not None for r in rows)}
    report = {"legs": len(rows), "found_with_side": sum(r["found"] for r in rows), "median_abs_error_deg": medians,
              "hka_abs_error_deg": {"median": round(float(np.median(hka)), 2) if hka else None,
                                    "max": round(float(np.max(hka)), 2) if hka else None,
                                    "within_1_5": int(sum(e <= 1.5 for e in hka))},
              "seconds_per_image_median": round(float(np.median(seconds)), 2), "rows": rows}
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
