"""Benchmark: train a whole named ensemble config (every member x every fold, nested stacking) without Django.

This is ``python manage.py train`` minus the database: the same :func:`training.ensemble_training.train_ensemble`
on LabelMe folders, for a GPU host or any machine that has the model stack but not the web application.
It prints the Table II layout (per-member, majority and stacking IOU), the key-point table (NED, PCK,
|HKA error| per member and for the weighted key-point ensemble) and the wall time, and leaves the
trained ensemble folder (``ensemble.json`` + one artifact per member and fold) under ``--out``.

Usage::

    python benchmarks/train_ensemble.py --config default --device cuda --workers 4 --out var/ens-gpu
    python benchmarks/train_ensemble.py --config tiny --out /tmp/ens-tiny
    python benchmarks/train_ensemble.py --config default --seg-set epochs=40 --kp-set max_seconds=null

``--data`` defaults to ``<repo>/../shared/data/oai-longleg-seg`` (``ENLLASD_SHARED_DATA`` overrides
``<repo>/../shared/data``); images are grouped into patients by ``--group-pattern`` (group 1 of a regex on
the file stem). ``--seg-set``/``--kp-set KEY=JSON`` override a parameter of every segmentation/key-point
member. ``--workers N`` trains N folds at once in separate processes.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported anywhere
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import shared_data_dir  # noqa: E402
from training.configs import CONFIG_NAMES, ensemble_config  # noqa: E402
from training.core.datasets import load_labelme_folder  # noqa: E402
from training.ensemble_training import train_ensemble  # noqa: E402


def _overrides(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"expected KEY=JSON, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _with(specs: tuple, params: dict[str, Any]) -> tuple:
    return tuple(dataclasses.replace(s, params={**s.params, **params}) for s in specs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=CONFIG_NAMES, default="default")
    parser.add_argument("--data", type=Path, action="append", help="LabelMe folder (repeatable)")
    parser.add_argument("--group-pattern", default=r"^([^_]+)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--workers", type=int, default=1, help="folds trained at once (processes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seg-set", action="append", default=[], metavar="KEY=JSON")
    parser.add_argument("--kp-set", action="append", default=[], metavar="KEY=JSON")
    parser.add_argument("--no-keypoints", action="store_true", help="segmentation members only")
    args = parser.parse_args(argv)

    config = ensemble_config(args.config, seed=args.seed)
    config = dataclasses.replace(
        config,
        segmentation=_with(config.segmentation, _overrides(args.seg_set)),
        keypoint=() if args.no_keypoints else _with(config.keypoint, _overrides(args.kp_set)),
    )
    samples = []
    for folder in args.data or [shared_data_dir() / "oai-longleg-seg"]:
        samples.extend(load_labelme_folder(folder, group_pattern=args.group_pattern))
    print(f"{len(samples)} images, config {config.name}: {len(config.segmentation)} segmentation + "
          f"{len(config.keypoint)} key-point members x {config.n_folds} folds, device {args.device}, "
          f"{args.workers} fold worker(s)", flush=True)

    last_line = [0.0]

    def progress(event: dict[str, Any]) -> None:
        now = time.monotonic()
        if event.get("stage") != "train" or event.get("epoch") == event.get("epochs") or now - last_line[0] > 30:
            last_line[0] = now
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in event.items()),
                  flush=True)

    started = time.monotonic()
    manifest = train_ensemble(samples, config, out_dir=args.out, device=args.device, progress=progress,
                              workers=args.workers)
    wall = time.monotonic() - started
    evaluation = manifest["evaluation"]
    print("\nTable II layout (held-out pooled IOU, mean ± sd over (fold, part) cells):")
    print(evaluation["table_ii"])
    print("\nKey points (held-out, pooled over folds):")
    for name, row in evaluation["keypoints"].items():
        if row["n_legs"]:
            print(f"  {name:28s} NED median {row['ned_median']:.4f}  PCK {row['pck']}  "
                  f"|HKA err| mean {row['hka_abs_error_mean_deg']:.3f}° median {row['hka_abs_error_median_deg']:.3f}° "
                  f"(n={row['n_legs']})")
    print(f"\nkey-point weights: {manifest['keypoint_weights']}")
    print(f"wall time {wall:.0f} s; ensemble folder {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
