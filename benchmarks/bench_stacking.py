"""Benchmark: logistic stacking fitted on vote-pattern counts vs scikit-learn's full-pixel fit.

Simulates ``--n-images`` bilateral label maps (default 20 of 2048 rows x 1024 columns) with six
noisy members of different quality (boundary bias and jitter, missing and spurious blobs), then

1. times the pattern-count reduction (:func:`training.core.stacking.fold_pattern_counts`) and the
   weighted fit (:func:`training.core.stacking.fit_stacker`) on all images;
2. times scikit-learn's ``LogisticRegression`` (same C, lbfgs, max_iter, tol, intercept) on the
   full per-pixel design matrix of the same images (``--full-fit-images`` limits it to the first N
   images; the pattern fit is then repeated on exactly that subset for the coefficient check);
3. reports max |Δcoef|, |Δintercept| and the speed-up;
4. runs the nested 4-part scheme on the images as one fold and prints the held-out IOUs of
   stacking, majority (>3) and the members, in the layout of Table II.

Usage::

    python benchmarks/bench_stacking.py                 # the documented run
    python benchmarks/bench_stacking.py --n-images 4 --height 512 --width 256   # quick

Memory: the member maps take ``n_images * 7 * H * W`` bytes (0.3 GB by default); the full fit
holds one float64 design matrix of ``6 * 8`` bytes per pixel (2.0 GB for 20 x 2 Mpx) plus
scikit-learn's working arrays; the peak RSS is printed.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference.core.segmentation_ensemble import BONE_NAMES, BONES, DEFAULT_MODEL_ORDER  # noqa: E402
from training.core.report import per_image_table, table_ii  # noqa: E402
from training.core.stacking import (  # noqa: E402
    evaluate_held_out,
    fit_nested_stackers_from_counts,
    fit_stacker,
    fold_pattern_counts,
)

#: Per member: (width bias, boundary jitter, blob rate); widths in units of 6 % of the image width.
MEMBER_QUALITY = (
    (0.05, 0.15, 0.010),   # PSPNet-like
    (0.15, 0.40, 0.030),   # UNet-like (poor)
    (-0.02, 0.08, 0.005),  # KNet-like (best)
    (-0.15, 0.35, 0.030),  # FastSCNN-like (poor, under-segments)
    (0.03, 0.12, 0.010),   # DeepLabV3plus-like
    (0.20, 0.30, 0.020),   # Segformer-like (over-segments)
)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    h, w = shape
    low = rng.standard_normal((h // cell + 2, w // cell + 2))
    field = ndimage.zoom(low, cell, order=1, prefilter=False)[:h, :w]
    return (field / field.std()).astype(np.float32)


def simulate_image(
    rng: np.random.Generator, height: int, width: int, quality=MEMBER_QUALITY
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``truth (H, W)`` and member label maps ``(K, H, W)``, both uint8 in {0, 1, 2}."""
    yy = (np.arange(height, dtype=np.float32) + 0.5)[:, None]
    xx = (np.arange(width, dtype=np.float32) + 0.5)[None, :]
    legs = [
        (c * width + rng.normal(0, 0.02 * width), rng.normal(0, 0.03), 0.06 * width * (1 + rng.normal(0, 0.1)))
        for c in (0.3, 0.7)
    ]
    f0, f1, t0, t1 = 0.05 * height, 0.48 * height, 0.51 * height, 0.95 * height

    def bone(cx, tilt, hw, y0, y1, dw=0.0, dx=0.0):
        centre = cx + tilt * (yy - 0.5 * height) + dx
        ends = np.exp(-(((yy - y0) / (0.05 * height)) ** 2)) + np.exp(-(((yy - y1) / (0.05 * height)) ** 2))
        return (np.abs(xx - centre) < hw * (1 + 0.5 * ends) + dw) & (yy > y0) & (yy < y1)

    truth = np.zeros((height, width), np.uint8)
    for cx, tilt, hw in legs:
        truth[bone(cx, tilt, hw, f0, f1)] = 1
        truth[bone(cx, tilt, hw, t0, t1)] = 2
    near = ndimage.binary_dilation(truth > 0, iterations=max(width // 64, 1))
    upper = yy < 0.5 * height
    scale = 0.06 * width
    maps = np.zeros((len(quality), height, width), np.uint8)
    for k, (bias, jitter, blob) in enumerate(quality):
        row_noise = _smooth_field(rng, (height, 9), max(height // 16, 1))[:, :1]
        dw = bias * scale + jitter * scale * row_noise
        m = maps[k]
        for cx, tilt, hw in legs:
            dx = rng.normal(0, 0.5 * jitter * scale)
            m[bone(cx, tilt, hw, f0 + rng.normal(0, 0.02 * jitter * height),
                   f1 + rng.normal(0, 0.01 * jitter * height), dw, dx)] = 1
            m[bone(cx, tilt, hw, t0 + rng.normal(0, 0.01 * jitter * height),
                   t1 + rng.normal(0, 0.02 * jitter * height), dw, dx)] = 2
        cell = max(min(height, width) // 32, 2)
        holes = _smooth_field(rng, (height, width), cell)
        threshold = np.quantile(holes[:: 8, :: 8], 1 - blob)
        m[(holes > threshold) & (m > 0)] = 0
        spurious = (_smooth_field(rng, (height, width), cell) > threshold) & (m == 0) & near
        m[spurious & upper] = 1
        m[spurious & ~upper] = 2
    return truth, maps


def _design(maps: list[np.ndarray], truths: list[np.ndarray], label: int) -> tuple[np.ndarray, np.ndarray]:
    n_pixels = sum(t.size for t in truths)
    n_members = maps[0].shape[0]
    X = np.empty((n_pixels, n_members), dtype=np.float64)
    y = np.empty(n_pixels, dtype=np.int8)
    start = 0
    for m, t in zip(maps, truths):
        stop = start + t.size
        X[start:stop] = (m.reshape(n_members, -1) == label).T
        y[start:stop] = (t.ravel() == label)
        start = stop
    return X, y


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-images", type=int, default=20)
    parser.add_argument("--height", type=int, default=2048)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--bones", nargs="+", default=["femur", "tibia"], choices=["femur", "tibia"])
    parser.add_argument("--full-fit-images", type=int, default=None,
                        help="fit the full-pixel model on the first N images only (default: all)")
    parser.add_argument("--pattern-repeats", type=int, default=20)
    parser.add_argument("--pattern-threads", type=int, default=1,
                        help="BLAS threads for the 128-row pattern fit (threads only add overhead there)")
    args = parser.parse_args(argv)

    C, max_iter, tol = 1.0, 1000, 1e-6
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    data = [simulate_image(rng, args.height, args.width) for _ in range(args.n_images)]
    truths = [d[0] for d in data]
    maps = [d[1] for d in data]
    n_pixels = sum(t.size for t in truths)
    print(f"simulated {args.n_images} images of {args.height}x{args.width} (H x W), "
          f"{len(MEMBER_QUALITY)} members, {n_pixels:,} pixels in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    counts = fold_pattern_counts(maps, truths)  # (n_images, 2, 64, 2)
    t_count = time.perf_counter() - t0
    print(f"pattern counting, all images, both bones: {t_count:.3f} s")

    n_full = args.full_fit_images or args.n_images
    for bone_name in args.bones:
        b = [BONE_NAMES[label] for label in BONES].index(bone_name)
        label = BONES[b]
        total = counts[:n_full, b].sum(axis=0)
        times = []
        with threadpool_limits(limits=args.pattern_threads):
            for _ in range(args.pattern_repeats):
                t0 = time.perf_counter()
                stacker = fit_stacker(total, bone=label, C=C, max_iter=max_iter, tol=tol)
                times.append(time.perf_counter() - t0)
        t_pattern = float(np.median(times))

        t0 = time.perf_counter()
        X, y = _design(maps[:n_full], truths[:n_full], label)
        t_design = time.perf_counter() - t0
        t0 = time.perf_counter()
        full = LogisticRegression(C=C, solver="lbfgs", fit_intercept=True, max_iter=max_iter, tol=tol)
        full.fit(X, y)
        t_full = time.perf_counter() - t0
        del X, y
        d_coef = float(np.max(np.abs(np.asarray(stacker.coefficients) - full.coef_[0])))
        d_int = abs(stacker.intercept - float(full.intercept_[0]))
        print(f"\n[{bone_name}] full-pixel fit on {n_full} images ({n_full * args.height * args.width:,} px)")
        print(f"  pattern fit: median {t_pattern * 1e3:.1f} ms (min {min(times) * 1e3:.1f} ms) over "
              f"{args.pattern_repeats} runs, {stacker.n_iter} iterations")
        print(f"  full-pixel fit: {t_full:.1f} s, {int(full.n_iter_[0])} iterations "
              f"(+ {t_design:.1f} s to build the float64 design matrix)")
        print(f"  max |dcoef| = {d_coef:.3e}   |dintercept| = {d_int:.3e}")
        print(f"  speed-up, fit only (vs median pattern fit): {t_full / t_pattern:,.0f}x")
        share = n_full / args.n_images
        print(f"  speed-up, end to end (counting share {share:.2f} of {t_count:.2f} s + fit "
              f"vs design + fit): {(t_design + t_full) / (share * t_count + t_pattern):,.0f}x")
        print(f"  coefficients (pattern): {np.round(stacker.coefficients, 4).tolist()} "
              f"intercept {stacker.intercept:.4f}")
        print(f"  peak RSS so far: {_peak_rss_gb():.2f} GB")

    nested = fit_nested_stackers_from_counts([counts], model_order=DEFAULT_MODEL_ORDER,
                                             n_parts=4, seed=42, reference_mode=True)
    evaluation = evaluate_held_out(nested)
    print(f"\nnested scheme, one fold of {args.n_images} images, parts "
          f"{np.bincount(nested.parts[0], minlength=4).tolist()} ([C] draws, seed 42); held-out "
          f"(fold, part) cells: {len(evaluation.fold_parts)}")
    print(table_ii(evaluation.records("front")))
    print("\nper-image held-out IOUs:")
    print(per_image_table(evaluation.records("front", per_image=True)))
    for bone_name in ("femur", "tibia"):
        means = {m: float(np.mean(evaluation.pooled[(m, bone_name)])) for m in evaluation.methods}
        members = {m: v for m, v in means.items() if m in DEFAULT_MODEL_ORDER}
        best = max(members, key=members.get)
        print(f"{bone_name}: stacking {means['stacking']:.4f}  majority (>3) {means['majority (>3)']:.4f}  "
              f"best member {best} {members[best]:.4f}")
    print(f"peak RSS: {_peak_rss_gb():.2f} GB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
