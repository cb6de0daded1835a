"""Benchmark: LiteMedSAM outlines against the manual femur and tibia polygons of oai-longleg-seg.

Each image is embedded once; each bone is then decoded with three prompts made from its truth polygon:

(a) ``box``: the polygon's bounding box with a 5 % margin on every side;
(b) ``3 clicks``: three positive clicks inside the bone along its axis, at 25, 50 and 75 % of its
    height (the middle of the bone's widest run of pixels on that row);
(c) ``box + 2 clicks``: the box of (a) and clicks at 1/3 and 2/3 of the height.

IoU is computed between the rasterised truth polygon and the decoded mask (pixel-centre rule of
:mod:`annotations.core.raster`). Prints per-bone mean and median IoU per prompt over the images.
The data are never copied; the benchmark says "skipped" and exits 0 when the folder is absent.

Usage::

    python benchmarks/sam_accuracy.py [--n 242] [--tile-fraction 0.55|none] [--threads 2] [--data DIR]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported anywhere

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from numpy.typing import NDArray  # noqa: E402
from PIL import Image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from annotations.core.labelme import parse_document  # noqa: E402
from annotations.core.raster import rasterize_polygon  # noqa: E402
from benchmarks.sam_latency import hardware_line  # noqa: E402
from inference.sam.litemedsam import LITEMEDSAM_TILE_FRACTION, LiteMedSam  # noqa: E402
from tests.conftest import shared_data_dir  # noqa: E402

BONES = ("femur", "tibia")
PROMPTS = ("box", "3 clicks", "box + 2 clicks")


def truth_box(mask: NDArray[np.bool_], margin: float = 0.05) -> NDArray[np.float64]:
    """Bounding box ``x0, y0, x1, y1`` of the mask's pixels (pixel edges) widened by ``margin`` per side."""
    rows, cols = np.nonzero(mask)
    low = np.array([cols.min(), rows.min()], dtype=np.float64)
    high = np.array([cols.max() + 1, rows.max() + 1], dtype=np.float64)
    pad = margin * (high - low)
    return np.concatenate([low - pad, high + pad])


def axis_clicks(mask: NDArray[np.bool_], fractions: tuple[float, ...]) -> NDArray[np.float64]:
    """``(x, y)`` clicks at the given fractions of the mask's height, centred on that row's widest run."""
    rows = np.flatnonzero(mask.any(axis=1))
    clicks = []
    for fraction in fractions:
        row = int(rows[0] + fraction * (rows[-1] - rows[0]))
        line = np.concatenate([[0], mask[row].astype(np.int8), [0]])
        starts, ends = np.flatnonzero(np.diff(line) == 1), np.flatnonzero(np.diff(line) == -1)
        widest = int(np.argmax(ends - starts))
        clicks.append([(starts[widest] + ends[widest]) / 2.0, row + 0.5])
    return np.asarray(clicks)


def iou(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=shared_data_dir() / "oai-longleg-seg")
    parser.add_argument("--n", type=int, default=None, help="first N images (sorted by name); default all")
    parser.add_argument("--tile-fraction", default=str(LITEMEDSAM_TILE_FRACTION),
                        help="tile length / long side, or 'none' for the whole image only")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} not found (set ENLLASD_SHARED_DATA)")
        return
    torch.set_num_threads(args.threads)
    tile_fraction = None if args.tile_fraction == "none" else float(args.tile_fraction)
    documents = sorted(args.data.glob("*.json"))[: args.n]
    print(hardware_line())
    print(f"data: {args.data} ({len(documents)} images); LiteMedSAM tile_fraction={tile_fraction}")

    with tempfile.TemporaryDirectory() as root:
        segmenter = LiteMedSam.load(root=Path(root), tile_fraction=tile_fraction)
    scores: dict[tuple[str, str], list[float]] = {(bone, prompt): [] for bone in BONES for prompt in PROMPTS}
    started = time.perf_counter()
    for index, path in enumerate(documents, start=1):
        document = parse_document(path.read_bytes())
        pixels = np.asarray(Image.open(path.with_suffix(".jpg")).convert("L"))
        embedding = segmenter.embed(pixels)
        for bone in BONES:
            (shape,) = document.shapes_with_label(bone)
            truth = rasterize_polygon(shape.points, *pixels.shape)
            box = truth_box(truth)
            three, two = axis_clicks(truth, (0.25, 0.5, 0.75)), axis_clicks(truth, (1 / 3, 2 / 3))
            prompts = {
                "box": {"box_xyxy": box},
                "3 clicks": {"points_xy": three, "point_labels": np.ones(3, dtype=np.int64)},
                "box + 2 clicks": {"box_xyxy": box, "points_xy": two, "point_labels": np.ones(2, dtype=np.int64)},
            }
            for name, prompt in prompts.items():
                scores[(bone, name)].append(iou(segmenter.decode(embedding, **prompt).mask, truth))
        if index % 20 == 0:
            print(f"  {index}/{len(documents)} images, {time.perf_counter() - started:.0f} s", file=sys.stderr)

    print(f"{len(documents)} images in {time.perf_counter() - started:.0f} s")
    print(f"{'bone':6} {'prompt':15} {'mean IoU':>9} {'median':>7} {'p10':>6} {'p90':>6}")
    for (bone, prompt), values in scores.items():
        v = np.asarray(values)
        print(f"{bone:6} {prompt:15} {v.mean():9.3f} {np.median(v):7.3f} {np.percentile(v, 10):6.3f} "
              f"{np.percentile(v, 90):6.3f}")


if __name__ == "__main__":
    main()
