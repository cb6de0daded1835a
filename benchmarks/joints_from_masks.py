"""Benchmark: accuracy of :mod:`inference.core.joints_from_masks` on phantoms, plausibility on OAI.

* Phantoms (:func:`inference.core.phantom.generate_phantom`, exact construction truth): ``--n1``
  single-leg and ``--n2`` bilateral phantoms (seeds ``--seed`` + i); prints the median, 95th
  percentile and maximum error (px) per joint, the number of flagged legs and the leg count /
  medial-side agreement.
* OAI long-leg crops (if present): hip-circle radius, RMS residual, arc and inlier statistics, plateau
  and plafond residuals, inferred medial side and flags; ``--overlays DIR`` writes zoomed PNG
  overlays of the hip, knee and ankle of the first ``--n-overlays`` images (local inspection only:
  never commit patient images).

Usage::

    python benchmarks/joints_from_masks.py --n1 30 --n2 20
    python benchmarks/joints_from_masks.py --n1 0 --n2 0 --overlays var/kp/overlays
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inference.core.joints_from_masks import derive_joints_detailed  # noqa: E402
from inference.core.legs import JOINT_NAMES  # noqa: E402
from tests.conftest import shared_data_dir  # noqa: E402


def _phantoms(n: int, legs: int, seed: int) -> tuple[np.ndarray, int, int]:
    from inference.core.phantom import generate_phantom

    errs, flagged, wrong = [], 0, 0
    for i in range(n):
        ph = generate_phantom(seed=seed + i, legs=legs)
        truth = np.array([[leg["joints"][k] for k in JOINT_NAMES] for leg in ph.truth["legs"]])
        d = derive_joints_detailed(ph.label_map)
        if d.n_legs != legs:
            wrong += 1
            continue
        for k, leg in enumerate(d.legs):
            medial = (1 if ph.params.legs[k].anatomical_side == "right" else -1) if legs == 1 else (1 if k == 0 else -1)
            wrong += int(leg.medial_sign != medial)
            flagged += int(not leg.valid.all())
        raw = np.stack([leg.raw_joints_xy for leg in d.legs])
        errs.append(np.hypot(*(raw - truth).transpose(2, 0, 1)))
    return (np.concatenate(errs) if errs else np.zeros((0, 3))), flagged, wrong


def _report(name: str, e: np.ndarray) -> None:
    if not len(e):
        return
    fmt = lambda v: "/".join(f"{x:.2f}" for x in v)  # noqa: E731
    print(
        f"{name:18s} legs {len(e):4d}  median {fmt(np.median(e, 0))}  p95 {fmt(np.percentile(e, 95, 0))}"
        f"  max {fmt(e.max(0))}  (hip/knee/ankle px)"
    )


def _oai(data: Path, overlays: Path | None, n_overlays: int) -> None:
    from PIL import Image

    from annotations.core.labelme import parse_document
    from annotations.core.raster import rasterize_bones

    rows, flags = [], []
    stems = sorted(p.stem for p in data.glob("*.json"))
    for j, stem in enumerate(stems):
        doc = parse_document((data / f"{stem}.json").read_text())
        img = np.asarray(Image.open(data / f"{stem}.jpg").convert("L"))
        lm = rasterize_bones(doc, img.shape[0], img.shape[1])
        d = derive_joints_detailed(lm)
        leg = d.legs[0]
        c = leg.hip_circle
        rows.append(
            [
                leg.medial_sign,
                c.radius_px if c else np.nan,
                c.rms_residual_px if c else np.nan,
                c.arc_deg if c else np.nan,
                c.n_inliers if c else 0,
                *leg.residuals_px[1:],
                leg.valid.all(),
            ]
        )
        extra = set(leg.flags) - {"medial_side_inferred"}
        if extra:
            flags.append((stem, sorted(extra)))
        if overlays is not None and j < n_overlays:
            _overlay(img, doc, leg, overlays / f"{stem}.png")
    a = np.asarray(rows, dtype=np.float64)
    print(
        f"OAI: {len(a)} images, medial side +x for {int((a[:, 0] == 1).sum())}, all joints valid for "
        f"{int(a[:, -1].sum())}"
    )
    for i, name in enumerate(
        ["hip radius px", "hip RMS px", "hip arc deg", "hip inliers", "plateau resid px", "plafond resid px"], start=1
    ):
        v = a[:, i]
        print(
            f"  {name:17s} min {np.nanmin(v):7.2f} p5 {np.nanpercentile(v, 5):7.2f} median {np.nanmedian(v):7.2f}"
            f" p95 {np.nanpercentile(v, 95):7.2f} max {np.nanmax(v):7.2f}"
        )
    print(f"  flagged: {flags}")


def _overlay(img: np.ndarray, doc, leg, path: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image, ImageDraw

    path.parent.mkdir(parents=True, exist_ok=True)
    zoom, half = 5, 40
    tiles = []
    for j in range(3):
        cx, cy = leg.raw_joints_xy[j]
        if not np.isfinite([cx, cy]).all():
            continue
        x0, y0 = int(cx) - half, int(cy) - half
        pad = np.zeros((img.shape[0] + 4 * half, img.shape[1] + 4 * half), np.uint8)
        pad[2 * half : -2 * half, 2 * half : -2 * half] = img
        crop = pad[y0 + 2 * half : y0 + 4 * half, x0 + 2 * half : x0 + 4 * half]
        im = Image.fromarray(crop).convert("RGB").resize((2 * half * zoom, 2 * half * zoom), Image.NEAREST)
        dr = ImageDraw.Draw(im)

        def p(q, x0=x0, y0=y0):  # type: ignore[no-untyped-def]
            return ((q[0] - x0) * zoom, (q[1] - y0) * zoom)

        for shape in doc.shapes:
            pts = [p(q) for q in shape.points]
            dr.line(pts + [pts[0]], fill=(255, 255, 0), width=1)
        if j == 0 and leg.hip_circle is not None:
            c, r = leg.hip_circle.centre_xy, leg.hip_circle.radius_px
            dr.ellipse([*p(c - r), *p(c + r)], outline=(0, 255, 255), width=2)
        marks = {1: leg.plateau_corners_xy, 2: leg.plafond_ends_xy}.get(j)
        for q in [] if marks is None else marks:
            dr.ellipse([p(q)[0] - 5, p(q)[1] - 5, p(q)[0] + 5, p(q)[1] + 5], outline=(255, 0, 255), width=2)
        q = p(leg.raw_joints_xy[j])
        dr.ellipse([q[0] - 6, q[1] - 6, q[0] + 6, q[1] + 6], outline=(0, 0, 255), width=3)
        tiles.append(np.asarray(im))
    if tiles:
        Image.fromarray(np.hstack(tiles)).save(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n1", type=int, default=30)
    ap.add_argument("--n2", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--oai", type=Path, default=shared_data_dir() / "oai-longleg-seg")
    ap.add_argument("--overlays", type=Path, default=None)
    ap.add_argument("--n-overlays", type=int, default=8)
    args = ap.parse_args()
    t0 = time.perf_counter()
    all_e = []
    for legs, n in ((1, args.n1), (2, args.n2)):
        if n:
            e, flagged, wrong = _phantoms(n, legs, args.seed)
            _report(f"{legs}-leg phantoms", e)
            print(f"{'':18s} {n} images, {flagged} legs flagged, {wrong} wrong leg count / medial side")
            all_e.append(e)
    if all_e:
        _report("all phantom legs", np.concatenate(all_e))
    if args.oai.is_dir():
        _oai(args.oai, args.overlays, args.n_overlays)
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
