"""Live-angles timing: ``align_labelme_document`` on a bilateral 1024 x 2048 phantom, one thread.

Usage::

    python benchmarks/bench_align_document.py [--runs 30] [--seed 0] [--legs 2] [--draws 100] [--samples 5000]

This is the work behind ``POST /api/align/``: fill the document's bone polygons, read its joints and
derive the alignment. Prints the median (and min / max) wall time and the median process CPU time
over ``--runs`` runs after one warm-up run, for the whole call and for the polygon fill alone
(``rasterize_labelme_bones``). CPU time is the steadier figure on a shared machine. BLAS / OpenMP
threads are pinned to 1 before numpy is imported.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from inference.core.labelme_alignment import align_labelme_document, rasterize_labelme_bones  # noqa: E402
from inference.core.phantom import generate_phantom  # noqa: E402


def _times_ms(fn: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    """Wall and process-CPU milliseconds of ``runs`` calls after one warm-up call."""
    fn()  # warm-up (imports, caches)
    wall, cpu = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(1e3 * (time.perf_counter() - w0))
        cpu.append(1e3 * (time.process_time() - c0))
    return wall, cpu


def _line(name: str, times: tuple[list[float], list[float]]) -> str:
    wall, cpu = times
    return (f"{name}: median {statistics.median(wall):.1f} ms wall (min {min(wall):.1f}, max {max(wall):.1f}), "
            f"median {statistics.median(cpu):.1f} ms CPU")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--legs", type=int, default=2, choices=(1, 2))
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--samples", type=int, default=5000)
    args = ap.parse_args(argv)

    doc = generate_phantom(seed=args.seed, legs=args.legs).labelme
    height, width = int(doc["imageHeight"]), int(doc["imageWidth"])

    total = _times_ms(lambda: align_labelme_document(doc, n_draws=args.draws, n_samples=args.samples), args.runs)
    fill = _times_ms(lambda: rasterize_labelme_bones(doc, height=height, width=width), args.runs)
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    print(f"phantom seed {args.seed}, {args.legs} leg(s), {width} x {height}, "
          f"{args.draws} x {args.samples} Monte Carlo, {args.runs} runs")
    print(_line("align_labelme_document", total))
    print(_line("rasterize_labelme_bones", fill))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
