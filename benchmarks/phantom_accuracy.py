"""Phantom accuracy: align each synthetic phantom on its own LabelMe truth and compare with truth.json.

Usage::

    python benchmarks/phantom_accuracy.py [--n 200] [--seed 0] [--out DIR] [--low-snr] [--shaft-fit pca|ols]

Generates ``--n`` random phantoms (alternating bilateral 1024x2048 and single-leg 512x1024, with
deformities), writes them with ``write_phantom_set`` into ``--out`` (a temporary folder by default),
runs ``align_labelme_document`` on every ``<stem>.json`` (100 x 5000 Monte Carlo) and prints, per
metric, the median and 95th percentile of ``|measured - truth|`` and the number of null values.
When ``--out`` already holds the phantoms of a previous run (same ``--n``/``--seed``), they are reused.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from inference.core.alignment import METRIC_NAMES  # noqa: E402
from inference.core.labelme_alignment import align_labelme_document  # noqa: E402
from inference.core.phantom import write_phantom_set  # noqa: E402


def compare(truth: dict, measured: dict) -> dict[str, list[float | None]]:
    """Per metric, the list of ``|measured - truth|`` over legs (``None`` where measured is null)."""
    out: dict[str, list[float | None]] = {name: [] for name in METRIC_NAMES}
    for t_leg, m_leg in zip(truth["legs"], measured["legs"]):
        if t_leg["image_side"] != m_leg["image_side"]:
            raise AssertionError("leg order differs between truth and measurement")
        for name in METRIC_NAMES:
            tv, mv = t_leg["metrics"][name], m_leg["metrics"][name]
            out[name].append(None if mv is None or tv is None else abs(mv["value"] - tv["value"]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--low-snr", action="store_true")
    ap.add_argument("--worst", type=int, default=0, help="also list the N worst legs per metric")
    ap.add_argument("--shaft-fit", choices=("pca", "ols"), default="pca")
    args = ap.parse_args(argv)

    tmp = None
    out_dir = args.out
    if out_dir is None:
        tmp = tempfile.TemporaryDirectory()
        out_dir = Path(tmp.name)
    n2 = (args.n + 1) // 2
    n1 = args.n - n2
    t0 = time.perf_counter()
    expected = [out_dir / f"phantom_s{args.seed}_{legs}leg_{i:04d}.json" for legs, n in ((2, n2), (1, n1)) for i in range(n)]
    if (out_dir / "truth.json").exists() and all(p.exists() for p in expected):
        paths, t_gen = expected, None
    else:
        paths = write_phantom_set(out_dir, n=n2, seed=args.seed, legs=2, low_snr=args.low_snr)
        paths += write_phantom_set(out_dir, n=n1, seed=args.seed, legs=1, low_snr=args.low_snr)
        t_gen = time.perf_counter() - t0
    truth = json.loads((out_dir / "truth.json").read_text())

    errors: dict[str, list[float | None]] = {name: [] for name in METRIC_NAMES}
    where: dict[str, list[str]] = {name: [] for name in METRIC_NAMES}
    t0 = time.perf_counter()
    n_legs = 0
    for path in paths:
        doc = json.loads(path.read_text())
        res = align_labelme_document(doc, seed=0, shaft_fit=args.shaft_fit).to_json()
        errs = compare(truth[path.stem], res)
        for name, vals in errs.items():
            errors[name].extend(vals)
            where[name].extend(f"{path.stem}#{i}" for i in range(len(vals)))
        n_legs += len(res["legs"])
    t_align = time.perf_counter() - t0

    print(f"phantoms: {len(paths)} ({n2} bilateral 1024x2048, {n1} single-leg 512x1024), legs: {n_legs}")
    gen = "reused" if t_gen is None else f"{t_gen:.1f} s"
    print(f"shaft fit {args.shaft_fit}; generation {gen}, alignment {t_align:.1f} s "
          f"({t_align / max(len(paths), 1):.2f} s per image, LabelMe rasterising included)")
    print()
    print("| metric | unit | median abs error | p95 abs error | max abs error | null |")
    print("|---|---|---|---|---|---|")
    for name in METRIC_NAMES:
        vals = np.array([v for v in errors[name] if v is not None], dtype=float)
        n_null = sum(v is None for v in errors[name])
        unit = "px" if name == "MAD" else "deg"
        if vals.size:
            med, p95, mx = np.median(vals), np.percentile(vals, 95), vals.max()
            print(f"| {name} | {unit} | {med:.3f} | {p95:.3f} | {mx:.3f} | {n_null} |")
        else:
            print(f"| {name} | {unit} | - | - | - | {n_null} |")
        if args.worst:
            order = np.argsort([-(v if v is not None else np.inf) for v in errors[name]])[: args.worst]
            print("    worst:", ", ".join(f"{where[name][i]}={errors[name][i]}" for i in order))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
