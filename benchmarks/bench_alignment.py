"""Alignment timing: 100 x 5000 Monte Carlo on a bilateral 1024 x 2048 phantom, one thread.

Usage::

    python benchmarks/bench_alignment.py [--runs 5] [--seed 0] [--draws 100] [--samples 5000]

Prints the median (and min / max) wall time of ``align_label_map`` over ``--runs`` runs after one
warm-up run, the peak Python-heap memory of one run (``tracemalloc``) and the process's peak
resident set size (``resource.getrusage``). BLAS / OpenMP threads are pinned to 1 before numpy is
imported.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from inference.core.alignment import align_label_map  # noqa: E402
from inference.core.labelme_alignment import labelme_joints  # noqa: E402
from inference.core.phantom import generate_phantom  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--samples", type=int, default=5000)
    args = ap.parse_args(argv)

    ph = generate_phantom(seed=args.seed, legs=2)
    label_map = ph.label_map
    legs = labelme_joints(ph.labelme, width=label_map.shape[1])
    counts = {int(v): int(c) for v, c in zip(*np.unique(label_map, return_counts=True))}

    def run() -> None:
        align_label_map(label_map, legs, n_draws=args.draws, n_samples=args.samples, seed=args.seed)

    run()  # warm-up (imports, caches)
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, threads pinned to 1")
    print(f"image {label_map.shape[1]}x{label_map.shape[0]}, legs {len(legs)}, femur px {counts.get(1, 0)}, "
          f"tibia px {counts.get(2, 0)}, Monte Carlo {args.draws} x {args.samples}")
    print(f"alignment time over {args.runs} runs: median {statistics.median(times):.3f} s "
          f"(min {min(times):.3f}, max {max(times):.3f})")
    print(f"peak traced memory (tracemalloc) {peak / 2**20:.1f} MiB; peak RSS of the process {rss_kib / 1024:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
